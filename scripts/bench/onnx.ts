/**
 * ONNX stage benchmark on the default nsfw model (MobileNetV2 224), through the real worker pool.
 *
 * - Throughput (frames/s) at maxBatch 1, 8, 32 × intra-op threads 1, 2, one worker, closed loop with
 *   2 × maxBatch frames in flight so batches fill; baseline = batch 1, 1 thread.
 * - Per-frame latency p50/p99 (classify() call → result) in those saturated runs, and at light load
 *   (one frame in flight), which is what a single quiet stream sees.
 * - Why preprocessing runs in the worker: the main thread's per-frame cost (a copy) next to the cost
 *   of resizing + normalising on the main thread.
 *
 *   node --import tsx scripts/bench/onnx.ts [--quick]
 */
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadManifest, type ResolvedManifest } from '../../classifiers/onnx/manifest.ts';
import { OnnxModel } from '../../classifiers/onnx/model.ts';
import { OnnxPool } from '../../classifiers/onnx/pool.ts';
import { Preprocessor, specFromManifest } from '../../classifiers/onnx/preprocess.ts';
import { convertNsfwjs } from '../convert-nsfwjs.ts';
import type { BenchResult } from './types.ts';

const MANIFEST = new URL('../../models/nsfw/manifest.json', import.meta.url);
/** A 16:9 frame at the sampler's default analysis size (fit within 512×512). */
const W = 512;
const H = 288;

function frame(seed: number): { width: number; height: number; rgb: Uint8Array } {
  const rgb = new Uint8Array(W * H * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < rgb.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    rgb[i] = ((i % 1536) >> 3) ^ (s >>> 26);
  }
  return { width: W, height: H, rgb };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

interface LoadResult {
  fps: number;
  p50: number;
  p99: number;
  meanBatch: number;
  frames: number;
}

/** Keeps `inFlight` frames outstanding until `frames` have completed (after `warm` warm-up frames). */
async function closedLoop(pool: OnnxPool, inFlight: number, frames: number, warm: number): Promise<LoadResult> {
  const inputs = Array.from({ length: 8 }, (_, i) => frame(i + 1));
  const lat: number[] = [];
  let batchSum = 0;
  let started = 0;
  let done = 0;
  let t0 = 0;
  await new Promise<void>((resolve, reject) => {
    const launch = () => {
      const n = started++;
      pool.classify(inputs[n % inputs.length] as ReturnType<typeof frame>).then((r) => {
        done++;
        if (n === warm) t0 = performance.now();
        if (n >= warm) {
          lat.push(r.latencyMs);
          batchSum += r.batchSize;
        }
        if (started < warm + frames) launch();
        else if (done === started) resolve();
      }, reject);
    };
    for (let i = 0; i < Math.min(inFlight, warm + frames); i++) launch();
  });
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { fps: lat.length / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99), meanBatch: batchSum / lat.length, frames: lat.length };
}

async function poolRun(manifest: ResolvedManifest, threads: number, maxBatch: number, inFlight: number, frames: number): Promise<LoadResult> {
  const pool = await OnnxPool.create({ manifest, workers: 1, intraOpThreads: threads, maxBatch, maxWaitMs: 2, maxQueue: 4 * maxBatch + 8 });
  try {
    return await closedLoop(pool, inFlight, frames, Math.max(4, maxBatch));
  } finally {
    await pool.close();
  }
}

function msPer(fn: () => void, minMs: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    fn();
    n++;
    t = performance.now();
  }
  return (t - t0) / n;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  await convertNsfwjs(); // no-op when the install-time model is current
  const manifest = await loadManifest(fileURLToPath(MANIFEST));
  const results: BenchResult[] = [];
  const cores = os.availableParallelism();

  // Main-thread cost per frame: what the pool does (copy) vs. what it avoids (preprocess).
  const pre = new Preprocessor(specFromManifest(manifest));
  const f = frame(1);
  const out = new Float32Array(pre.sampleLength);
  const minMs = opts.quick ? 100 : 500;
  const preMs = msPer(() => pre.run(f.rgb, W, H, out, 0), minMs);
  const reused = new Uint8Array(f.rgb.length);
  const copyMs = msPer(() => reused.set(f.rgb), minMs);
  const allocMs = msPer(() => new Uint8Array(f.rgb.length).set(f.rgb), minMs);
  results.push({ name: `preprocess ${W}x${H} → 224x224 NCHW`, unit: 'ms/frame', value: preMs, note: 'runs in the worker' });
  results.push({
    name: `main-thread copy of a ${W}x${H} frame`,
    unit: 'ms/frame',
    value: copyMs,
    baseline: { name: 'preprocessing on the main thread', value: preMs },
    note: 'what the event loop pays per frame instead (buffers recycled from the worker)',
  });
  results.push({
    name: `main-thread copy into a fresh buffer`,
    unit: 'ms/frame',
    value: allocMs,
    baseline: { name: 'copy into a recycled buffer', value: copyMs },
    note: 'why the pool recycles frame buffers',
  });

  // Direct session (no pool, no workers), batch 1, 1 thread: the model's own cost.
  const direct = await OnnxModel.load(manifest, { intraOpThreads: 1 });
  try {
    const reps = opts.quick ? 10 : 40;
    for (let i = 0; i < 3; i++) await direct.run(out, 1);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await direct.run(out, 1);
    const ms = (performance.now() - t0) / reps;
    results.push({
      name: 'ORT session.run, batch 1, 1 thread (no pool)',
      unit: 'frames/s',
      value: 1000 / ms,
      note: `${ms.toFixed(1)} ms/frame, inference only`,
    });
  } finally {
    await direct.release();
  }

  let baseline: { name: string; value: number } | undefined;
  for (const threads of [1, 2]) {
    for (const batch of [1, 8, 32]) {
      const frames = opts.quick ? Math.max(16, 2 * batch) : Math.max(96, 6 * batch);
      const r = await poolRun(manifest, threads, batch, 2 * batch, frames);
      const name = `pool batch ${batch}, ${threads} intra-op thread${threads > 1 ? 's' : ''}`;
      baseline ??= { name, value: r.fps };
      results.push({
        name,
        unit: 'frames/s',
        value: r.fps,
        baseline,
        note: `mean batch ${r.meanBatch.toFixed(1)}, ${r.frames} frames, ${2 * batch} in flight, ${cores} cores`,
      });
      results.push({ name: `${name}: latency p50`, unit: 'ms', value: r.p50, note: 'saturated: includes queueing' });
      results.push({ name: `${name}: latency p99`, unit: 'ms', value: r.p99 });
    }
  }

  // Light load: one frame in flight (a single quiet stream), realistic config maxBatch 8.
  for (const threads of [1, 2]) {
    const r = await poolRun(manifest, threads, 8, 1, opts.quick ? 16 : 60);
    results.push({
      name: `pool light load, ${threads} thread${threads > 1 ? 's' : ''}: latency p50`,
      unit: 'ms',
      value: r.p50,
      note: 'one frame in flight, maxWaitMs 2',
    });
    results.push({ name: `pool light load, ${threads} thread${threads > 1 ? 's' : ''}: latency p99`, unit: 'ms', value: r.p99 });
  }
  return results;
}

function printTable(results: BenchResult[]): void {
  console.table(
    results.map((r) => ({
      name: r.name,
      value: `${r.value.toFixed(r.value < 10 ? 2 : 1)} ${r.unit}`,
      baseline: r.baseline ? `${r.baseline.value.toFixed(r.baseline.value < 10 ? 2 : 1)} (${r.baseline.name})` : '',
      ratio: r.baseline ? `${(r.value / r.baseline.value).toFixed(2)}x` : '',
      note: r.note ?? '',
    })),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
