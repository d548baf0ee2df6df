/**
 * The model manifest (`models/NAME/manifest.json`): everything the runtime must know to feed a model and
 * to turn its raw output into policy signals, kept next to the .onnx file so a model swap is a data change.
 * Validation is strict and every error names the key path (`preprocess.std.1: …`), because a manifest is
 * hand-edited and a silently wrong mean/std gives plausible-looking but wrong scores.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SignalSourceSchema } from '../signal.ts';

const Triple = z.tuple([z.number(), z.number(), z.number()]);
/** Per-channel values; a single number is shorthand for the same value on all three channels. */
const PerChannel = z.union([z.number(), Triple]).transform((v): [number, number, number] => (typeof v === 'number' ? [v, v, v] : v));

export const SignalMappingSchema = z.object({
  /** Signal source the policy selects on, e.g. `nsfw` or `violence`. */
  source: SignalSourceSchema,
  /** Signal label, e.g. `unsafe`. */
  label: z.string().min(1).max(80),
  /** Model labels whose (post-activation) scores are summed into this signal's score, clamped to [0, 1]. */
  sum: z.array(z.string().min(1)).min(1),
});
export type SignalMapping = z.infer<typeof SignalMappingSchema>;

export const ManifestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a lowercase model name such as nsfw or red-detector'),
    /** Goes into every Signal's `version`, so decisions can be traced to the exact model. */
    version: z.string().min(1).max(120),
    /** The .onnx file, relative to the manifest's directory. */
    file: z.string().min(1),
    input: z.object({
      name: z.string().min(1),
      layout: z.enum(['NCHW', 'NHWC']),
      width: z.number().int().min(1).max(4096),
      height: z.number().int().min(1).max(4096),
    }),
    preprocess: z.object({
      /** stretch: ignore aspect; letterbox: fit inside and pad; center-crop: fill and crop the overflow. */
      resize: z.enum(['stretch', 'letterbox', 'center-crop']),
      /**
       * Bilinear sample positions. half-pixel matches OpenCV/PIL/ONNX Resize defaults; align-corners matches
       * tf.image.resizeBilinear(alignCorners=true), which is what nsfwjs uses.
       */
      sampling: z.enum(['half-pixel', 'align-corners']).default('half-pixel'),
      colorOrder: z.enum(['RGB', 'BGR']),
      /** value = (pixel * scale - mean) / std, per channel in the model's colour order. */
      scale: z.number().positive(),
      mean: PerChannel,
      std: PerChannel.refine((s) => s.every((v) => v > 0), 'std must be > 0 on every channel'),
      /** Letterbox padding, in pixel units (0–255) before scale/mean/std. */
      padValue: z.number().min(0).max(255).default(0),
    }),
    output: z.object({
      name: z.string().min(1),
      activation: z.enum(['softmax', 'sigmoid', 'none']),
      labels: z.array(z.string().min(1)).min(1),
    }),
    /** Optional feature output (e.g. the backbone's pooled 1280-d vector), used by fit-head. */
    embedding: z.object({ name: z.string().min(1), dim: z.number().int().min(1) }).optional(),
    signals: z.array(SignalMappingSchema).min(1),
  })
  .superRefine((m, ctx) => {
    if (path.isAbsolute(m.file)) ctx.addIssue({ code: 'custom', path: ['file'], message: 'must be relative to the manifest' });
  });

/** Just enough structure to cross-check signal mappings against labels even when other fields are broken. */
const LabelsAndSignals = z.object({
  output: z.object({ labels: z.array(z.string()) }),
  signals: z.array(z.object({ sum: z.array(z.string()) })),
});

/**
 * Issues zod's object schema cannot report together with field errors (refinements only run once the
 * whole object parsed): duplicate labels and signal sums naming labels the model does not have.
 */
function crossCheck(json: unknown): { path: PropertyKey[]; message: string }[] {
  const r = LabelsAndSignals.safeParse(json);
  if (!r.success) return [];
  const out: { path: PropertyKey[]; message: string }[] = [];
  const labels = new Set(r.data.output.labels);
  if (labels.size !== r.data.output.labels.length) out.push({ path: ['output', 'labels'], message: 'labels must be unique' });
  r.data.signals.forEach((s, i) =>
    s.sum.forEach((l, j) => {
      if (!labels.has(l)) {
        out.push({ path: ['signals', i, 'sum', j], message: `unknown label ${JSON.stringify(l)}; the model's labels are ${r.data.output.labels.join(', ')}` });
      }
    }),
  );
  return out;
}

export type ManifestJson = z.input<typeof ManifestSchema>;
export type Manifest = z.output<typeof ManifestSchema>;

/** A validated manifest plus where it came from, with the model path resolved. */
export interface ResolvedManifest extends Manifest {
  manifestPath: string;
  modelPath: string;
}

export class ManifestError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = 'ManifestError';
  }
}

function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `  ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Validates parsed JSON; `source` (a path or a description) goes into the error message. */
export function parseManifest(json: unknown, source: string, manifestDir: string): ResolvedManifest {
  const r = ManifestSchema.safeParse(json);
  const issues = [...(r.success ? [] : r.error.issues), ...crossCheck(json)];
  if (!r.success || issues.length > 0) throw new ManifestError(`invalid model manifest ${source}:\n${formatIssues(issues)}`, source);
  return { ...r.data, manifestPath: path.join(manifestDir, 'manifest.json'), modelPath: path.resolve(manifestDir, r.data.file) };
}

/** Loads `dir/manifest.json` or a manifest file path. */
export async function loadManifest(manifestPathOrDir: string): Promise<ResolvedManifest> {
  const file = manifestPathOrDir.endsWith('.json') ? manifestPathOrDir : path.join(manifestPathOrDir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ManifestError(`cannot read model manifest ${file}: ${(e as Error).message}`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`model manifest ${file} is not valid JSON: ${(e as Error).message}`, file);
  }
  const m = parseManifest(json, file, path.dirname(file));
  return { ...m, manifestPath: file };
}
