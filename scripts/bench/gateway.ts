import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeFile, startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { ApiClient, FFMPEG, REPO_ROOT, type StreamView } from '../../test/helpers/gateway.ts';
import { nmsSessions } from '../../gateway/ingest/nms-adapter.ts';
import { startNms } from '../../test/helpers/nms.ts';
import { rawPublish } from '../../test/helpers/rtmp-client.ts';
import { wsPublish } from '../../test/helpers/ws-publisher.ts';
import type { BenchResult } from './types.ts';
import { percentile, rssMiB } from './kit.ts';

export { rssMiB };

/**
 * Gateway core benchmark. The gateway runs as a child process (`node bin/modgate.js serve`, log level
 * silent) on a fresh data directory; clients run in this process.
 *
 *  - Cut latency: API call → the server closing the publisher's connection, seen on the publisher side
 *    (a raw RTMP client's / a `ws` client's socket 'close'), p50/p99 over N publish→cut cycles.
 *    Baselines: the API round-trip alone (same cycles), and node-media-server's own `session.close()`
 *    (a half-close, `socket.end()`) measured against a real ffmpeg publisher on a bare node-media-server:
 *    how long ffmpeg keeps its connection after it (capped), next to our cut with the same ffmpeg.
 *  - Publish authorization: TCP connect → NetStream.Publish.Start (accepted; the gate runs in the same
 *    tick) or → close (refused), vs a bare node-media-server accept without any gate, same run.
 *  - CPU and RSS of the gateway process (from /proc/PID/stat and /proc/PID/status) with 1/10/25 (quick:
 *    1/5) concurrent 720p 2.5 Mbit/s RTMP publishers relayed (`-re -stream_loop -1 -c copy` of a file
 *    cached under .bench/).
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface ChildGateway {
  proc: ChildProcess;
  pid: number;
  rtmpPort: number;
  httpUrl: string;
  api: ApiClient;
  stop(): Promise<void>;
}

interface ServeInfo {
  rtmpUrl: string;
  httpUrl: string;
  demo: { operatorToken: string };
}

export async function startChildGateway(env: Record<string, string> = {}): Promise<ChildGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'modgate-bench-'));
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'bin/modgate.js'), 'serve', '--data-dir', dataDir, '--rtmp-port', '0', '--http-port', '0', '--json'], {
    cwd: REPO_ROOT,
    // Relay only: the sampling pipeline (ffmpeg + classifiers) has its own benchmarks (sampler, onnx, pipeline).
    env: {
      ...process.env,
      MODGATE_LOG_LEVEL: 'silent',
      MODGATE_RTMP_HOST: '127.0.0.1',
      MODGATE_HTTP_HOST: '127.0.0.1',
      MODGATE_SAMPLING_ENABLED: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const deadline = Date.now() + 60_000;
  const parse = (): ServeInfo | null => {
    try {
      return JSON.parse(out) as ServeInfo;
    } catch {
      return null;
    }
  };
  let info = parse();
  while (!info) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${err}`);
    await sleep(50);
    info = parse();
  }
  const httpUrl = info.httpUrl.replace('localhost', '127.0.0.1');
  let stopping = false;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`gateway child exited unexpectedly (${code ?? signal}):\n${err.slice(-4000)}\n`);
  });
  return {
    proc,
    pid: proc.pid!,
    rtmpPort: Number(new URL(info.rtmpUrl).port),
    httpUrl,
    api: new ApiClient(httpUrl, info.demo.operatorToken),
    stop: async () => {
      stopping = true;
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function newAccount(api: ApiClient, handle: string, verified = true): Promise<string> {
  const a = await api.post('/api/v1/accounts', { handle, verified });
  if (a.status !== 201) throw new Error(`create ${handle}: ${a.status} ${JSON.stringify(a.body)}`);
  const k = await api.post<{ streamKey: string }>(`/api/v1/accounts/${handle}/keys`);
  return k.body.streamKey;
}

async function liveStreamOf(api: ApiClient, handle: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const s = (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams.find((x) => x.account === handle);
    if (s) return s.id;
    await sleep(5);
  }
  throw new Error(`no live stream of ${handle}`);
}

async function cutLatencyRtmp(gw: ChildGateway, cycles: number): Promise<{ close: number[]; api: number[] }> {
  const key = await newAccount(gw.api, 'bench-cut-rtmp');
  const close: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const { client } = await rawPublish(gw.rtmpPort, key);
    const id = await liveStreamOf(gw.api, 'bench-cut-rtmp');
    const t0 = performance.now();
    const res = gw.api.post(`/api/v1/streams/${id}/cut`, { reason: 'bench' }).then(() => performance.now());
    const closedAt = await Promise.race([client.closedAt, sleep(10_000).then(() => NaN)]);
    close.push(closedAt - t0);
    api.push((await res) - t0);
    client.destroy();
  }
  return { close, api };
}

async function cutLatencyWs(gw: ChildGateway, cycles: number): Promise<{ close: number[]; api: number[] }> {
  const key = await newAccount(gw.api, 'bench-cut-ws');
  const wsUrl = `${gw.httpUrl.replace(/^http/, 'ws')}/ingest`;
  const close: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const c = wsPublish({ url: wsUrl, streamKey: key });
    const id = await c.accepted;
    if (!id) throw new Error('WebSocket publish refused');
    const t0 = performance.now();
    const res = gw.api.post(`/api/v1/streams/${id}/cut`, { reason: 'bench' }).then(() => performance.now());
    // 'close' fires when the server's close frame arrives (the client answers it at once).
    const closed = await Promise.race([c.closed, sleep(10_000).then(() => null)]);
    close.push(closed ? performance.now() - t0 : NaN);
    api.push((await res) - t0);
    await c.close();
  }
  return { close, api };
}

/** Real ffmpeg on our gateway: API cut → ffmpeg exits (it sees the reset on its next write). */
async function ffmpegCutOnGateway(gw: ChildGateway, cycles: number): Promise<number[]> {
  const key = await newAccount(gw.api, 'bench-cut-ffmpeg');
  const out: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const p = startPublisher({
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
      ffmpegPath: FFMPEG,
      width: 320,
      height: 240,
      rate: 15,
      durationSec: 60,
      bitrateKbps: 300,
    });
    const id = await liveStreamOf(gw.api, 'bench-cut-ffmpeg').catch(async (e: unknown) => {
      await p.stop();
      throw e;
    });
    await sleep(1_000);
    const t0 = performance.now();
    await gw.api.post(`/api/v1/streams/${id}/cut`, { reason: 'bench' });
    const r = await Promise.race([p.done.then(() => performance.now() - t0), sleep(10_000).then(() => NaN)]);
    out.push(r);
    await p.stop();
  }
  return out;
}

interface NmsSessionLike {
  streamPath: string;
  isPublisher: boolean;
  inBytes: number;
  socket: { destroyed: boolean };
  close(): void;
}

/**
 * node-media-server's own way to end a session: `session.close()` = `socket.end()`, a half-close. With a
 * real ffmpeg publisher, measures how long ffmpeg stays connected and keeps sending (capped at `capMs`).
 */
async function halfCloseBaseline(cycles: number, capMs: number): Promise<{ connectedMs: number[]; bytesAfter: number[] }> {
  const nms = await startNms();
  const sessions = nmsSessions();
  const connectedMs: number[] = [];
  const bytesAfter: number[] = [];
  try {
    for (let i = 0; i < cycles; i++) {
      const name = `half${i}`;
      const p = startPublisher({ url: nms.url(name), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
      await nms.waitForPublish(name);
      await sleep(1_000);
      const session = [...sessions.values()].find((s) => (s as NmsSessionLike).streamPath === `/live/${name}` && (s as NmsSessionLike).isPublisher) as
        NmsSessionLike | undefined;
      if (!session) throw new Error('publisher session not found');
      const before = session.inBytes;
      const t0 = performance.now();
      session.close();
      const exit = await Promise.race([p.done.then(() => performance.now() - t0), sleep(capMs).then(() => NaN)]);
      connectedMs.push(Number.isNaN(exit) ? capMs : exit);
      bytesAfter.push(session.inBytes - before);
      await p.stop();
    }
  } finally {
    await nms.stop();
  }
  return { connectedMs, bytesAfter };
}

async function authLatency(gw: ChildGateway, n: number): Promise<{ accepted: number[]; refused: number[] }> {
  const key = await newAccount(gw.api, 'bench-auth');
  const unverifiedKey = await newAccount(gw.api, 'bench-auth-unverified', false);
  const accepted: number[] = [];
  const refused: number[] = [];
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    const ok = await rawPublish(gw.rtmpPort, key);
    if (!ok.started) throw new Error('verified publish not accepted');
    accepted.push(performance.now() - t0);
    ok.client.destroy();
    t0 = performance.now();
    const bad = await rawPublish(gw.rtmpPort, i % 2 ? unverifiedKey : `sk_${'z'.repeat(32)}`);
    refused.push((await bad.client.closedAt) - t0);
  }
  return { accepted, refused };
}

async function bareNmsAuth(n: number): Promise<number[]> {
  const nms = await startNms();
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await rawPublish(nms.port, `bare${i}`);
      if (!r.started) throw new Error('bare node-media-server did not accept');
      out.push(performance.now() - t0);
      r.client.destroy();
    }
  } finally {
    await nms.stop();
  }
  return out;
}

export async function relayFile(): Promise<string> {
  const dir = join(REPO_ROOT, '.bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'gateway-720p30-2500k.flv');
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp.flv`;
    await makeFile({
      file: tmp,
      ffmpegPath: FFMPEG,
      width: 1280,
      height: 720,
      rate: 30,
      durationSec: 20,
      bitrateKbps: 2500,
      preset: 'veryfast',
      bframes: 2,
      audio: true,
      format: 'flv',
    });
    renameSync(tmp, file);
  }
  return file;
}

async function relayCost(gw: ChildGateway, counts: number[], windowMs: number): Promise<BenchResult[]> {
  const file = await relayFile();
  const results: BenchResult[] = [];
  const idleStart = cpuTicks(gw.pid);
  await sleep(windowMs);
  const idleCpu = ((cpuTicks(gw.pid) - idleStart) / CLK_TCK / (windowMs / 1000)) * 100;
  const idleRss = rssMiB(gw.pid);
  results.push({ name: 'gateway idle CPU (0 streams)', unit: '% of a core', value: round(idleCpu, 1) });
  results.push({ name: 'gateway idle RSS (0 streams)', unit: 'MiB', value: round(idleRss, 1) });

  const keys: string[] = [];
  const max = Math.max(...counts);
  for (let i = 0; i < max; i++) keys.push(await newAccount(gw.api, `bench-relay-${i}`));
  const publishers: Publisher[] = [];
  try {
    for (const n of counts) {
      while (publishers.length < n) {
        const i = publishers.length;
        publishers.push(startPublisher({ url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${keys[i]}`, ffmpegPath: FFMPEG, source: { file, loop: true } }));
      }
      const deadline = Date.now() + 30_000;
      for (;;) {
        const live = (await gw.api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams.filter((s) => s.account.startsWith('bench-relay-')).length;
        if (live >= n) break;
        if (Date.now() > deadline) throw new Error(`only ${live}/${n} relay publishers live`);
        await sleep(200);
      }
      await sleep(2_000);
      const t0 = cpuTicks(gw.pid);
      const w0 = performance.now();
      await sleep(windowMs);
      const cpu = ((cpuTicks(gw.pid) - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
      const rss = rssMiB(gw.pid);
      const exited = publishers.filter((p) => p.proc.exitCode !== null).length;
      const note = exited ? `${exited} publisher(s) exited during the window` : undefined;
      results.push({
        name: `gateway CPU, ${n} × 720p 2.5 Mbit/s RTMP`,
        unit: '% of a core',
        value: round(cpu, 1),
        baseline: { name: 'idle', value: round(idleCpu, 1) },
        note,
      });
      results.push({ name: `gateway CPU per stream at ${n}`, unit: '% of a core', value: round((cpu - idleCpu) / n, 2) });
      results.push({ name: `gateway RSS, ${n} streams`, unit: 'MiB', value: round(rss, 1), baseline: { name: 'idle', value: round(idleRss, 1) } });
      results.push({ name: `gateway RSS per stream at ${n}`, unit: 'MiB', value: round((rss - idleRss) / n, 2) });
    }
  } finally {
    await Promise.all(publishers.map((p) => p.stop()));
  }
  return results;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const cycles = opts.quick ? 20 : 100;
  const authN = opts.quick ? 50 : 200;
  const results: BenchResult[] = [];
  const gw = await startChildGateway();
  try {
    const rtmp = await cutLatencyRtmp(gw, cycles);
    const apiP50 = percentile(rtmp.api, 50);
    results.push({
      name: 'cut latency RTMP p50 (API call → publisher socket closed)',
      unit: 'ms',
      value: round(percentile(rtmp.close, 50)),
      baseline: { name: 'API round-trip alone p50', value: round(apiP50) },
      note: `${cycles} cycles, raw RTMP client; failures (no close in 10 s): ${rtmp.close.filter(Number.isNaN).length}`,
    });
    results.push({
      name: 'cut latency RTMP p99',
      unit: 'ms',
      value: round(percentile(rtmp.close, 99)),
      baseline: { name: 'API round-trip alone p99', value: round(percentile(rtmp.api, 99)) },
      note: 'target ≤ 1000 ms',
    });

    const ws = await cutLatencyWs(gw, cycles);
    results.push({
      name: 'cut latency WebSocket p50 (API call → close frame at the client)',
      unit: 'ms',
      value: round(percentile(ws.close, 50)),
      baseline: { name: 'API round-trip alone p50', value: round(percentile(ws.api, 50)) },
      note: `${cycles} cycles`,
    });
    results.push({
      name: 'cut latency WebSocket p99',
      unit: 'ms',
      value: round(percentile(ws.close, 99)),
      baseline: { name: 'API round-trip alone p99', value: round(percentile(ws.api, 99)) },
      note: 'target ≤ 1000 ms',
    });

    const ffCycles = opts.quick ? 2 : 5;
    const capMs = opts.quick ? 5_000 : 10_000;
    const ours = await ffmpegCutOnGateway(gw, ffCycles);
    const half = await halfCloseBaseline(ffCycles, capMs);
    results.push({
      name: 'real ffmpeg: cut → publisher gone, p50',
      unit: 'ms',
      value: round(percentile(ours, 50)),
      baseline: {
        name: `node-media-server session.close() (half-close) → publisher gone, p50, capped at ${capMs} ms`,
        value: round(percentile(half.connectedMs, 50)),
      },
      note: `${ffCycles} cycles each; after the half-close node-media-server still received ${Math.round(percentile(half.bytesAfter, 50) / 1024)} KiB (p50) from the publisher`,
    });

    const auth = await authLatency(gw, authN);
    const bare = await bareNmsAuth(authN);
    results.push({
      name: 'publish authorization p50, accepted (TCP connect → Publish.Start)',
      unit: 'ms',
      value: round(percentile(auth.accepted, 50)),
      baseline: { name: 'bare node-media-server accept p50', value: round(percentile(bare, 50)) },
      note: `${authN} publishes each; includes TCP connect, RTMP handshake, connect/createStream/publish`,
    });
    results.push({
      name: 'publish authorization p99, accepted',
      unit: 'ms',
      value: round(percentile(auth.accepted, 99)),
      baseline: { name: 'bare node-media-server accept p99', value: round(percentile(bare, 99)) },
    });
    results.push({
      name: 'publish authorization p50, refused (TCP connect → closed)',
      unit: 'ms',
      value: round(percentile(auth.refused, 50)),
      baseline: { name: 'bare node-media-server accept p50', value: round(percentile(bare, 50)) },
    });
    results.push({
      name: 'publish authorization p99, refused',
      unit: 'ms',
      value: round(percentile(auth.refused, 99)),
      baseline: { name: 'bare node-media-server accept p99', value: round(percentile(bare, 99)) },
    });

    results.push(...(await relayCost(gw, opts.quick ? [1, 5] : [1, 10, 25], opts.quick ? 5_000 : 10_000)));
  } finally {
    await gw.stop();
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const quick = process.argv.includes('--quick');
  run({ quick })
    .then((results) => {
      console.table(
        results.map((r) => ({
          name: r.name,
          value: `${r.value} ${r.unit}`,
          baseline: r.baseline ? `${r.baseline.value} (${r.baseline.name})` : '',
        })),
      );
      for (const r of results) if (r.note) console.log(`- ${r.name}: ${r.note}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
