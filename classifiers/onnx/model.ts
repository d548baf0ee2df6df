/**
 * One loaded ONNX model checked against its manifest. Loading refuses a model whose real inputs/outputs
 * contradict the manifest — first from the declared names and shapes, then by running a dummy batch —
 * because a mismatch otherwise surfaces later as a cryptic ORT error in the hot path or, worse, as
 * plausible but wrong scores (e.g. a layout or label-count mistake that still produces numbers).
 */
import * as ort from 'onnxruntime-node';
import type { ResolvedManifest } from './manifest.ts';
import { ModelMismatchError } from './errors.ts';
import { applyActivation } from './scores.ts';

export { ModelMismatchError };

export interface ModelLoadOptions {
  /** ORT intra-op threads (parallelism inside one op). Default 1: scale with workers instead. */
  intraOpThreads?: number;
  interOpThreads?: number;
  /** e.g. ['cuda', 'cpu'] on a machine where onnxruntime-node's CUDA binaries were installed. Default CPU. */
  executionProviders?: string[];
}

export interface RunOutput {
  /** n × labels, after the manifest's activation. */
  scores: Float32Array;
  /** n × embedding.dim, when requested and the manifest declares one. */
  embedding?: Float32Array;
  inferenceMs: number;
}

type Dims = ReadonlyArray<number | string>;

function describe(d: Dims): string {
  return `[${d.join(', ')}]`;
}

/** Expected input dims (batch first, left symbolic) for a manifest. */
function expectedInput(m: ResolvedManifest): Dims {
  const { width: w, height: h, layout } = m.input;
  return layout === 'NCHW' ? ['N', 3, h, w] : ['N', h, w, 3];
}

export class OnnxModel {
  private constructor(
    readonly manifest: ResolvedManifest,
    private readonly session: ort.InferenceSession,
    /** A batch size the model's input fixes (e.g. 1), or null when the batch dim is dynamic. */
    readonly fixedBatch: number | null,
  ) {}

  get sampleLength(): number {
    return 3 * this.manifest.input.width * this.manifest.input.height;
  }

  static async load(manifest: ResolvedManifest, opts: ModelLoadOptions = {}): Promise<OnnxModel> {
    const where = `model ${manifest.modelPath} (manifest ${manifest.manifestPath})`;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(manifest.modelPath, {
        intraOpNumThreads: opts.intraOpThreads ?? 1,
        interOpNumThreads: opts.interOpThreads ?? 1,
        executionMode: 'sequential',
        executionProviders: opts.executionProviders ?? ['cpu'],
        graphOptimizationLevel: 'all',
        // Errors only: failures are rethrown with context by us; ORT's warnings would bypass the app logger.
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw new ModelMismatchError(`cannot load ${where}: ${(e as Error).message}`);
    }
    try {
      const fixedBatch = checkDeclared(manifest, session, where);
      const model = new OnnxModel(manifest, session, fixedBatch);
      await model.selfTest(where);
      return model;
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  /** Dummy inference: proves the manifest's input/output contract holds at runtime, not just on paper. */
  private async selfTest(where: string): Promise<void> {
    const n = this.fixedBatch ?? 2;
    const input = new Float32Array(n * this.sampleLength);
    for (let i = 0; i < input.length; i++) input[i] = ((i * 7919) % 255) / 255;
    let out: RunOutput;
    try {
      out = await this.run(input, n, this.manifest.embedding !== undefined);
    } catch (e) {
      throw new ModelMismatchError(
        `${where}: dummy inference with input ${describe(expectedInput(this.manifest).map((d) => (d === 'N' ? n : d)))} failed: ${(e as Error).message}`,
      );
    }
    if (out.scores.some((v) => !Number.isFinite(v))) throw new ModelMismatchError(`${where}: dummy inference produced non-finite scores`);
  }

  /**
   * Runs `n` samples laid out back to back in `input` (n × sampleLength floats). Splits the batch when the
   * model fixes a smaller batch size.
   */
  async run(input: Float32Array, n: number, withEmbedding = false): Promise<RunOutput> {
    const m = this.manifest;
    const k = m.output.labels.length;
    const len = this.sampleLength;
    const step = this.fixedBatch ?? n;
    const scores = new Float32Array(n * k);
    const emb = withEmbedding && m.embedding ? new Float32Array(n * m.embedding.dim) : undefined;
    const fetches = emb && m.embedding ? [m.output.name, m.embedding.name] : [m.output.name];
    const dims = (b: number) => (m.input.layout === 'NCHW' ? [b, 3, m.input.height, m.input.width] : [b, m.input.height, m.input.width, 3]);
    const t0 = performance.now();
    for (let start = 0; start < n; start += step) {
      const b = Math.min(step, n - start);
      // A model with a fixed batch size gets its last partial batch zero-padded; the padding rows are dropped.
      const runB = this.fixedBatch ?? b;
      let data = input.subarray(start * len, (start + b) * len);
      if (runB !== b) {
        const padded = new Float32Array(runB * len);
        padded.set(data);
        data = padded;
      }
      const tensor = new ort.Tensor('float32', data, dims(runB));
      const res = await this.session.run({ [m.input.name]: tensor }, fetches);
      scores.set(checkOutput(res[m.output.name], m.output.name, [runB, k]).subarray(0, b * k), start * k);
      if (emb && m.embedding)
        emb.set(checkOutput(res[m.embedding.name], m.embedding.name, [runB, m.embedding.dim]).subarray(0, b * m.embedding.dim), start * m.embedding.dim);
    }
    const inferenceMs = performance.now() - t0;
    applyActivation(scores, n, k, m.output.activation);
    return emb ? { scores, embedding: emb, inferenceMs } : { scores, inferenceMs };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function checkOutput(t: ort.OnnxValue | undefined, name: string, want: [number, number]): Float32Array {
  if (!t || !(t instanceof ort.Tensor)) throw new ModelMismatchError(`output ${name} missing`);
  if (t.type !== 'float32') throw new ModelMismatchError(`output ${name} is ${t.type}, expected float32`);
  const d = t.dims;
  // Accept [n, k] and the equivalent [n, k, 1, 1] some exporters produce; refuse anything else.
  const flatK = d.slice(1).reduce((a, b) => a * b, 1);
  if (d[0] !== want[0] || flatK !== want[1] || d.slice(2).some((x) => x !== 1)) {
    throw new ModelMismatchError(`output ${name} has shape ${describe(d)}, manifest implies [${want[0]}, ${want[1]}]`);
  }
  return t.data as Float32Array;
}

/** Static check of names and declared shapes. Returns the fixed batch size, if the model declares one. */
function checkDeclared(m: ResolvedManifest, s: ort.InferenceSession, where: string): number | null {
  const problems: string[] = [];
  if (!s.inputNames.includes(m.input.name)) {
    problems.push(`manifest input.name is ${JSON.stringify(m.input.name)} but the model's inputs are ${JSON.stringify(s.inputNames)}`);
  } else if (s.inputNames.length !== 1) {
    problems.push(`the model has ${s.inputNames.length} inputs ${JSON.stringify(s.inputNames)}; only single-input image models are supported`);
  }
  for (const [key, name] of [
    ['output.name', m.output.name],
    ['embedding.name', m.embedding?.name],
  ] as const) {
    if (name !== undefined && !s.outputNames.includes(name)) {
      problems.push(`manifest ${key} is ${JSON.stringify(name)} but the model's outputs are ${JSON.stringify(s.outputNames)}`);
    }
  }
  let fixedBatch: number | null = null;
  const inMeta = s.inputMetadata.find((x) => x.name === m.input.name);
  if (inMeta?.isTensor) {
    if (inMeta.type !== 'float32') problems.push(`input ${m.input.name} is ${inMeta.type}, expected float32`);
    const want = expectedInput(m);
    const got = inMeta.shape;
    if (got.length > 0) {
      if (got.length !== 4)
        problems.push(`input ${m.input.name} has rank ${got.length} ${describe(got)}; manifest implies ${m.input.layout} ${describe(want)}`);
      else {
        for (let i = 1; i < 4; i++) {
          const g = got[i];
          if (typeof g === 'number' && g > 0 && g !== want[i]) {
            problems.push(
              `input ${m.input.name} has shape ${describe(got)}; manifest (${m.input.layout}, ${m.input.width}x${m.input.height}) implies ${describe(want)}`,
            );
            break;
          }
        }
        const b = got[0];
        if (typeof b === 'number' && b > 0) fixedBatch = b;
      }
    }
  }
  const checkOut = (name: string | undefined, width: number, key: string) => {
    const meta = name === undefined ? undefined : s.outputMetadata.find((x) => x.name === name);
    if (!meta?.isTensor || meta.shape.length === 0) return;
    const d = meta.shape;
    const tail = d.slice(1).filter((x) => x !== 1);
    const known = tail.every((x) => typeof x === 'number');
    const flat = tail.reduce<number>((a, x) => a * (typeof x === 'number' ? x : 1), 1);
    if (known && flat !== width) problems.push(`output ${name} has shape ${describe(d)}; manifest ${key} implies [N, ${width}]`);
  };
  checkOut(m.output.name, m.output.labels.length, `output.labels (${m.output.labels.length} labels)`);
  if (m.embedding) checkOut(m.embedding.name, m.embedding.dim, 'embedding.dim');
  if (problems.length) throw new ModelMismatchError(`${where} does not match its manifest:\n  ${problems.join('\n  ')}`);
  return fixedBatch;
}
