/**
 * A small ONNX graph builder on top of onnx-proto's generated protobuf classes. Used to build the tiny
 * fixture models for tests, by the nsfwjs Keras→ONNX converter and by fit-head (which appends a head to an
 * existing model). It knows nothing about any particular model: it only spares callers the protobuf
 * plumbing (attribute typing, raw little-endian initializers, value-info shapes).
 */
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS; its namespace arrives as a property of the default export.
export const onnx = onnxProto.onnx;
export type ModelProto = InstanceType<typeof onnx.ModelProto>;
export type GraphProtoShape = NonNullable<ModelProto['graph']>;

/** Attribute values the builder can encode; arrays of integers become INTS, arrays of numbers FLOATS. */
export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
};

/** A tensor dimension: a fixed size or a symbolic name (e.g. the batch dimension `N`). */
export type Dim = number | string;

export type ElemType = 'float32' | 'int64';

const ELEM: Record<ElemType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

function encodeAttribute(name: string, a: AttrValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return onnx.AttributeProto.create({ name, type: T.INT, i: a.value });
    case 'float':
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.value });
    case 'ints':
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.value] });
    case 'floats':
      return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...a.value] });
    case 'string':
      return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.value) });
  }
}

/** Raw little-endian bytes of a typed array (ONNX raw_data is always little-endian; so is every host we run on). */
function rawBytes(data: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export function valueInfo(name: string, elem: ElemType, shape: readonly Dim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function tensorProto(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): InstanceType<typeof onnx.TensorProto> {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`initializer ${name}: dims [${dims.join(',')}] hold ${count} values, got ${data.length}`);
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: data instanceof Float32Array ? ELEM.float32 : ELEM.int64,
    rawData: rawBytes(data),
  });
}

export interface BuildOptions {
  opset?: number;
  irVersion?: number;
  producer?: string;
  graphName?: string;
  metadata?: Record<string, string>;
  docString?: string;
}

/**
 * Accumulates nodes, initializers and graph I/O, then serializes. Names are the caller's business, except
 * `fresh()` which hands out unique intermediate names so helpers can chain ops without collisions.
 */
export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /**
   * A builder whose fresh names avoid every tensor already in `model`, for appending nodes to it
   * (see appendTo).
   */
  static extending(model: ModelProto): GraphBuilder {
    const g = new GraphBuilder();
    const graph = model.graph;
    for (const v of [...(graph?.input ?? []), ...(graph?.output ?? []), ...(graph?.initializer ?? [])]) if (v.name) g.used.add(v.name);
    for (const n of graph?.node ?? []) for (const t of [...(n.input ?? []), ...(n.output ?? [])]) g.used.add(t);
    return g;
  }

  /** Appends this builder's nodes, initializers, inputs and outputs to an existing model's graph. */
  appendTo(model: ModelProto): void {
    const graph = (model.graph ??= onnx.GraphProto.create());
    graph.node = [...(graph.node ?? []), ...this.nodes];
    graph.initializer = [...(graph.initializer ?? []), ...this.initializers];
    graph.input = [...(graph.input ?? []), ...this.inputs];
    graph.output = [...(graph.output ?? []), ...this.outputs];
  }

  /** A name not used yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, shape: readonly Dim[], elem: ElemType = 'float32'): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, elem, shape));
    return name;
  }

  output(name: string, shape: readonly Dim[], elem: ElemType = 'float32'): string {
    this.outputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** Adds a float32 initializer and returns its name. */
  init(name: string, dims: readonly number[], data: Float32Array | readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push(tensorProto(n, dims, data instanceof Float32Array ? data : Float32Array.from(data)));
    return n;
  }

  /** Adds an int64 initializer (shapes, pads, axes) and returns its name. */
  initInt64(name: string, dims: readonly number[], data: readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push(tensorProto(n, dims, BigInt64Array.from(data.map((v) => BigInt(v)))));
    return n;
  }

  /**
   * Adds a node. `outputs` may be given explicitly (to name graph outputs); otherwise one fresh output name
   * derived from the op type is created. Returns the output names.
   */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs?: readonly string[], name?: string): string[] {
    const outs = outputs ? [...outputs] : [this.fresh(`${name ?? opType.toLowerCase()}_out`)];
    for (const o of outs) this.used.add(o);
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        name: this.fresh(name ?? opType),
        input: [...inputs],
        output: outs,
        attribute: Object.entries(attrs).map(([k, v]) => encodeAttribute(k, v)),
      }),
    );
    return outs;
  }

  /** Single-output convenience over `node`. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string, name?: string): string {
    const [out] = this.node(opType, inputs, attrs, output === undefined ? undefined : [output], name);
    return out as string;
  }

  build(opts: BuildOptions = {}): ModelProto {
    return onnx.ModelProto.create({
      irVersion: opts.irVersion ?? 7,
      opsetImport: [{ domain: '', version: opts.opset ?? 13 }],
      producerName: opts.producer ?? 'modgate',
      docString: opts.docString ?? '',
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: opts.graphName ?? 'graph',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  serialize(opts: BuildOptions = {}): Uint8Array {
    return serializeModel(this.build(opts));
  }
}

export function serializeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** The model's metadata_props as a plain record. */
export function modelMetadata(model: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) out[p.key] = p.value ?? '';
  return out;
}

/**
 * Removes nodes and initializers that no graph output depends on. Used after replacing a model's outputs
 * (fit-head drops the nsfw dense head) so the saved model carries no dead weights.
 */
export function pruneUnreachable(model: ModelProto): void {
  const graph = model.graph;
  if (!graph) return;
  const nodes = graph.node ?? [];
  const needed = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const keep = new Array<boolean>(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n) continue;
    if ((n.output ?? []).some((o) => needed.has(o))) {
      keep[i] = true;
      for (const inp of n.input ?? []) needed.add(inp);
    }
  }
  graph.node = nodes.filter((_, i) => keep[i]);
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
}
