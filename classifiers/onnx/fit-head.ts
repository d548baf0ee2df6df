/**
 * fit-head: trains a linear (logistic) violence head on the nsfw backbone's 1280-d embedding from two
 * folders of labelled images, and writes a standalone model (backbone graph + head) with a manifest the
 * classifier pool loads like any other model.
 *
 * Images: .jpg/.jpeg, .png (non-interlaced) and binary .ppm (P6) — see image-io.ts. Other files are
 * listed in the report as skipped. Folders are read non-recursively, in sorted order.
 *
 * Honesty of the numbers: the held-out split is stratified and seeded and is used for nothing but the
 * report. L2 strength and the suggested threshold come from cross-validation on the training split
 * (out-of-fold scores), so held-out metrics at the suggested threshold are not tuned on held-out images.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../../package/root.ts';
import { decodeModel, GraphBuilder, pruneUnreachable, serializeModel, valueInfo } from '../../models/onnx-builder.ts';
import { isImageFile, readImage } from './image-io.ts';
import { crossValidate, fitLogistic, metricsAt, mulberry32, predict, shuffled, suggestThreshold, type BinaryMetrics } from './logistic.ts';
import { loadManifest, parseManifest, type ManifestJson, type ResolvedManifest } from './manifest.ts';
import { OnnxModel } from './model.ts';
import { Preprocessor, specFromManifest } from './preprocess.ts';

const DEFAULT_BACKBONE = packagePath('models', 'nsfw', 'manifest.json');

export interface FitHeadOptions {
  positiveDir: string;
  negativeDir: string;
  /** models/NAME: receives model.onnx, manifest.json and fit-report.json. */
  outDir: string;
  /** Backbone manifest (must declare `embedding`). Default: models/nsfw/manifest.json. */
  backboneManifest?: string;
  /** Model name in the manifest; default: the outDir's base name. */
  name?: string;
  /** Signal source and label the head feeds. Default violence / violence. */
  source?: string;
  label?: string;
  /** Fraction held out for evaluation, per class. Default 0.25. */
  holdout?: number;
  seed?: number;
  /** L2 strength; default: chosen by 5-fold cross-validation on the training split. */
  l2?: number;
  log?: (line: string) => void;
}

export interface FitHeadReport {
  modelPath: string;
  manifestPath: string;
  version: string;
  counts: { positive: number; negative: number; train: number; heldOut: number };
  skipped: string[];
  /** Held-out metrics at the suggested threshold (chosen by cross-validation on the training split). */
  heldOut: BinaryMetrics;
  /** Held-out metrics at 0.5 (not tuned). */
  heldOutAt05: BinaryMetrics;
  train: BinaryMetrics;
  suggestedThreshold: number;
  l2: number;
  /** Cross-validated log-loss per L2 candidate (one entry when l2 was given). */
  cv: { l2: number; logLoss: number }[];
  iterations: number;
  embeddingMs: number;
}

export interface Sample {
  file: string;
  label: 0 | 1;
}

/** The images of a folder (non-recursive, sorted), labelled; other files go to `skipped`. */
export async function listImages(dir: string, label: 0 | 1, skipped: string[]): Promise<Sample[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const out: Sample[] = [];
  for (const n of names) {
    if (isImageFile(n)) out.push({ file: path.join(dir, n), label });
    else skipped.push(path.join(dir, n));
  }
  return out;
}

/** Embeds images in batches with the backbone (in-process: this is an offline tool, not the live path). */
async function embed(model: OnnxModel, files: readonly string[], dim: number): Promise<Float32Array> {
  const pre = new Preprocessor(specFromManifest(model.manifest));
  const batchSize = 16;
  const out = new Float32Array(files.length * dim);
  const input = new Float32Array(batchSize * pre.sampleLength);
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    for (let i = 0; i < chunk.length; i++) {
      const img = await readImage(chunk[i] as string);
      pre.run(img.rgb, img.width, img.height, input, i);
    }
    const r = await model.run(input.subarray(0, chunk.length * pre.sampleLength), chunk.length, true);
    if (!r.embedding) throw new Error('backbone returned no embedding');
    out.set(r.embedding, start * dim);
  }
  return out;
}

function gather(x: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/**
 * The backbone graph with its classification outputs replaced by `probs` = sigmoid(embedding · w + b),
 * keeping `embedding` as a second output; dead backbone head nodes are pruned.
 */
async function buildHeadModel(backbone: ResolvedManifest, weights: Float64Array, bias: number, metadata: Record<string, string>): Promise<Uint8Array> {
  const emb = backbone.embedding;
  if (!emb) throw new Error('backbone manifest declares no embedding');
  const model = decodeModel(await readFile(backbone.modelPath));
  const graph = model.graph;
  if (!graph) throw new Error(`${backbone.modelPath} has no graph`);
  graph.output = [valueInfo(emb.name, 'float32', ['N', emb.dim])];
  pruneUnreachable(model);
  const g = GraphBuilder.extending(model);
  const w = g.init('head/w', [emb.dim, 1], Float32Array.from(weights));
  const b = g.init('head/b', [1], [bias]);
  const logit = g.op('Add', [g.op('MatMul', [emb.name, w], {}, undefined, 'head_matmul'), b], {}, undefined, 'head_add');
  g.op('Sigmoid', [logit], {}, 'probs', 'head_sigmoid');
  g.appendTo(model);
  graph.output = [valueInfo('probs', 'float32', ['N', 1]), valueInfo(emb.name, 'float32', ['N', emb.dim])];
  model.metadataProps = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  return serializeModel(model);
}

export async function fitHead(opts: FitHeadOptions): Promise<FitHeadReport> {
  const log = opts.log ?? (() => {});
  const backbone = await loadManifest(opts.backboneManifest ?? DEFAULT_BACKBONE);
  const emb = backbone.embedding;
  if (!emb) throw new Error(`backbone manifest ${backbone.manifestPath} declares no embedding output`);
  const name = opts.name ?? path.basename(path.resolve(opts.outDir)).toLowerCase();
  const source = opts.source ?? 'violence';
  const label = opts.label ?? 'violence';
  const holdout = opts.holdout ?? 0.25;
  if (!(holdout > 0 && holdout < 1)) throw new RangeError('holdout must be in (0, 1)');

  const skipped: string[] = [];
  const pos = await listImages(opts.positiveDir, 1, skipped);
  const neg = await listImages(opts.negativeDir, 0, skipped);
  for (const [what, list] of [
    ['positive', pos],
    ['negative', neg],
  ] as const) {
    if (list.length < 2)
      throw new Error(`need at least 2 ${what} images, found ${list.length} in ${what === 'positive' ? opts.positiveDir : opts.negativeDir}`);
  }
  // Stratified, seeded split.
  const rnd = mulberry32(opts.seed ?? 1);
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  const all = [...pos, ...neg];
  for (const cls of [1, 0] as const) {
    const idx = shuffled(
      all
        .map((s, i) => [s, i] as const)
        .filter(([s]) => s.label === cls)
        .map(([, i]) => i),
      rnd,
    );
    const k = Math.min(idx.length - 1, Math.max(1, Math.round(idx.length * holdout)));
    testIdx.push(...idx.slice(0, k));
    trainIdx.push(...idx.slice(k));
  }

  log(`embedding ${all.length} images with ${backbone.name} (${backbone.version})…`);
  const model = await OnnxModel.load(backbone, { intraOpThreads: Math.max(1, Math.min(4, os.availableParallelism())) });
  const t0 = performance.now();
  let x: Float32Array;
  try {
    x = await embed(
      model,
      all.map((s) => s.file),
      emb.dim,
    );
  } finally {
    await model.release();
  }
  const embeddingMs = performance.now() - t0;

  const d = emb.dim;
  const yOf = (rows: number[]) => Uint8Array.from(rows.map((r) => (all[r] as Sample).label));
  const xTrain = gather(x, d, trainIdx);
  const yTrain = yOf(trainIdx);
  const chosen = crossValidate(xTrain, trainIdx.length, d, yTrain, { rnd, ...(opts.l2 !== undefined ? { grid: [opts.l2] } : {}) });
  const lr = fitLogistic(xTrain, trainIdx.length, d, yTrain, { l2: chosen.l2 });
  const trainScores = predict(lr, xTrain, trainIdx.length, d);
  const xTest = gather(x, d, testIdx);
  const yTest = yOf(testIdx);
  const testScores = predict(lr, xTest, testIdx.length, d);
  // Threshold from out-of-fold training scores, so the held-out metrics below stay untuned.
  const threshold = suggestThreshold(chosen.oof, yTrain);

  const fingerprint = createHash('sha256')
    .update(backbone.version)
    .update(new Uint8Array(Float64Array.from([...lr.weights, lr.bias]).buffer))
    .digest('hex')
    .slice(0, 12);
  const version = `${name}@${fingerprint} (head on ${backbone.version})`.slice(0, 120);
  const outDir = path.resolve(opts.outDir);
  await mkdir(outDir, { recursive: true });
  const modelBytes = await buildHeadModel(backbone, lr.weights, lr.bias, {
    labels: label,
    backbone: backbone.version,
    head: `logistic regression on ${emb.name} (${d}-d), l2=${chosen.l2}, ${trainIdx.length} training images`,
    suggested_threshold: threshold.toFixed(4),
  });
  const manifestJson: ManifestJson = {
    name,
    version,
    file: 'model.onnx',
    input: { ...backbone.input },
    preprocess: { ...backbone.preprocess },
    output: { name: 'probs', activation: 'none', labels: [label] },
    embedding: { ...emb },
    signals: [{ source, label, sum: [label] }],
  };
  parseManifest(manifestJson, 'generated head manifest', outDir); // never write a manifest we would refuse
  const modelPath = path.join(outDir, 'model.onnx');
  const manifestPath = path.join(outDir, 'manifest.json');
  await writeFile(`${modelPath}.tmp`, modelBytes);
  await rename(`${modelPath}.tmp`, modelPath);
  await writeFile(manifestPath, `${JSON.stringify(manifestJson, null, 2)}\n`);

  const report: FitHeadReport = {
    modelPath,
    manifestPath,
    version,
    counts: { positive: pos.length, negative: neg.length, train: trainIdx.length, heldOut: testIdx.length },
    skipped,
    heldOut: metricsAt(testScores, yTest, threshold),
    heldOutAt05: metricsAt(testScores, yTest, 0.5),
    train: metricsAt(trainScores, yTrain, 0.5),
    suggestedThreshold: threshold,
    l2: chosen.l2,
    cv: chosen.cv,
    iterations: lr.iterations,
    embeddingMs,
  };
  await writeFile(path.join(outDir, 'fit-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(formatReport(report));
  return report;
}

export function formatReport(r: FitHeadReport): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const m = (x: BinaryMetrics) =>
    `accuracy ${pct(x.accuracy)}, precision ${pct(x.precision)}, recall ${pct(x.recall)} (tp ${x.tp} fp ${x.fp} tn ${x.tn} fn ${x.fn})`;
  return [
    `head written: ${r.modelPath}`,
    `manifest:     ${r.manifestPath} (version ${r.version})`,
    `images:       ${r.counts.positive} positive, ${r.counts.negative} negative; ${r.counts.train} train, ${r.counts.heldOut} held out${r.skipped.length ? `; ${r.skipped.length} skipped (not images)` : ''}`,
    `L2:           ${r.l2} (cross-validated log-loss: ${r.cv.map((c) => `${c.l2}→${c.logLoss.toFixed(3)}`).join(', ')})`,
    `train @0.5:   ${m(r.train)}`,
    `held-out @0.5: ${m(r.heldOutAt05)}`,
    `held-out @${r.suggestedThreshold.toFixed(3)} (suggested threshold, from out-of-fold training scores): ${m(r.heldOut)}`,
  ].join('\n');
}
