/**
 * eval-head: a deployed head's precision and recall on labelled frames it was never fitted on — the
 * operator's held-out *videos* (docs/violence-head.md, step 3). fit-head's own held-out split is by frame,
 * and frames of one video are near-duplicates of each other, so only frames of whole videos kept aside say
 * what the head will do on streams it has not seen. The model runs as the gateway runs it (its manifest's
 * preprocessing, activation and signal mapping), in this process.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { listImages } from './fit-head.ts';
import { readImage } from './image-io.ts';
import { metricsAt, type BinaryMetrics } from './logistic.ts';
import { loadManifest, type ResolvedManifest } from './manifest.ts';
import { OnnxModel } from './model.ts';
import { Preprocessor, specFromManifest } from './preprocess.ts';
import { mapSignals, scoresRecord } from './scores.ts';

/**
 * What a user can get wrong, each with a stable code (the CLI prints `code: message`; scripts match the
 * code, not the words): a threshold outside [0, 1], a manifest that cannot be read or is not a valid one,
 * a signal the head does not have, a folder that cannot be listed, a set without frames of both classes,
 * a model file that does not load, a frame that does not decode.
 */
export type EvalHeadErrorCode =
  'invalid_threshold' | 'manifest_invalid' | 'unknown_signal' | 'folder_unreadable' | 'missing_class' | 'model_unreadable' | 'frame_unreadable';

export class EvalHeadError extends Error {
  override readonly name = 'EvalHeadError';
  constructor(
    readonly code: EvalHeadErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Runs `fn`, turning what it throws into an EvalHeadError with `code`. */
async function as<T>(code: EvalHeadErrorCode, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new EvalHeadError(code, (e as Error).message);
  }
}

export interface EvalHeadOptions {
  /** The head's manifest (or its folder). */
  manifest: string;
  positiveDir: string;
  negativeDir: string;
  /** Default: the suggested threshold of the head's fit-report.json beside the manifest, else 0.5. */
  threshold?: number;
  /** `source/label` of the signal to score; default the manifest's first. */
  signal?: string;
}

export interface EvalHeadReport {
  version: string;
  signal: string;
  threshold: number;
  thresholdFrom: 'option' | 'fit-report' | 'default';
  counts: { positive: number; negative: number };
  skipped: string[];
  atThreshold: BinaryMetrics;
  at05: BinaryMetrics;
  /** The frames it got wrong at the threshold (first 20 of each), for the model card's failure modes. */
  falsePositives: string[];
  falseNegatives: string[];
}

async function fitThreshold(manifestPath: string): Promise<number | null> {
  try {
    const r = JSON.parse(await readFile(path.join(path.dirname(manifestPath), 'fit-report.json'), 'utf8')) as { suggestedThreshold?: unknown };
    return typeof r.suggestedThreshold === 'number' && r.suggestedThreshold > 0 && r.suggestedThreshold < 1 ? r.suggestedThreshold : null;
  } catch {
    return null;
  }
}

export async function evalHead(opts: EvalHeadOptions): Promise<EvalHeadReport> {
  if (opts.threshold !== undefined && !(opts.threshold >= 0 && opts.threshold <= 1))
    throw new EvalHeadError('invalid_threshold', `threshold must be in [0, 1], got ${opts.threshold}`);
  const manifest: ResolvedManifest = await as('manifest_invalid', () => loadManifest(opts.manifest));
  const mapping = opts.signal ? manifest.signals.find((m) => `${m.source}/${m.label}` === opts.signal) : manifest.signals[0];
  if (!mapping)
    throw new EvalHeadError(
      'unknown_signal',
      `${manifest.name} has no signal ${opts.signal ?? ''} (it has ${manifest.signals.map((m) => `${m.source}/${m.label}`).join(', ')})`,
    );
  const skipped: string[] = [];
  const samples = [
    ...(await as('folder_unreadable', () => listImages(opts.positiveDir, 1, skipped))),
    ...(await as('folder_unreadable', () => listImages(opts.negativeDir, 0, skipped))),
  ];
  const counts = { positive: samples.filter((s) => s.label === 1).length, negative: samples.filter((s) => s.label === 0).length };
  if (counts.positive === 0 || counts.negative === 0)
    throw new EvalHeadError('missing_class', `need positive and negative frames, found ${counts.positive} and ${counts.negative}`);
  const fromReport = opts.threshold === undefined ? await fitThreshold(manifest.manifestPath) : null;
  const threshold = opts.threshold ?? fromReport ?? 0.5;

  const model = await as('model_unreadable', () => OnnxModel.load(manifest));
  const pre = new Preprocessor(specFromManifest(manifest));
  const scores = new Float64Array(samples.length);
  const batch = 16;
  const input = new Float32Array(batch * pre.sampleLength);
  const k = manifest.output.labels.length;
  try {
    for (let start = 0; start < samples.length; start += batch) {
      const chunk = samples.slice(start, start + batch);
      for (let i = 0; i < chunk.length; i++) {
        const img = await as('frame_unreadable', () => readImage(chunk[i]!.file));
        pre.run(img.rgb, img.width, img.height, input, i);
      }
      const r = await model.run(input.subarray(0, chunk.length * pre.sampleLength), chunk.length);
      for (let i = 0; i < chunk.length; i++)
        scores[start + i] = mapSignals([mapping], scoresRecord(manifest.output.labels, r.scores.subarray(i * k, (i + 1) * k)))[0]!.score;
    }
  } finally {
    await model.release();
  }
  const y = Uint8Array.from(samples.map((s) => s.label));
  const wrong = (label: 0 | 1) =>
    samples
      .filter((s, i) => s.label === label && scores[i]! >= threshold !== (label === 1))
      .slice(0, 20)
      .map((s) => s.file);
  return {
    version: manifest.version,
    signal: `${mapping.source}/${mapping.label}`,
    threshold,
    thresholdFrom: opts.threshold !== undefined ? 'option' : fromReport !== null ? 'fit-report' : 'default',
    counts,
    skipped,
    atThreshold: metricsAt(scores, y, threshold),
    at05: metricsAt(scores, y, 0.5),
    falsePositives: wrong(0),
    falseNegatives: wrong(1),
  };
}

export function formatEvalReport(r: EvalHeadReport): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const m = (x: BinaryMetrics) =>
    `precision ${pct(x.precision)}, recall ${pct(x.recall)}, accuracy ${pct(x.accuracy)} (tp ${x.tp} fp ${x.fp} tn ${x.tn} fn ${x.fn})`;
  const from = { option: 'given', 'fit-report': "the head's suggested threshold (fit-report.json)", default: 'default' }[r.thresholdFrom];
  return [
    `model:        ${r.version}, signal ${r.signal}`,
    `frames:       ${r.counts.positive} positive, ${r.counts.negative} negative${r.skipped.length ? `; ${r.skipped.length} skipped (not images)` : ''}`,
    `@${r.threshold.toFixed(3)} (${from}): ${m(r.atThreshold)}`,
    `@0.5:         ${m(r.at05)}`,
    ...(r.falsePositives.length ? [`false positives: ${r.falsePositives.join(', ')}`] : []),
    ...(r.falseNegatives.length ? [`false negatives: ${r.falseNegatives.join(', ')}`] : []),
  ].join('\n');
}
