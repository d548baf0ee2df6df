/**
 * Builds models/nsfw/nsfw-mobilenet-v2.onnx from the nsfwjs MobileNetV2 (224) model that ships inside the
 * installed `nsfwjs` npm package. Offline by design: reads only node_modules, never downloads.
 *
 * Idempotent and cheap to re-run (install-time hook): the output carries the sha256 of its sources (and of
 * this converter's version) in its metadata; when it matches, nothing is rebuilt. Writes atomically
 * (temp file + rename), so concurrent runs — e.g. parallel test files — cannot leave a torn model.
 *
 *   node --import tsx scripts/convert-nsfwjs.ts [--force] [--out PATH]
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { decodeWeights, KerasTopologySchema, kerasToOnnx, WeightSpecSchema } from '../models/keras-to-onnx.ts';
import { decodeModel, modelMetadata, serializeModel } from '../models/onnx-builder.ts';

/** Bump when the conversion itself changes, so existing outputs are rebuilt. */
export const CONVERTER_VERSION = 'keras-to-onnx/1';
export const NSFW_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_NSFW_OUT = path.join(REPO_ROOT, 'models', 'nsfw', 'nsfw-mobilenet-v2.onnx');

const ModelJsSchema = z.object({
  modelTopology: KerasTopologySchema,
  weightsManifest: z.array(z.object({ paths: z.array(z.string()), weights: z.array(WeightSpecSchema) })).length(1),
});

export interface NsfwjsSources {
  version: string;
  modelJsPath: string;
  shardPath: string;
  /** sha256 over both source files and CONVERTER_VERSION. */
  sourceHash: string;
}

/** Locates the model files inside the installed nsfwjs package (its `exports` map hides them from import). */
export async function nsfwjsSources(): Promise<NsfwjsSources> {
  const require = createRequire(import.meta.url);
  // Resolve the package entry, then walk up to the package root.
  let root = path.dirname(require.resolve('nsfwjs', { paths: [REPO_ROOT] }));
  while (path.basename(root) !== 'nsfwjs' && path.dirname(root) !== root) root = path.dirname(root);
  const pkgJson = path.join(root, 'package.json');
  const version = (JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string }).version;
  const dir = path.join(root, 'dist', 'models', 'mobilenet_v2');
  const modelJsPath = path.join(dir, 'model.min.js');
  const shardPath = path.join(dir, 'group1-shard1of1.min.js');
  const h = createHash('sha256');
  h.update(CONVERTER_VERSION);
  h.update(await readFile(modelJsPath));
  h.update(await readFile(shardPath));
  return { version, modelJsPath, shardPath, sourceHash: h.digest('hex') };
}

/** Loads the UMD-wrapped topology and base64 weights (CommonJS modules; require() evaluates them). */
function loadNsfwjsModel(src: NsfwjsSources) {
  const require = createRequire(import.meta.url);
  const parsed = ModelJsSchema.safeParse(require(src.modelJsPath));
  if (!parsed.success)
    throw new Error(
      `unexpected nsfwjs model format in ${src.modelJsPath}: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.map(String).join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  const shard: unknown = require(src.shardPath);
  if (typeof shard !== 'string') throw new Error(`${src.shardPath} does not export a base64 string`);
  const manifest = parsed.data.weightsManifest[0] as { weights: z.infer<typeof WeightSpecSchema>[] };
  return { topology: parsed.data.modelTopology, weights: decodeWeights(manifest.weights, Buffer.from(shard, 'base64')) };
}

export interface ConvertResult {
  path: string;
  skipped: boolean;
  sourceHash: string;
  bytes: number;
  ms: number;
}

async function existingHash(out: string): Promise<string | null> {
  try {
    return modelMetadata(decodeModel(await readFile(out))).source_sha256 ?? null;
  } catch {
    return null; // missing or unreadable: rebuild
  }
}

export async function convertNsfwjs(opts: { out?: string; force?: boolean } = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  const out = opts.out ?? DEFAULT_NSFW_OUT;
  const src = await nsfwjsSources();
  if (!opts.force && (await existingHash(out)) === src.sourceHash) {
    return { path: out, skipped: true, sourceHash: src.sourceHash, bytes: 0, ms: performance.now() - t0 };
  }
  const { topology, weights } = loadNsfwjsModel(src);
  const model = kerasToOnnx(topology, weights, {
    inputName: 'input',
    outputs: { probs: 'dense_3', embedding: 'flatten_1' },
    graphName: 'nsfwjs_mobilenet_v2_224',
    docString: 'nsfwjs MobileNetV2 224 NSFW classifier (Infinite Red, MIT), converted from the tfjs Keras model by modgate. Not a violence model.',
    metadata: {
      labels: NSFW_LABELS.join(','),
      source: `npm nsfwjs@${src.version} dist/models/mobilenet_v2`,
      license: 'MIT, Copyright (c) 2019 Infinite Red, Inc.',
      converter: CONVERTER_VERSION,
      source_sha256: src.sourceHash,
      input: 'float32 [N,3,224,224] NCHW RGB, pixel/255',
    },
  });
  const bytes = serializeModel(model);
  await mkdir(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return { path: out, skipped: false, sourceHash: src.sourceHash, bytes: bytes.length, ms: performance.now() - t0 };
}

async function main(argv: string[]): Promise<void> {
  const force = argv.includes('--force');
  const i = argv.indexOf('--out');
  const out = i >= 0 ? argv[i + 1] : undefined;
  const r = await convertNsfwjs({ force, ...(out ? { out: path.resolve(out) } : {}) });
  const rel = path.relative(process.cwd(), r.path) || r.path;
  console.log(
    r.skipped ? `nsfw model up to date: ${rel} (${r.ms.toFixed(0)} ms)` : `nsfw model built: ${rel}, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.ms.toFixed(0)} ms`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`convert-nsfwjs: ${(e as Error).message}`);
    process.exit(1);
  });
}
