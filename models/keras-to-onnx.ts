/**
 * Converts a Keras functional model, as stored by tensorflowjs (topology JSON + weights manifest + weight
 * bytes), into an ONNX graph. Covers the layer set of MobileNet-style image classifiers — enough for the
 * nsfwjs models — and refuses anything else by name rather than guessing.
 *
 * Tensors are kept NCHW inside the ONNX graph (the graph input is NCHW), so channels_last Keras semantics
 * are mapped op by op: kernels are transposed, BatchNormalization runs on axis 1, and Flatten transposes
 * back to NHWC first so the flattened feature order matches Keras exactly.
 */
import { z } from 'zod';
import { attr, GraphBuilder, type ModelProto } from './onnx-builder.ts';

const LayerSchema = z.object({
  name: z.string(),
  class_name: z.string(),
  config: z.record(z.string(), z.unknown()),
  inbound_nodes: z.array(z.array(z.tuple([z.string(), z.number(), z.number()]).rest(z.unknown()))),
});
type Layer = z.infer<typeof LayerSchema>;

const ModelConfigSchema = z.object({
  class_name: z.enum(['Model', 'Functional']),
  config: z.object({
    layers: z.array(LayerSchema),
    input_layers: z.array(z.tuple([z.string(), z.number(), z.number()])),
    output_layers: z.array(z.tuple([z.string(), z.number(), z.number()])),
  }),
});

/** Keras topology JSON: tfjs-converter output wraps it in `model_config`; tfjs's own save() does not. */
export const KerasTopologySchema = z.union([
  z.object({ model_config: ModelConfigSchema }),
  ModelConfigSchema.transform((model_config) => ({ model_config })),
]);
export type KerasTopology = z.infer<typeof KerasTopologySchema>;

export const WeightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.literal('float32'),
  quantization: z.object({ min: z.number(), scale: z.number(), dtype: z.enum(['uint8', 'uint16']) }).optional(),
});
export type WeightSpec = z.infer<typeof WeightSpecSchema>;

export interface Weight {
  shape: number[];
  values: Float32Array;
}

/**
 * Splits the concatenated weight bytes per spec and dequantizes exactly as tfjs does
 * (`q * scale + min`, computed in double precision, stored as float32).
 */
export function decodeWeights(specs: readonly WeightSpec[], data: Uint8Array): Map<string, Weight> {
  const out = new Map<string, Weight>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    const q = s.quantization;
    const bytes = q ? (q.dtype === 'uint8' ? 1 : 2) : 4;
    if (off + n * bytes > data.byteLength) throw new Error(`weight data too short for ${s.name}`);
    for (let i = 0; i < n; i++) {
      if (!q) values[i] = view.getFloat32(off + i * 4, true);
      else values[i] = (q.dtype === 'uint8' ? view.getUint8(off + i) : view.getUint16(off + i * 2, true)) * q.scale + q.min;
    }
    off += n * bytes;
    out.set(s.name, { shape: s.shape, values });
  }
  if (off !== data.byteLength) throw new Error(`weight data has ${data.byteLength - off} unexplained trailing bytes`);
  return out;
}

/** A converted tensor: its ONNX name and its Keras-side shape (without batch). */
type Tensor = { name: string; kind: 'image'; c: number; h: number; w: number } | { name: string; kind: 'vector'; n: number };

export interface ConvertOptions {
  /** ONNX graph input name. */
  inputName: string;
  /** ONNX output name → Keras layer whose output it exposes. */
  outputs: Record<string, string>;
  metadata?: Record<string, string>;
  docString?: string;
  graphName?: string;
}

function num(cfg: Record<string, unknown>, key: string, layer: string): number {
  const v = cfg[key];
  if (typeof v !== 'number') throw new Error(`layer ${layer}: config.${key} must be a number`);
  return v;
}

function pair(cfg: Record<string, unknown>, key: string, layer: string): [number, number] {
  const v = cfg[key];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new Error(`layer ${layer}: config.${key} must be a number or a pair`);
}

/** ZeroPadding2D's padding: int, [h, w] or [[top, bottom], [left, right]]. Returns [top, bottom, left, right]. */
function zeroPadding(cfg: Record<string, unknown>, layer: string): [number, number, number, number] {
  const v = cfg.padding;
  if (typeof v === 'number') return [v, v, v, v];
  if (Array.isArray(v) && v.length === 2) {
    const [a, b] = v as unknown[];
    if (typeof a === 'number' && typeof b === 'number') return [a, a, b, b];
    if (Array.isArray(a) && Array.isArray(b)) return [a[0], a[1], b[0], b[1]].map(Number) as [number, number, number, number];
  }
  throw new Error(`layer ${layer}: unsupported padding ${JSON.stringify(v)}`);
}

/**
 * Output size and [before, after] padding of one spatial axis. TF 'same' pads asymmetrically when the total
 * is odd — the extra row/column goes after (bottom/right) — which ONNX auto_pad=SAME_UPPER also does, but
 * explicit pads keep the graph unambiguous.
 */
function axisPadding(mode: string, size: number, k: number, s: number, d: number, layer: string): { out: number; pads: [number, number] } {
  const kEff = (k - 1) * d + 1;
  if (mode === 'valid') return { out: Math.floor((size - kEff) / s) + 1, pads: [0, 0] };
  if (mode === 'same') {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + kEff - size, 0);
    const before = Math.floor(total / 2);
    return { out, pads: [before, total - before] };
  }
  throw new Error(`layer ${layer}: unsupported padding mode ${mode}`);
}

class Converter {
  readonly g = new GraphBuilder();

  constructor(
    private readonly weights: Map<string, Weight>,
    private readonly inputName: string,
  ) {}

  private weight(layer: string, key: string): Weight {
    const w = this.weights.get(`${layer}/${key}`);
    if (!w) throw new Error(`layer ${layer}: weight ${layer}/${key} missing`);
    return w;
  }

  private image(layer: Layer, t: Tensor): Extract<Tensor, { kind: 'image' }> {
    if (t.kind !== 'image') throw new Error(`layer ${layer.name} (${layer.class_name}) expects a 4-D input`);
    return t;
  }

  private activation(kind: unknown, x: Tensor, layer: string, outName: string): Tensor {
    const name = (op: string, inputs: string[], attrs = {}) => this.g.op(op, inputs, attrs, outName);
    switch (kind) {
      case undefined:
      case 'linear':
        return x.name === outName ? x : { ...x, name: name('Identity', [x.name]) };
      case 'relu':
        return { ...x, name: name('Relu', [x.name]) };
      case 'relu6':
        return { ...x, name: name('Clip', [x.name, this.g.init(`${layer}/clip_min`, [], [0]), this.g.init(`${layer}/clip_max`, [], [6])]) };
      case 'sigmoid':
        return { ...x, name: name('Sigmoid', [x.name]) };
      case 'tanh':
        return { ...x, name: name('Tanh', [x.name]) };
      case 'softmax':
        // Keras softmax is over the last (channel) axis: axis 1 in our NCHW images, -1 for vectors.
        return { ...x, name: name('Softmax', [x.name], { axis: attr.int(x.kind === 'image' ? 1 : -1) }) };
      default:
        throw new Error(`layer ${layer}: unsupported activation ${String(kind)}`);
    }
  }

  layer(l: Layer, inputs: Tensor[]): Tensor {
    const cfg = l.config;
    const one = () => {
      if (inputs.length !== 1) throw new Error(`layer ${l.name} (${l.class_name}) expects 1 input, got ${inputs.length}`);
      return inputs[0] as Tensor;
    };
    if (cfg.data_format !== undefined && cfg.data_format !== 'channels_last') throw new Error(`layer ${l.name}: only channels_last is supported`);
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = cfg.batch_input_shape;
        if (!Array.isArray(shape) || shape.length !== 4) throw new Error(`input layer ${l.name}: expected batch_input_shape [null, H, W, C]`);
        const [, h, w, c] = shape as number[];
        const name = this.g.input(this.inputName, ['N', c as number, h as number, w as number]);
        return { name, kind: 'image', c: c as number, h: h as number, w: w as number };
      }
      case 'ZeroPadding2D': {
        const x = this.image(l, one());
        const [t, b, left, r] = zeroPadding(cfg, l.name);
        const pads = this.g.initInt64(`${l.name}/pads`, [8], [0, 0, t, left, 0, 0, b, r]);
        return { ...x, name: this.g.op('Pad', [x.name, pads], { mode: attr.string('constant') }, l.name), h: x.h + t + b, w: x.w + left + r };
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const x = this.image(l, one());
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const [kh, kw] = pair(cfg, 'kernel_size', l.name);
        const [sh, sw] = pair(cfg, 'strides', l.name);
        const [dh, dw] = pair(cfg, 'dilation_rate', l.name);
        const mode = String(cfg.padding);
        const ph = axisPadding(mode, x.h, kh, sh, dh, l.name);
        const pw = axisPadding(mode, x.w, kw, sw, dw, l.name);
        const k = this.weight(l.name, depthwise ? 'depthwise_kernel' : 'kernel');
        let cout: number;
        let W: Float32Array;
        if (depthwise) {
          // Keras [kh, kw, cin, mult] → ONNX [cin*mult, 1, kh, kw]; output channel = ci*mult + m.
          const mult = num(cfg, 'depth_multiplier', l.name);
          cout = x.c * mult;
          W = new Float32Array(cout * kh * kw);
          for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let ci = 0; ci < x.c; ci++) for (let m = 0; m < mult; m++) {
            W[((ci * mult + m) * kh + i) * kw + j] = k.values[((i * kw + j) * x.c + ci) * mult + m] as number;
          }
        } else {
          // Keras [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw].
          cout = num(cfg, 'filters', l.name);
          W = new Float32Array(cout * x.c * kh * kw);
          for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let ci = 0; ci < x.c; ci++) for (let co = 0; co < cout; co++) {
            W[((co * x.c + ci) * kh + i) * kw + j] = k.values[((i * kw + j) * x.c + ci) * cout + co] as number;
          }
        }
        const inputsOnnx = [x.name, this.g.init(`${l.name}/W`, depthwise ? [cout, 1, kh, kw] : [cout, x.c, kh, kw], W)];
        if (cfg.use_bias === true) inputsOnnx.push(this.g.init(`${l.name}/B`, [cout], this.weight(l.name, 'bias').values));
        const act = cfg.activation;
        const convOut = act === 'linear' || act === undefined ? l.name : `${l.name}/conv`;
        const y = this.g.op(
          'Conv',
          inputsOnnx,
          {
            kernel_shape: attr.ints([kh, kw]),
            strides: attr.ints([sh, sw]),
            dilations: attr.ints([dh, dw]),
            pads: attr.ints([ph.pads[0], pw.pads[0], ph.pads[1], pw.pads[1]]),
            group: attr.int(depthwise ? x.c : 1),
          },
          convOut,
        );
        return this.activation(act, { name: y, kind: 'image', c: cout, h: ph.out, w: pw.out }, l.name, l.name);
      }
      case 'BatchNormalization': {
        const x = this.image(l, one());
        const axis = cfg.axis;
        if (!(axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === 3 || axis[0] === -1)))) {
          throw new Error(`layer ${l.name}: BatchNormalization over axis ${JSON.stringify(axis)} is not supported`);
        }
        const c = x.c;
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : this.weight(l.name, 'gamma').values;
        const beta = cfg.center === false ? new Float32Array(c) : this.weight(l.name, 'beta').values;
        const y = this.g.op(
          'BatchNormalization',
          [
            x.name,
            this.g.init(`${l.name}/gamma`, [c], gamma),
            this.g.init(`${l.name}/beta`, [c], beta),
            this.g.init(`${l.name}/mean`, [c], this.weight(l.name, 'moving_mean').values),
            this.g.init(`${l.name}/var`, [c], this.weight(l.name, 'moving_variance').values),
          ],
          { epsilon: attr.float(num(cfg, 'epsilon', l.name)) },
          l.name,
        );
        return { ...x, name: y };
      }
      case 'ReLU': {
        const x = one();
        if ((cfg.negative_slope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0) throw new Error(`layer ${l.name}: ReLU with negative_slope/threshold is not supported`);
        const max = cfg.max_value;
        if (max === null || max === undefined) return { ...x, name: this.g.op('Relu', [x.name], {}, l.name) };
        const lo = this.g.init(`${l.name}/min`, [], [0]);
        const hi = this.g.init(`${l.name}/max`, [], [num(cfg, 'max_value', l.name)]);
        return { ...x, name: this.g.op('Clip', [x.name, lo, hi], {}, l.name) };
      }
      case 'Activation':
        return this.activation(cfg.activation, one(), l.name, l.name);
      case 'Add': {
        if (inputs.length < 2) throw new Error(`layer ${l.name}: Add needs at least 2 inputs`);
        let acc = (inputs[0] as Tensor).name;
        inputs.slice(1).forEach((t, i) => {
          acc = this.g.op('Add', [acc, t.name], {}, i === inputs.length - 2 ? l.name : undefined);
        });
        return { ...(inputs[0] as Tensor), name: acc };
      }
      case 'AveragePooling2D':
      case 'MaxPooling2D': {
        const x = this.image(l, one());
        const [kh, kw] = pair(cfg, 'pool_size', l.name);
        const [sh, sw] = cfg.strides === null || cfg.strides === undefined ? [kh, kw] : pair(cfg, 'strides', l.name);
        const mode = String(cfg.padding);
        const ph = axisPadding(mode, x.h, kh, sh, 1, l.name);
        const pw = axisPadding(mode, x.w, kw, sw, 1, l.name);
        const attrs = {
          kernel_shape: attr.ints([kh, kw]),
          strides: attr.ints([sh, sw]),
          pads: attr.ints([ph.pads[0], pw.pads[0], ph.pads[1], pw.pads[1]]),
          // Keras averages over real pixels only in 'same' mode.
          ...(l.class_name === 'AveragePooling2D' ? { count_include_pad: attr.int(0) } : {}),
        };
        const op = l.class_name === 'AveragePooling2D' ? 'AveragePool' : 'MaxPool';
        return { ...x, name: this.g.op(op, [x.name], attrs, l.name), h: ph.out, w: pw.out };
      }
      case 'GlobalAveragePooling2D': {
        const x = this.image(l, one());
        const p = this.g.op('GlobalAveragePool', [x.name], {}, `${l.name}/pool`);
        return { name: this.g.op('Flatten', [p], { axis: attr.int(1) }, l.name), kind: 'vector', n: x.c };
      }
      case 'Flatten': {
        const x = one();
        if (x.kind === 'vector') return { ...x, name: this.g.op('Identity', [x.name], {}, l.name) };
        // Keras flattens H, W, C order; with a 1×1 map the order is already the same.
        const src = x.h * x.w === 1 ? x.name : this.g.op('Transpose', [x.name], { perm: attr.ints([0, 2, 3, 1]) }, `${l.name}/nhwc`);
        return { name: this.g.op('Flatten', [src], { axis: attr.int(1) }, l.name), kind: 'vector', n: x.c * x.h * x.w };
      }
      case 'Dense': {
        const x = one();
        if (x.kind !== 'vector') throw new Error(`layer ${l.name}: Dense on a 4-D tensor is not supported`);
        const units = num(cfg, 'units', l.name);
        const k = this.weight(l.name, 'kernel'); // [in, out] is already MatMul's B layout
        let y = this.g.op('MatMul', [x.name, this.g.init(`${l.name}/kernel`, [x.n, units], k.values)], {}, `${l.name}/matmul`);
        if (cfg.use_bias === true) y = this.g.op('Add', [y, this.g.init(`${l.name}/bias`, [units], this.weight(l.name, 'bias').values)], {}, `${l.name}/biased`);
        return this.activation(cfg.activation, { name: y, kind: 'vector', n: units }, l.name, l.name);
      }
      case 'Dropout':
        // Inference-time identity: alias the input instead of emitting a node.
        return one();
      default:
        throw new Error(`layer ${l.name}: Keras layer type ${l.class_name} is not supported by this converter`);
    }
  }
}

/** Builds the ONNX model. Layers are converted in dependency order; shared layers are refused. */
export function kerasToOnnx(topology: KerasTopology, weights: Map<string, Weight>, opts: ConvertOptions): ModelProto {
  const { layers, input_layers } = topology.model_config.config;
  if (input_layers.length !== 1) throw new Error(`expected one input layer, got ${input_layers.length}`);
  const conv = new Converter(weights, opts.inputName);
  const done = new Map<string, Tensor>();
  const pending = [...layers];
  while (pending.length > 0) {
    const idx = pending.findIndex((l) => (l.inbound_nodes[0] ?? []).every((ref) => done.has(ref[0])));
    if (idx < 0) throw new Error(`cannot order layers; stuck at ${pending.map((l) => l.name).join(', ')}`);
    const l = pending.splice(idx, 1)[0] as Layer;
    if (l.inbound_nodes.length > 1) throw new Error(`layer ${l.name} is shared (called ${l.inbound_nodes.length} times); not supported`);
    const inputs = (l.inbound_nodes[0] ?? []).map((ref) => done.get(ref[0]) as Tensor);
    done.set(l.name, conv.layer(l, inputs));
  }
  for (const [onnxName, kerasName] of Object.entries(opts.outputs)) {
    const t = done.get(kerasName);
    if (!t) throw new Error(`output ${onnxName}: no Keras layer ${kerasName}`);
    conv.g.op('Identity', [t.name], {}, onnxName);
    conv.g.output(onnxName, t.kind === 'vector' ? ['N', t.n] : ['N', t.c, t.h, t.w]);
  }
  return conv.g.build({
    opset: 13,
    irVersion: 7,
    producer: 'modgate keras-to-onnx',
    graphName: opts.graphName ?? 'keras_model',
    ...(opts.metadata ? { metadata: opts.metadata } : {}),
    ...(opts.docString ? { docString: opts.docString } : {}),
  });
}
