import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Signal } from '../../classifiers/signal.ts';
import type { Decision } from '../../policy/engine.ts';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { resolveFfmpeg, type FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import type { ModeChange } from '../../gateway/pipeline/adaptive.ts';
import { warmSampler } from '../../gateway/sampler/sampler.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { addEntries, createBank, setBankEnabled } from '../../gateway/banks/manage.ts';
import { writeOnnxFixtures, type OnnxFixtures } from '../../test/fixtures/onnx-fixtures.ts';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { CLK_TCK, cpuTicks, load, percentile, progressFor, round, sleep, waitUntil } from './kit.ts';
import { backgroundFile, bankedFile, cachedEncode, CONTENT_AT_SEC, FILE_SEC, GOP_SEC, knownPicture, publishWithProgress } from './media-inputs.ts';
import type { BenchResult } from './types.ts';

/**
 * End-to-end pipeline benchmark: an in-process gateway (startGateway, temp data dir, SQLite) with real
 * ffmpeg publishers over RTMP, the real samplers, classifier stage, policy runner and cut.
 *
 *  - Time to cut: from the first frame of violating content leaving the publisher to the publisher's
 *    ffmpeg exiting (disconnected), p50/p95, with 1 / 10 / 25 streams live (quick: 1 / 5), the violating
 *    one included. Bank case: a banked picture (PDQ hash in a `terrorist-violent-extremism` bank,
 *    `classifiers.models: []`), rule tve-known-content (one frame). Classifier case: a fixture ONNX model
 *    whose violence score is sigmoid(8·(meanR − meanG) − 2) and a stream that turns red, rule
 *    graphic-violence-high (3 of 4 frames ≥ 0.9, the default smoothing).
 *    Timestamping: every violating stream is a pre-encoded 720p file whose content changes at a known pts
 *    (mid-GOP), published with `-re -c copy -progress pipe:1 -stats_period 0.05`; the content's entry time
 *    is the wall time of the first progress report whose out_time is ≥ that pts (≤ 50 ms late, so the
 *    figure is, if anything, a little short of the truth by at most that).
 *  - Bank insert → match: a stream shows picture X continuously; its hash is POSTed to
 *    /api/v1/banks/NAME/entries; time from sending the request to the first hash_match signal of that
 *    stream (and to the decision).
 *  - CPU per stream (`cpu`): the gateway process plus its decoding ffmpeg children at a few streams, and the
 *    stream count that fits the cores extrapolated from it (a quick estimate).
 *  - Capacity (`capacity`): the same measured at 10–25 (full) and 50–150 (adaptive) streams published by the
 *    in-process replayer in a child process, with frames/s per stream, drops, keyframe latency, event-loop
 *    delay and whole-machine load; then escalation and time to cut with the largest count still live.
 *
 * Background streams: a pre-encoded 720p30 2.5 Mbit/s file (x264 veryfast, 2 s GOP, OBS-like B-frames)
 * looped with `-c copy`. Files are cached under .bench/. Other processes share this machine: the load
 * average is reported with every figure and CPU time (not wall-clock throughput) is what is compared.
 */

const progress = progressFor('pipeline');

// ---- inputs -----------------------------------------------------------------------------------

interface Inputs {
  background: string;
  /** bframes → file with the banked picture from CONTENT_AT_SEC. */
  banked: Record<number, string>;
  red: Record<number, string>;
  /** The banked picture for the whole file (bank insert → match). */
  still: string;
  image: string;
}

async function inputs(ff: FfmpegInfo): Promise<Inputs> {
  const image = await knownPicture(ff);
  const out: Inputs = { background: await backgroundFile(ff), banked: {}, red: {}, still: '', image };
  for (const bf of [0, 2]) {
    out.banked[bf] = await bankedFile(ff, image, bf);
    out.red[bf] = await cachedEncode(ff, `pipeline-red-720p30-bf${bf}-at${CONTENT_AT_SEC}s-${FILE_SEC}s.flv`, {
      durationSec: FILE_SEC,
      bframes: bf,
      switchColor: { afterSec: CONTENT_AT_SEC, color: 'red' },
    });
  }
  out.still = await cachedEncode(ff, 'pipeline-still-720p30-10s.flv', { durationSec: 10, bframes: 2, image: { path: image, afterSec: 0 } });
  return out;
}

// ---- gateway harness ----------------------------------------------------------------------------

interface Harness {
  gw: Gateway;
  dir: string;
  token: string;
  account(prefix: string): Promise<string>;
  url(key: string): string;
  idOf(key: string): string | undefined;
  signals: Array<{ s: Signal; at: number }>;
  modes: ModeChange[];
  stop(): Promise<void>;
}

let accountSeq = 0;

/** BENCH_FPS=5: the hash rate (`sampling.fps`) for a same-run trade-off curve; unset: the gateway's default. */
const BENCH_FPS = Number(process.env.BENCH_FPS) > 0 ? Number(process.env.BENCH_FPS) : null;

async function harness(o: { mode: 'full' | 'adaptive'; models: string[]; bankImage?: string }): Promise<Harness> {
  const dir = mkdtempSync(join(os.tmpdir(), 'modgate-bench-pipeline-'));
  const config = ConfigSchema.parse({
    dataDir: dir,
    rtmp: { host: '127.0.0.1', port: 0, maxConnections: 1000 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 500,
    // Same-run variants: BENCH_SHED=1 (load shedding on), BENCH_PIXELS=yuv420p (the luma path). Unset: the
    // gateway's defaults (off, rgb24), so a plain run measures what ships; the 2 Dec 17:38 UTC "new" rows set both.
    sampling: {
      mode: o.mode,
      ...(BENCH_FPS ? { fps: BENCH_FPS } : {}),
      shed: { enabled: process.env.BENCH_SHED === '1' },
      pixels: process.env.BENCH_PIXELS === 'yuv420p' ? ('yuv420p' as const) : ('rgb24' as const),
    },
    classifiers: { models: o.models },
  });
  const gw = await startGateway(config, { log: createLogger('silent') });
  const db = gw.store.db;
  const token = (await issueToken(db, 'bench', 'bench-op', 'operator')).token;
  if (o.bankImage) {
    const [h] = await hashFile(o.bankImage);
    await createBank(db, 'bench', { name: 'tve', category: 'terrorist-violent-extremism' });
    await addEntries(db, 'bench', 'tve', [{ hash: h!.hash }]);
    await gw.banks.refresh();
  }
  const keys = new Map<string, string>();
  const signals: Harness['signals'] = [];
  const modes: ModeChange[] = [];
  const orig = gw.runner.onSignal.bind(gw.runner);
  gw.runner.onSignal = (s: Signal) => {
    if (s.match || (s.score ?? 0) >= 0.3) signals.push({ s, at: Date.now() });
    orig(s);
  };
  gw.watcher?.onModeChange((c) => modes.push(c));
  return {
    gw,
    dir,
    token,
    async account(prefix) {
      const handle = `${prefix}${accountSeq++}`;
      await addAccount(db, { id: 'bench' }, { handle, verified: true, subject: `person-${handle}` });
      const key = (await issueKey(db, { id: 'bench' }, handle)).key;
      keys.set(key, handle);
      await gw.gate.refresh();
      return key;
    },
    url: (key) => `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
    idOf: (key) => gw.registry.list().find((s) => s.handle === keys.get(key))?.id,
    signals,
    modes,
    async stop() {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `n` background streams and waits until each is live and sampled. */
async function background(h: Harness, ff: FfmpegInfo, file: string, n: number): Promise<Publisher[]> {
  const pubs: Publisher[] = [];
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = await h.account('bg');
    keys.push(key);
    pubs.push(startPublisher({ url: h.url(key), ffmpegPath: ff.path, source: { file, loop: true } }));
    await sleep(150);
  }
  await waitUntil(() => keys.every((k) => (h.gw.watcher?.stats(h.idOf(k) ?? '')?.framesEmitted ?? 0) > 0), 60_000);
  return pubs;
}

interface CutRun {
  /** content sent → publisher exited */
  cutMs: number | null;
  /** content sent → the gateway ended the stream (decision recorded, connection closed) */
  decisionMs: number | null;
  /** content sent → escalated to full rate (adaptive) */
  escalateMs: number | null;
  /** content sent → the first matching signal of the stream (the frame read, hashed and matched) */
  signalMs: number | null;
  /** media time of that signal's frame − the content's pts: 0 when the first frame showing it matched */
  frameLagMs: number | null;
  /** content sent → that frame's video message arriving at the gateway (the signal's ingestedAt) */
  arrivalMs: number | null;
  rule: string | null;
  /** Why a run did not count (diagnostics). */
  why?: string;
}

async function cutRuns(h: Harness, ff: FfmpegInfo, file: string, runs: number, rule: string): Promise<CutRun[]> {
  const out: CutRun[] = [];
  for (let i = 0; i < runs; i++) {
    const key = await h.account('v');
    let decidedAt: number | null = null;
    let decidedRule: string | null = null;
    let streamId: string | undefined;
    const onDecision = (_: unknown, d: Decision) => {
      if (d.streamId === streamId && !d.shadow && d.actions.cut && decidedAt === null) {
        decidedAt = Date.now();
        decidedRule = d.ruleId;
      }
    };
    h.gw.runner.on('decision', onDecision);
    // The gateway's side of the cut: the registry ends the stream (connection closed) before the runner
    // finishes its bookkeeping (evidence pinning) and emits 'decision'.
    let endedAt: number | null = null;
    const onEnded = (s: { id: string }) => {
      if (s.id === streamId && endedAt === null) endedAt = Date.now();
    };
    h.gw.registry.on('ended', onEnded);
    const t0 = Date.now();
    const pub = publishWithProgress(ff, h.url(key), file);
    await waitUntil(() => (streamId = h.idOf(key)) !== undefined, 15_000);
    const exitAt = await Promise.race([pub.done, sleep((FILE_SEC + 10) * 1000).then(() => null)]);
    pub.stop();
    await waitUntil(() => decidedRule !== null, 5_000);
    h.gw.runner.off('decision', onDecision);
    h.gw.registry.off('ended', onEnded);
    const sent = pub.sentAt(CONTENT_AT_SEC);
    const esc = h.modes.find((m) => m.streamId === streamId && m.mode === 'full');
    const cutOk = decidedRule === rule && exitAt !== null && sent !== null;
    const sig = h.signals.find((x) => x.s.streamId === streamId && x.s.match);
    out.push({
      cutMs: cutOk ? exitAt - sent : null,
      decisionMs: cutOk && endedAt !== null ? endedAt - sent : null,
      escalateMs: esc && sent !== null ? esc.at - sent : null,
      signalMs: cutOk && sig ? sig.at - sent : null,
      frameLagMs: cutOk && sig ? sig.s.frameTimeMs - CONTENT_AT_SEC * 1000 : null,
      arrivalMs: cutOk && sig?.s.ingestedAt !== undefined ? sig.s.ingestedAt - sent : null,
      rule: decidedRule,
      ...(cutOk
        ? {}
        : {
            why: `live=${streamId !== undefined} exit=${exitAt !== null ? exitAt - t0 : null}ms sent=${sent !== null ? sent - t0 : null}ms rule=${decidedRule} signals=${h.signals.filter((x) => x.s.streamId === streamId).length}`,
          }),
    });
    await sleep(300);
  }
  return out;
}

function cutFigures(label: string, runs: CutRun[], target: number, baseline?: { name: string; value: number }): BenchResult[] {
  const ok = runs.filter((r) => r.cutMs !== null);
  const cut = ok.map((r) => r.cutMs!);
  const dec = ok.map((r) => r.decisionMs!).filter((x) => x !== null);
  const esc = runs.map((r) => r.escalateMs).filter((x): x is number => x !== null);
  const early = cut.filter((x) => x < 0).length;
  // Where the time goes (p50s): sent → first matching signal (ingest, relay, decode, read, hash, match), of it
  // the media lag of the frame that matched; → stream ended (policy, decision, cut); → publisher exited.
  const sig = ok.map((r) => r.signalMs).filter((x): x is number => x !== null);
  const lag = ok.map((r) => r.frameLagMs).filter((x): x is number => x !== null);
  // The matched frame's own message: sent → arrived (publisher, socket, RTMP parse), arrived → signal (relay, decode, hash, match).
  const arrival = ok.map((r) => r.arrivalMs).filter((x): x is number => x !== null);
  const inGateway = ok.flatMap((r) => (r.arrivalMs !== null && r.signalMs !== null ? [r.signalMs - r.arrivalMs] : []));
  const arrivalSplit = arrival.length
    ? `; of it, sent → the matched frame's message at the gateway p50 ${round(percentile(arrival, 50))} / p95 ${round(percentile(arrival, 95))} ms, and its arrival → signal p50 ${round(percentile(inGateway, 50))} / p95 ${round(percentile(inGateway, 95))} ms (${arrival.length} runs)`
    : '';
  const split = sig.length
    ? `; content sent → first matching signal p50 ${round(percentile(sig, 50))} / p95 ${round(percentile(sig, 95))} ms (the matched frame's media time − the content's pts: p50 ${round(percentile(lag, 50))} ms)${arrivalSplit}`
    : '';
  const note = `${ok.length}/${runs.length} runs cut by the expected rule${early ? ` (${early} before the content: a false match!)` : ''}; gateway-side (decision recorded, stream ended) p50 ${round(percentile(dec, 50))} / p95 ${round(percentile(dec, 95))} ms${split}; target p95 ≤ ${target} ms; load avg ${load()}`;
  const res: BenchResult[] = [
    {
      name: `time to cut p50: ${label}`,
      unit: 'ms',
      value: round(percentile(cut, 50)),
      ...(baseline ? { baseline: { name: baseline.name + ' p50', value: baseline.value } } : {}),
      note,
    },
    { name: `time to cut p95: ${label}`, unit: 'ms', value: round(percentile(cut, 95)) },
  ];
  if (esc.length) {
    res.push({
      name: `content → escalated to full rate p50: ${label}`,
      unit: 'ms',
      value: round(percentile(esc, 50)),
      note: `p95 ${round(percentile(esc, 95))} ms over ${esc.length} runs`,
    });
  }
  return res;
}

// ---- capacity ------------------------------------------------------------------------------------

/** This process's ffmpeg children that decode for the gateway (samplers and the shared keyframe decoder). */
function decoderPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('rawvideo')) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Busy share of the whole machine (all cores) from /proc/stat between two readings. */
function hostTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

interface LoadChild {
  pid: number;
  ready: Promise<number>;
  stop(): void;
}

/** Publishes `keys` from a child process (scripts/bench/replay-load.ts), so its CPU is not the gateway's. */
function replayLoad(port: number, file: string, keys: string[]): LoadChild {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('scripts/bench/replay-load.ts'), JSON.stringify({ port, file, keys, staggerMs: 40 })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<number>((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0) break;
        const line = JSON.parse(buf.slice(0, i)) as { ready?: number; refused?: string; error?: string };
        buf = buf.slice(i + 1);
        if (line.refused) progress(`replay publish refused: ${line.error}`);
        if (line.ready !== undefined) res(line.ready);
      }
    });
    child.once('exit', (c) => rej(new Error(`replay load exited with ${c}`)));
  });
  return { pid: child.pid!, ready, stop: () => void child.kill('SIGTERM') };
}

interface CapacityFigures {
  n: number;
  mode: 'full' | 'adaptive';
  windowSec: number;
  /** Gateway process + its decoding ffmpeg children, % of one core. */
  gatewayPct: number;
  gatewayProcPct: number;
  decoderPct: number;
  loadGenPct: number;
  /** Whole machine busy, % of all cores. */
  hostBusyPct: number;
  /** Frames delivered per stream per second of wall time (mean) and the lowest stream's. */
  fpsMean: number;
  fpsMin: number;
  /** Sampler/consumer drops and shared-decoder refusals during the window. */
  dropped: number;
  busy: number;
  kfLatencyP50: number;
  kfLatencyP95: number;
  loopDelayP99Ms: number;
  rssMiB: number;
  escalated: number;
}

/** N streams from the replay child; measures the gateway over a window once every stream is sampled. */
async function capacityWindow(
  h: Harness,
  file: string,
  n: number,
  mode: 'full' | 'adaptive',
  windowMs: number,
): Promise<{ figures: CapacityFigures; load: LoadChild }> {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) keys.push(await h.account('cap'));
  const loadChild = replayLoad(h.gw.rtmpPort, file, keys);
  const published = await loadChild.ready;
  if (published < n) progress(`only ${published}/${n} streams were accepted`);
  const ids = (): string[] => h.gw.registry.list().map((s) => s.id);
  await waitUntil(() => ids().length >= published && ids().every((id) => (h.gw.watcher?.stats(id)?.framesEmitted ?? 0) > 0), 120_000);
  await sleep(5_000);
  const frames0 = new Map(ids().map((id) => [id, h.gw.watcher?.stats(id)?.framesEmitted ?? 0]));
  const drop0 = ids().reduce((a, id) => a + (h.gw.watcher?.sampler(id)?.stats().dropped ?? 0) + (h.gw.watcher?.keyframeSampler(id)?.stats().dropped ?? 0), 0);
  const busy0 = h.gw.watcher?.keyframeDecoderStats()?.busy ?? 0;
  h.gw.watcher?.takeKeyframeLatencies();
  const pids = decoderPids();
  const d0 = pids.map((p) => cpuTicks(p));
  const g0 = cpuTicks(process.pid) ?? 0;
  const l0 = cpuTicks(loadChild.pid) ?? 0;
  const host0 = hostTicks();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = Date.now();
  await sleep(windowMs);
  loop.disable();
  const dt = (Date.now() - t0) / 1000;
  const d1 = pids.map((p) => cpuTicks(p));
  const g1 = cpuTicks(process.pid) ?? 0;
  const l1 = cpuTicks(loadChild.pid) ?? 0;
  const host1 = hostTicks();
  let decTicks = 0;
  pids.forEach((_, i) => {
    if (d0[i] != null && d1[i] != null) decTicks += d1[i]! - d0[i]!;
  });
  const fps = ids()
    .filter((id) => frames0.has(id))
    .map((id) => ((h.gw.watcher?.stats(id)?.framesEmitted ?? 0) - frames0.get(id)!) / dt);
  const drop1 = ids().reduce((a, id) => a + (h.gw.watcher?.sampler(id)?.stats().dropped ?? 0) + (h.gw.watcher?.keyframeSampler(id)?.stats().dropped ?? 0), 0);
  const lat = h.gw.watcher?.takeKeyframeLatencies() ?? [];
  const pct = (ticks: number) => (ticks / CLK_TCK / dt) * 100;
  const figures: CapacityFigures = {
    n: published,
    mode,
    windowSec: round(dt, 1),
    gatewayPct: round(pct(g1 - g0 + decTicks), 1),
    gatewayProcPct: round(pct(g1 - g0), 1),
    decoderPct: round(pct(decTicks), 1),
    loadGenPct: round(pct(l1 - l0), 1),
    hostBusyPct: round(((host1.busy - host0.busy) / Math.max(1, host1.total - host0.total)) * 100, 1),
    fpsMean: round(fps.reduce((a, b) => a + b, 0) / Math.max(1, fps.length), 2),
    fpsMin: round(Math.min(...fps), 2),
    dropped: drop1 - drop0,
    busy: (h.gw.watcher?.keyframeDecoderStats()?.busy ?? 0) - busy0,
    kfLatencyP50: round(percentile(lat, 50)),
    kfLatencyP95: round(percentile(lat, 95)),
    loopDelayP99Ms: round(loop.percentile(99) / 1e6, 1),
    rssMiB: round(process.memoryUsage().rss / 2 ** 20),
    escalated: h.gw.watcher?.adaptiveStats()?.escalated ?? 0,
  };
  return { figures, load: loadChild };
}

/** Which same-run baseline switches were set (BENCH_SHED, BENCH_PIXELS). */
function variant(): string {
  return `shedding ${process.env.BENCH_SHED === '1' ? 'on' : 'off'}, ffmpeg emits ${process.env.BENCH_PIXELS === 'yuv420p' ? 'yuv420p' : 'rgb24'}`;
}

/** Load shedding so far in this gateway (modgate_sampler_shed_total). */
function shedNote(h: Harness): string {
  const c = h.gw.watcher?.shedCounts();
  return c ? `shed so far: ${c.skip_to_live} skips to live, ${c.rate_lowered} rates lowered` : 'no watcher';
}

function capacityNote(f: CapacityFigures): string {
  return (
    `${f.n} streams (720p30 2.5 Mbit/s, looped by an in-process RTMP replayer in a child process), ${f.windowSec} s window: gateway process ${f.gatewayProcPct} % + decoding ffmpeg ${f.decoderPct} % of a core; ` +
    `frames/s per stream mean ${f.fpsMean}, lowest ${f.fpsMin}; ${f.dropped} frames dropped, ${f.busy} keyframes refused by a busy decoder; ` +
    (f.mode === 'adaptive' ? `keyframe → picture p50 ${f.kfLatencyP50} ms, p95 ${f.kfLatencyP95} ms; ` : '') +
    `event-loop delay p99 ${f.loopDelayP99Ms} ms; gateway RSS ${f.rssMiB} MiB; load generator ${f.loadGenPct} %; whole machine ${f.hostBusyPct} % busy; load avg ${load()}`
  );
}

async function cpuPerStream(
  h: Harness,
  ff: FfmpegInfo,
  file: string,
  n: number,
  windowMs: number,
): Promise<{ perStream: number; gateway: number; samplers: number; keyframeShare: number }> {
  const pubs = await background(h, ff, file, n);
  await sleep(3_000);
  const pids = decoderPids();
  const t0 = Date.now();
  const g0 = cpuTicks(process.pid) ?? 0;
  const s0 = pids.map((p) => cpuTicks(p));
  await sleep(windowMs);
  const dt = (Date.now() - t0) / 1000;
  const g1 = cpuTicks(process.pid) ?? 0;
  const s1 = pids.map((p) => cpuTicks(p));
  let samplerTicks = 0;
  pids.forEach((_, i) => {
    const a = s0[i];
    const b = s1[i];
    if (a != null && b != null) samplerTicks += b - a;
  });
  const modes = h.gw.registry.list().map((s) => h.gw.watcher?.stats(s.id)?.mode);
  for (const p of pubs) await p.stop();
  await waitUntil(() => h.gw.registry.list().length === 0, 10_000);
  const gateway = ((g1 - g0) / CLK_TCK / dt) * 100;
  const samplers = (samplerTicks / CLK_TCK / dt) * 100;
  return {
    perStream: (gateway + samplers) / n,
    gateway: gateway / n,
    samplers: samplers / n,
    keyframeShare: modes.filter((m) => m === 'keyframe').length / Math.max(1, modes.length),
  };
}

// ---- bank insert → match -------------------------------------------------------------------------

async function insertToMatch(
  h: Harness,
  ff: FfmpegInfo,
  still: string,
  image: string,
  runs: number,
): Promise<Array<{ signalMs: number | null; decisionMs: number | null; apiMs: number }>> {
  const [hash] = await hashFile(image);
  const out: Array<{ signalMs: number | null; decisionMs: number | null; apiMs: number }> = [];
  const apiMs: number[] = [];
  const base = `http://127.0.0.1:${h.gw.httpPort}`;
  for (let i = 0; i < runs; i++) {
    const bank = `ins${i}`;
    await createBank(h.gw.store.db, 'bench', { name: bank, category: 'terrorist-violent-extremism' });
    await h.gw.banks.refresh();
    const key = await h.account('ins');
    const pub = startPublisher({ url: h.url(key), ffmpegPath: ff.path, source: { file: still, loop: true } });
    let id: string | undefined;
    await waitUntil(() => (id = h.idOf(key)) !== undefined && (h.gw.watcher?.sampler(id)?.stats().framesEmitted ?? 0) >= 2, 20_000);
    let decidedAt: number | null = null;
    const onDecision = (_: unknown, d: Decision) => {
      if (d.streamId === id && decidedAt === null) decidedAt = Date.now();
    };
    h.gw.runner.on('decision', onDecision);
    const from = h.signals.length;
    const t0 = Date.now();
    const res = await fetch(`${base}/api/v1/banks/${bank}/entries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ entries: [{ hash: hash!.hash }] }),
    });
    if (res.status !== 200) throw new Error(`bank insert: ${res.status} ${await res.text()}`);
    apiMs.push(Date.now() - t0);
    const matched = await waitUntil(() => h.signals.slice(from).some((x) => x.s.streamId === id && x.s.match?.bank === bank), 10_000);
    await waitUntil(() => decidedAt !== null, 5_000);
    h.gw.runner.off('decision', onDecision);
    const sig = h.signals.slice(from).find((x) => x.s.streamId === id && x.s.match?.bank === bank);
    out.push({ signalMs: matched && sig ? sig.at - t0 : null, decisionMs: decidedAt !== null ? decidedAt - t0 : null, apiMs: apiMs.at(-1)! });
    await pub.stop();
    await waitUntil(() => h.gw.registry.list().length === 0, 10_000);
    // The same hash goes into the next run's bank: take this one out of matching first.
    await setBankEnabled(h.gw.store.db, 'bench', bank, false, 'bench run over');
    await h.gw.banks.refresh();
  }
  return out;
}

// ---- run -----------------------------------------------------------------------------------------

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const ff = await resolveFfmpeg();
  if (!ff.features.libx264) throw new Error(`${ff.path} lacks libx264; cannot make the benchmark inputs`);
  await warmSampler(ff);
  const files = await inputs(ff);
  progress(`inputs ready; load avg ${load()}`);
  const fixtures: OnnxFixtures = await writeOnnxFixtures();
  // Overrides for a partial run: BENCH_PIPELINE_LEVELS=25 BENCH_PIPELINE_RUNS=5.
  const envLevels = process.env.BENCH_PIPELINE_LEVELS?.split(',')
    .map(Number)
    .filter((n) => n >= 1);
  const levels = envLevels?.length ? envLevels : opts.quick ? [1, 5] : [1, 10, 25];
  const runs = Number(process.env.BENCH_PIPELINE_RUNS) || (opts.quick ? 5 : 20);
  const adaptiveRuns = Number(process.env.BENCH_PIPELINE_RUNS) || (opts.quick ? 5 : 10);
  const maxLevel = levels[levels.length - 1]!;
  const out: BenchResult[] = [];
  // For iterating on one part: BENCH_PIPELINE_ONLY=cut,adaptive,insert,cpu (default: all).
  const only = new Set((process.env.BENCH_PIPELINE_ONLY ?? 'cut,adaptive,insert,cpu,capacity').split(','));
  const defaults = ConfigSchema.parse({});
  const common = `720p30 2.5 Mbit/s H.264 (x264 veryfast, GOP ${GOP_SEC} s), sampled at ${BENCH_FPS ?? defaults.sampling.fps} fps (hash matching on every sampled frame, models at ${defaults.classifiers.modelFps} fps); content from media ${CONTENT_AT_SEC} s (mid-GOP); ${os.cpus().length} cores`;

  const cases = [
    { kind: 'bank match', models: [] as string[], bank: true, file: files.banked, rule: 'tve-known-content', target: 2_000 },
    { kind: 'classifier rule', models: [fixtures.redNchw], bank: false, file: files.red, rule: 'graphic-violence-high', target: 3_000 },
  ];
  try {
    // Time to cut in full mode at each concurrency level (1 stream = the baseline).
    const wanted = cases.filter((x) => !process.env.BENCH_PIPELINE_CASE || x.kind.startsWith(process.env.BENCH_PIPELINE_CASE));
    // BENCH_CUT_BFRAMES=0: the time-to-cut files without B-frames (a decoder holds no frame back to reorder).
    const cutBf = process.env.BENCH_CUT_BFRAMES === '0' ? 0 : 2;
    for (const c of only.has('cut') ? wanted : []) {
      const h = await harness({ mode: 'full', models: c.models, bankImage: c.bank ? files.image : undefined });
      try {
        let base: number | null = null;
        for (const n of levels) {
          const bg = await background(h, ff, files.background, n - 1);
          const r = await cutRuns(h, ff, c.file[cutBf]!, runs, c.rule);
          for (const p of bg) await p.stop();
          await waitUntil(() => h.gw.registry.list().length === 0, 10_000);
          progress(`${c.kind} full ${n}: ${JSON.stringify(r)}`);
          const figs = cutFigures(
            `${c.kind}, full mode, ${n} stream(s) live, B-frames ${cutBf}`,
            r,
            c.target,
            base !== null ? { name: `${c.kind}, 1 stream`, value: base } : undefined,
          );
          if (n === 1) base = figs[0]!.value;
          figs[0]!.note = `${common}; ${figs[0]!.note}; ${variant()}; ${shedNote(h)}`;
          out.push(...figs);
        }
      } finally {
        await h.stop();
      }
    }

    // Adaptive mode: the same violating streams among the most background streams, keyframes-only until
    // escalated; B-frames 2 (OBS default: the decoder holds keyframes ~2 GOPs) and 0 (~1 GOP).
    for (const c of only.has('adaptive') ? wanted : []) {
      const h = await harness({ mode: 'adaptive', models: c.models, bankImage: c.bank ? files.image : undefined });
      try {
        const bg = await background(h, ff, files.background, maxLevel - 1);
        const bgIds = new Set(h.gw.registry.list().map((s) => s.id));
        for (const bf of [2, 0]) {
          const r = await cutRuns(h, ff, c.file[bf]!, adaptiveRuns, c.rule);
          progress(`${c.kind} adaptive bf${bf}: ${JSON.stringify(r)}`);
          const figs = cutFigures(`${c.kind}, adaptive mode, ${maxLevel} stream(s) live, B-frames ${bf}`, r, c.target);
          const bgEsc = h.modes.filter((m) => m.mode === 'full' && bgIds.has(m.streamId)).length;
          figs[0]!.note = `${common}; ${figs[0]!.note}; ${bgEsc} escalations of the ${bgIds.size} benign background streams`;
          out.push(...figs);
        }
        for (const p of bg) await p.stop();
      } finally {
        await h.stop();
      }
    }

    // Bank insert → match.
    if (only.has('insert')) {
      const h = await harness({ mode: 'full', models: [] });
      try {
        const r = await insertToMatch(h, ff, files.still, files.image, opts.quick ? 3 : 10);
        progress(`insert → match: ${JSON.stringify(r)}`);
        const sig = r.map((x) => x.signalMs).filter((x): x is number => x !== null);
        const dec = r.map((x) => x.decisionMs).filter((x): x is number => x !== null);
        const api = r.map((x) => x.apiMs);
        out.push({
          name: 'bank insert (API) → hash_match signal on a live frame, p50',
          unit: 'ms',
          value: round(percentile(sig, 50)),
          note: `p95 ${round(percentile(sig, 95))} ms, ${sig.length}/${r.length} matched; → decision (cut done) p50 ${round(percentile(dec, 50))} ms; of which the API call itself (insert + index refresh) p50 ${round(percentile(api, 50))} ms; target < 1000 ms; load avg ${load()}`,
        });
      } finally {
        await h.stop();
      }
    }

    // CPU per stream: full vs adaptive (calm → keyframes), with the violence fixture model loaded (so
    // PDQ + ONNX per frame count) and hash matching on.
    if (only.has('cpu')) {
      const n = opts.quick ? 5 : 10;
      const windowMs = opts.quick ? 10_000 : 20_000;
      const per: Record<string, Awaited<ReturnType<typeof cpuPerStream>>> = {};
      for (const mode of ['full', 'adaptive'] as const) {
        const h = await harness({ mode, models: [fixtures.redNchw], bankImage: files.image });
        try {
          per[mode] = await cpuPerStream(h, ff, files.background, n, windowMs);
          progress(`cpu ${mode}: ${JSON.stringify(per[mode])}`);
        } finally {
          await h.stop();
        }
      }
      const f = per.full!;
      const a = per.adaptive!;
      const note = (r: typeof f) =>
        `${n} streams, ${windowMs / 1000} s window: gateway process ${r.gateway.toFixed(2)} % + sampler ffmpeg ${r.samplers.toFixed(2)} % per stream; ${Math.round(r.keyframeShare * 100)} % of samplers in keyframe mode; load avg ${load()} (other work shares these cores)`;
      out.push({
        name: 'CPU per stream: adaptive mode (calm: keyframes only)',
        unit: '% of a core',
        value: round(a.perStream, 2),
        baseline: { name: 'full mode', value: round(f.perStream, 2) },
        note: note(a),
      });
      out.push({ name: 'CPU per stream: full mode', unit: '% of a core', value: round(f.perStream, 2), note: note(f) });
      const cores = os.cpus().length;
      out.push({
        name: `streams that fit ${cores} cores, adaptive mode (extrapolated)`,
        unit: 'streams',
        value: Math.floor((cores * 100) / a.perStream),
        baseline: { name: 'full mode (extrapolated)', value: Math.floor((cores * 100) / f.perStream) },
        note: `extrapolated linearly from the measured CPU per stream at ${n} streams (${cores} × 100 % / per-stream %), not measured at that count; ignores escalated streams (each costs the full-mode figure while escalated), publishers and memory`,
      });
    }

    // Capacity, measured at the stream count (not extrapolated): N background streams from the replay child,
    // the default nsfw model plus the fixture "violence" model (both classifier slots busy) and a bank;
    // then, with the N streams still live, violating streams in adaptive mode (escalation and time to cut).
    if (only.has('capacity')) {
      const levelsOf = (env: string | undefined, dflt: number[]) =>
        env
          ?.split(',')
          .map(Number)
          .filter((x) => x >= 1) ?? dflt;
      const fullLevels = levelsOf(process.env.BENCH_CAPACITY_FULL, opts.quick ? [20] : [10, 20, 25]);
      const adaptiveLevels = levelsOf(process.env.BENCH_CAPACITY_ADAPTIVE, opts.quick ? [50, 100] : [50, 100, 150]);
      const windowMs = Number(process.env.BENCH_CAPACITY_WINDOW_MS) || (opts.quick ? 15_000 : 30_000);
      const capRuns = Number(process.env.BENCH_PIPELINE_RUNS) || (opts.quick ? 3 : 10);
      const models = [resolve('models/nsfw'), fixtures.redNchw];
      // The violating-stream runs happen at the issue's target count when it is measured, else the largest.
      const cutAt = Number(process.env.BENCH_CAPACITY_CUT_AT) || (adaptiveLevels.includes(100) ? 100 : adaptiveLevels[adaptiveLevels.length - 1]);
      for (const [mode, levelsFor] of [
        ['full', fullLevels],
        ['adaptive', adaptiveLevels],
      ] as const) {
        for (const n of levelsFor) {
          const h = await harness({ mode, models, bankImage: files.image });
          let loadChild: LoadChild | null = null;
          try {
            const w = await capacityWindow(h, files.background, n, mode, windowMs);
            loadChild = w.load;
            const f = w.figures;
            progress(`capacity ${mode} ${n}: ${JSON.stringify(f)}`);
            out.push({
              name: `capacity, ${mode} mode, ${f.n} streams: gateway CPU (process + its ffmpeg)`,
              unit: '% of a core',
              value: f.gatewayPct,
              note: `${capacityNote(f)}; ${variant()}; ${shedNote(h)}`,
            });
            out.push({ name: `capacity, ${mode} mode, ${f.n} streams: CPU per stream`, unit: '% of a core', value: round(f.gatewayPct / f.n, 2) });
            if (mode === 'adaptive' && n === cutAt) {
              for (const c of cases) {
                const r = await cutRuns(h, ff, c.file[2]!, capRuns, c.rule);
                progress(`capacity adaptive ${n} ${c.kind}: ${JSON.stringify(r)}`);
                const figs = cutFigures(`${c.kind}, adaptive mode, ${f.n} background streams live, B-frames 2`, r, c.target);
                figs[0]!.note = `${common}; ${figs[0]!.note}`;
                out.push(...figs);
              }
            }
          } finally {
            loadChild?.stop();
            await h.stop();
          }
        }
      }
    }
  } finally {
    await fixtures.cleanup();
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const quick = process.argv.includes('--quick');
  run({ quick })
    .then((results) => {
      console.table(
        results.map((r) => ({ name: r.name, value: `${r.value} ${r.unit}`, baseline: r.baseline ? `${r.baseline.value} (${r.baseline.name})` : '' })),
      );
      for (const r of results) if (r.note) console.log(`- ${r.name}: ${r.note}`);
      process.exit(0);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
