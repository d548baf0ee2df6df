/**
 * The copy descriptor's normalisation: a backbone embedding (the nsfw MobileNetV2's pooled 1280-d features)
 * L2-normalised, centred on the mean of benign frames, projected on their top principal components scaled
 * by 1/sqrt(eigenvalue + shrinkage) (PCA whitening), and L2-normalised again, so cosine similarity between
 * two descriptors stops being dominated by the few directions every natural image shares (raw pooled
 * features of unrelated photos sit at cosine ~0.6–0.8; see BENCHMARKS.md, "Copy descriptor").
 *
 * The matrix is fit offline (scripts/copy/fit-whitening.ts) and shipped as a small versioned JSON file,
 * validated at load: format, dimensions, finite values, a checksum over the numbers, and the model version
 * it was fit for (a whitening fit on another backbone's features would give plausible but meaningless scores).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const WHITENING_FORMAT = 'modgate-copy-whitening/1';

const WhiteningFileSchema = z.strictObject({
  format: z.literal(WHITENING_FORMAT),
  /** Goes into every descriptor's text form and every copy_match signal's version. */
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a whitening id is 1–64 characters of a-z, 0-9, _ . -'),
  /** The model manifest version whose embedding this was fit on. */
  model: z.string().min(1).max(120),
  inputDim: z.number().int().min(1).max(8192),
  outputDim: z.number().int().min(1).max(1024),
  /** Float32 little-endian, base64: the mean (inputDim). */
  mean: z.string().min(1),
  /** Float32 little-endian, base64: outputDim rows of inputDim (already scaled by 1/sqrt(eigenvalue + shrinkage)). */
  projection: z.string().min(1),
  /** sha256 (hex) of the mean's bytes followed by the projection's. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** How it was fit (provenance for the model card; not read by the runtime). */
  fit: z.record(z.string(), z.unknown()),
});
export type WhiteningFile = z.infer<typeof WhiteningFileSchema>;

export class WhiteningError extends Error {
  readonly code = 'copy_whitening_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'WhiteningError';
  }
}

function floats(b64: string, n: number, what: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length !== n * 4) throw new WhiteningError(`${what}: ${buf.length} bytes, expected ${n * 4} (${n} float32)`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
  if (out.some((v) => !Number.isFinite(v))) throw new WhiteningError(`${what}: non-finite values`);
  return out;
}

export function floatsToBase64(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString('base64');
}

export function checksum(mean: Float32Array, projection: Float32Array): string {
  const h = createHash('sha256');
  h.update(Buffer.from(floatsToBase64(mean), 'base64'));
  h.update(Buffer.from(floatsToBase64(projection), 'base64'));
  return h.digest('hex');
}

/** In place; a zero vector stays zero. */
export function l2normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (s > 0) {
    const k = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i]! *= k;
  }
  return v;
}

export class Whitening {
  private constructor(
    readonly id: string,
    readonly model: string,
    readonly inputDim: number,
    readonly outputDim: number,
    private readonly mean: Float32Array,
    private readonly projection: Float32Array,
  ) {}

  static parse(json: unknown, source: string): Whitening {
    const r = WhiteningFileSchema.safeParse(json);
    if (!r.success) {
      const issues = r.error.issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('\n');
      throw new WhiteningError(`invalid copy whitening ${source}:\n${issues}`);
    }
    const f = r.data;
    const mean = floats(f.mean, f.inputDim, `${source}: mean`);
    const projection = floats(f.projection, f.inputDim * f.outputDim, `${source}: projection`);
    if (checksum(mean, projection) !== f.sha256) throw new WhiteningError(`${source}: sha256 does not match its numbers (a damaged or hand-edited file)`);
    return new Whitening(f.id, f.model, f.inputDim, f.outputDim, mean, projection);
  }

  static async load(file: string): Promise<Whitening> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new WhiteningError(`cannot read copy whitening ${file}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new WhiteningError(`copy whitening ${file} is not valid JSON: ${(e as Error).message}`);
    }
    return Whitening.parse(json, file);
  }

  /** Refuses an embedding from another model than the one the whitening was fit for. */
  checkModel(modelVersion: string, dim: number): void {
    if (modelVersion !== this.model || dim !== this.inputDim) {
      throw new WhiteningError(`copy whitening ${this.id} was fit on ${this.model} (${this.inputDim}-d), not ${modelVersion} (${dim}-d)`);
    }
  }

  /** The descriptor of one raw embedding: normalised, centred, projected, normalised (outputDim floats). */
  apply(embedding: Float32Array): Float32Array {
    if (embedding.length !== this.inputDim) throw new WhiteningError(`embedding has ${embedding.length} values, whitening ${this.id} expects ${this.inputDim}`);
    const n = this.inputDim;
    const x = l2normalise(Float32Array.from(embedding));
    for (let i = 0; i < n; i++) x[i]! -= this.mean[i]!;
    const out = new Float32Array(this.outputDim);
    const p = this.projection;
    for (let r = 0; r < this.outputDim; r++) {
      let s = 0;
      const o = r * n;
      for (let i = 0; i < n; i++) s += p[o + i]! * x[i]!;
      out[r] = s;
    }
    return l2normalise(out);
  }
}

/**
 * A descriptor as bank entries store it: `<whitening id>:<base64 float32>`. The id travels with it, so an
 * index only compares descriptors made with the whitening it loaded (others are counted as stale, not matched).
 */
export function descriptorText(whiteningId: string, d: Float32Array): string {
  return `${whiteningId}:${floatsToBase64(d)}`;
}

export function parseDescriptorText(text: string, whiteningId: string, dim: number): Float32Array | null {
  const colon = text.indexOf(':');
  if (colon <= 0 || text.slice(0, colon) !== whiteningId) return null;
  const buf = Buffer.from(text.slice(colon + 1), 'base64');
  if (buf.length !== dim * 4) return null;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = buf.readFloatLE(i * 4);
  return out.every((v) => Number.isFinite(v)) ? l2normalise(out) : null;
}
