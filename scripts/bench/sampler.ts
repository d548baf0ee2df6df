import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Frame } from '../../classifiers/frame.ts';
import { resolveFfmpeg, type FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import { thumbnailFromFrame } from '../../gateway/media/thumbnail.ts';
import { CHEAP_DECODER, PLAIN_DECODER, type DecoderOptions, type SamplerMode } from '../../gateway/sampler/args.ts';
import { Sampler, warmSampler } from '../../gateway/sampler/sampler.ts';
import { makeFile, startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { startNms, type TestNms } from '../../test/helpers/nms.ts';
import type { BenchResult } from './types.ts';
import { CLK_TCK, cpuTicks, sleep } from './kit.ts';

/**
 * Sampler cost per live stream: CPU (% of one core, from /proc/PID/stat utime+stime of the
 * sampler's ffmpeg over a window) and RSS, for a 720p30 2.5 Mbit/s H.264 stream (x264 veryfast,
 * 2 B-frames, 2 s GOP: what OBS sends by default) sampled at 2 fps, per decoder configuration;
 * plus latencies: start → first frame, and content change → frame (the input switches to red at
 * media 7.0 s, mid-GOP; latency is measured from the publisher's spawn + 7 s, so it also contains
 * the publisher's own start-up and is an upper bound).
 *
 * The input is encoded once and cached under .bench/, then published with `-re -stream_loop -1
 * -c copy`, so the publishers themselves cost little.
 */

const RED_AT_MS = 7_000;
const CLIP_SEC = 20;

interface Variant {
  name: string;
  mode: SamplerMode;
  decoder: DecoderOptions;
  /** Without the follower frame that makes ffmpeg 5.x release each sampled frame (args.ts selectExpr). */
  noRelease?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'full, plain flags', mode: 'full', decoder: PLAIN_DECODER },
  { name: 'full, cheap flags', mode: 'full', decoder: CHEAP_DECODER },
  { name: 'full, cheap flags, no release frame', mode: 'full', decoder: CHEAP_DECODER, noRelease: true },
  { name: 'full, cheap flags, loop filter noref', mode: 'full', decoder: { ...CHEAP_DECODER, skipLoopFilter: 'noref' } },
  { name: 'full, threads 1 only', mode: 'full', decoder: { ...PLAIN_DECODER, threads: 1, fastProbe: true } },
  { name: 'keyframe only', mode: 'keyframe', decoder: CHEAP_DECODER },
];

function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function benchInput(ff: FfmpegInfo): Promise<string> {
  const dir = resolve('.bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `sampler-720p30-2500k-bf2-red${RED_AT_MS / 1000}s-${CLIP_SEC}s.flv`);
  if (!existsSync(file)) {
    await makeFile({
      file,
      ffmpegPath: ff.path,
      width: 1280,
      height: 720,
      rate: 30,
      durationSec: CLIP_SEC,
      bitrateKbps: 2500,
      gopSec: 2,
      bframes: 2,
      preset: 'veryfast',
      audio: true,
      switchColor: { afterSec: RED_AT_MS / 1000, color: 'red' },
    });
  }
  return file;
}

const isRed = (f: Frame): boolean => {
  const o = (Math.floor(f.height / 2) * f.width + Math.floor(f.width / 2)) * 3;
  return (f.rgb[o] ?? 0) > 180 && (f.rgb[o + 1] ?? 255) < 80 && (f.rgb[o + 2] ?? 255) < 80;
};

interface StreamRun {
  pub: Publisher;
  sampler: Sampler;
  startAt: number;
  firstFrameMs: number | null;
  redLatencyMs: number | null;
  frames: number;
}

interface VariantResult {
  cpuPct: number;
  rssMiB: number;
  firstFrameMs: number;
  redLatencyMs: number | null;
  fps: number;
  restarts: number;
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

async function runVariant(nms: TestNms, ff: FfmpegInfo, file: string, v: Variant, streams: number, windowMs: number, tag: string): Promise<VariantResult> {
  const runs: StreamRun[] = [];
  for (let i = 0; i < streams; i++) {
    const name = `bench-${tag}-${i}`;
    const pub = startPublisher({ url: nms.url(name), ffmpegPath: ff.path, source: { file, loop: true } });
    await nms.waitForPublish(name);
    const ffv = v.noRelease ? { ...ff, features: { ...ff.features, holdsLastFrame: false } } : ff;
    const sampler = new Sampler({ streamId: name, input: { kind: 'url', url: nms.url(name) }, mode: v.mode, decoder: v.decoder, ffmpeg: ffv });
    const run: StreamRun = { pub, sampler, startAt: Date.now(), firstFrameMs: null, redLatencyMs: null, frames: 0 };
    sampler.onFrame((f) => {
      run.frames += 1;
      run.firstFrameMs ??= f.receivedAt - run.startAt;
      if (run.redLatencyMs === null && isRed(f)) run.redLatencyMs = f.receivedAt - (pub.startedAt + RED_AT_MS);
    });
    await sampler.start();
    runs.push(run);
  }
  // Let probing and the GOP-cache burst pass before measuring steady-state cost.
  await sleep(3_000);
  const pids = runs.map((r) => r.sampler.stats().pid);
  const t0 = Date.now();
  const before = pids.map((p) => (p ? cpuTicks(p) : null));
  const frames0 = runs.map((r) => r.frames);
  await sleep(windowMs);
  const dt = (Date.now() - t0) / 1000;
  const after = pids.map((p) => (p ? cpuTicks(p) : null));
  const rss = pids.map((p) => (p ? rssMiB(p) : null)).filter((x): x is number => x !== null);
  const cpu = pids
    .map((_, i) => {
      const a = before[i];
      const b = after[i];
      return a !== null && a !== undefined && b !== null && b !== undefined ? ((b - a) / CLK_TCK / dt) * 100 : null;
    })
    .filter((x): x is number => x !== null);
  // Wait for the red switch to show up where it has not yet (keyframe mode: up to ~2 GOPs).
  const deadline = Date.now() + 12_000;
  while (runs.some((r) => r.redLatencyMs === null) && Date.now() < deadline) await sleep(100);
  const result: VariantResult = {
    cpuPct: mean(cpu),
    rssMiB: mean(rss),
    firstFrameMs: mean(runs.map((r) => r.firstFrameMs ?? NaN)),
    redLatencyMs: runs.every((r) => r.redLatencyMs !== null) ? mean(runs.map((r) => r.redLatencyMs ?? 0)) : null,
    fps: mean(runs.map((r, i) => (r.frames - (frames0[i] ?? 0)) / dt)),
    restarts: runs.reduce((a, r) => a + r.sampler.stats().restarts, 0),
  };
  for (const r of runs) {
    await r.sampler.stop();
    await r.pub.stop();
  }
  return result;
}

/** Latency of setMode: time from the call to the first frame in the new mode. */
async function modeSwitch(nms: TestNms, ff: FfmpegInfo, file: string): Promise<{ toKeyframeMs: number; toFullMs: number }> {
  const name = 'bench-switch';
  const pub = startPublisher({ url: nms.url(name), ffmpegPath: ff.path, source: { file, loop: true } });
  await nms.waitForPublish(name);
  const s = new Sampler({ streamId: name, input: { kind: 'url', url: nms.url(name) }, ffmpeg: ff });
  let last = 0;
  s.onFrame((f) => {
    last = f.receivedAt;
  });
  await s.start();
  await sleep(3_000);
  const measure = async (mode: SamplerMode): Promise<number> => {
    const t = Date.now();
    await s.setMode(mode);
    const deadline = t + 15_000;
    while (last < t && Date.now() < deadline) await sleep(20);
    return last >= t ? last - t : NaN;
  };
  const toKeyframeMs = await measure('keyframe');
  await sleep(1_000);
  const toFullMs = await measure('full');
  await s.stop();
  await pub.stop();
  return { toKeyframeMs, toFullMs };
}

function thumbnailCost(): number {
  const rgb = Buffer.alloc(512 * 288 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 31) & 0xff;
  const n = 20;
  thumbnailFromFrame({ rgb, width: 512, height: 288 });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) thumbnailFromFrame({ rgb, width: 512, height: 288 });
  return (performance.now() - t0) / n;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const ff = await resolveFfmpeg();
  if (!ff.features.libx264) throw new Error(`${ff.path} lacks libx264; cannot make the benchmark input`);
  await warmSampler(ff);
  const file = await benchInput(ff);
  const streams = opts.quick ? 1 : 3;
  const windowMs = opts.quick ? 8_000 : 20_000;
  const nms = await startNms();
  const out: BenchResult[] = [];
  try {
    const results = new Map<string, VariantResult>();
    for (const [i, v] of VARIANTS.entries()) {
      if (opts.quick && v.name.startsWith('full, threads 1 only')) continue;
      results.set(v.name, await runVariant(nms, ff, file, v, streams, windowMs, String(i)));
    }
    const plain = results.get('full, plain flags');
    const common = `720p30 2.5 Mbit/s H.264 (bf=2, GOP 2 s), 2 fps at 512x288, ${streams} stream(s), ${windowMs / 1000} s window, ffmpeg ${ff.version} (${ff.source})`;
    for (const [name, r] of results) {
      const base = name === 'full, plain flags' || !plain ? undefined : plain;
      out.push({
        name: `sampler CPU per stream: ${name}`,
        unit: '% of a core',
        value: round(r.cpuPct, 2),
        ...(base ? { baseline: { name: 'full, plain flags', value: round(base.cpuPct, 2) } } : {}),
        note: `${common}; ${r.fps.toFixed(2)} frames/s emitted; ${r.restarts} restarts`,
      });
      out.push({
        name: `sampler RSS per stream: ${name}`,
        unit: 'MiB',
        value: round(r.rssMiB, 1),
        ...(base ? { baseline: { name: 'full, plain flags', value: round(base.rssMiB, 1) } } : {}),
      });
      out.push({
        name: `sampler start → first frame: ${name}`,
        unit: 'ms',
        value: Math.round(r.firstFrameMs),
        ...(base ? { baseline: { name: 'full, plain flags', value: Math.round(base.firstFrameMs) } } : {}),
        note: 'sampler started when the publish is accepted; fluent-ffmpeg capability cache warmed',
      });
      out.push({
        name: `content change → frame latency: ${name}`,
        unit: 'ms',
        value: r.redLatencyMs === null ? NaN : Math.round(r.redLatencyMs),
        note: 'red from media 7.0 s (mid-GOP); from publisher spawn + 7 s, so includes its start-up: upper bound',
      });
    }
    const sw = await modeSwitch(nms, ff, file);
    out.push({
      name: 'setMode full → keyframe: call → first frame',
      unit: 'ms',
      value: Math.round(sw.toKeyframeMs),
      note: 'restart + wait for a keyframe + decoder reorder delay',
    });
    out.push({
      name: 'setMode keyframe → full: call → first frame',
      unit: 'ms',
      value: Math.round(sw.toFullMs),
      note: 'restart + GOP-cache replay from the server',
    });
    out.push({ name: 'evidence thumbnail 512x288 → 256x144 JPEG q70', unit: 'ms', value: round(thumbnailCost(), 2) });
  } finally {
    await nms.stop();
  }
  return out;
}

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const quick = process.argv.includes('--quick');
  run({ quick })
    .then((results) => {
      const rows = results.map((r) => ({
        name: r.name,
        value: `${r.value} ${r.unit}`,
        baseline: r.baseline ? `${r.baseline.value} (${r.baseline.name})` : '',
      }));
      console.table(rows);
      for (const r of results) if (r.note) console.log(`- ${r.name}: ${r.note}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
