import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { FFMPEG, type StreamView } from '../../test/helpers/gateway.ts';
import { NGINX, freePort, nginxConfig, nginxRtmpMissing } from '../../test/helpers/nginx-rtmp.ts';
import { cpuTicks, newAccount, relayFile, rssMiB, startChildGateway, type ChildGateway } from './gateway.ts';
import type { BenchResult } from './types.ts';

/**
 * The relay against nginx-rtmp, same machine, same run (issue 9, "a lean relay").
 *
 * Debian's nginx with libnginx-mod-rtmp is started on loopback with a generated config (one `live`
 * application, nothing else), and modgate as a child process with sampling off (`modgate serve`). For
 * each N (10 and 25; --quick: 5 and 10), N ffmpeg publishers send the same 720p 2.5 Mbit/s FLV in real
 * time (`-re -stream_loop -1 -c copy`), each stream has one ffmpeg player (`-c copy -f null`), and the
 * server's process CPU time (utime + stime from /proc/PID/stat) is read over a window; relay CPU per
 * stream = (CPU under load − idle CPU) / N. nginx runs first, then modgate, with the same publishers'
 * and players' load on the machine. RSS (VmRSS) is read at the end of each window, and idle RSS of
 * modgate with sampling off and with sampling on (the default nsfw model loaded), no streams.
 *
 * Without nginx or its RTMP module the suite prints why and reports nothing.
 *
 * MODGATE_BENCH_CPU_PROF=DIR writes a V8 CPU profile of the modgate process (node --cpu-prof) to DIR;
 * `node --import tsx scripts/bench/cpuprofile-summary.ts DIR/*.cpuprofile` summarises it.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

interface Server {
  name: string;
  pid: number;
  /** The URL a publisher of stream `i` uses. */
  publishUrl(i: number): string;
  /** The play URL of stream `i` once it is live. */
  playUrl(i: number): Promise<string>;
  stop(): Promise<void>;
}

async function startNginx(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'modgate-bench-nginx-'));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig({ dir, rtmpPort: port, app: 'live', logLevel: 'warn', workerConnections: 1024 }));
  const proc: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const net = await import('node:net');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${err}`);
    await sleep(50);
  }
  return {
    name: 'nginx-rtmp',
    pid: proc.pid!,
    publishUrl: (i) => `rtmp://127.0.0.1:${port}/live/s${i}`,
    playUrl: async (i) => `rtmp://127.0.0.1:${port}/live/s${i}`,
    stop: async () => {
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(3_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function modgateServer(gw: ChildGateway, keys: string[]): Promise<Server> {
  return {
    name: 'modgate',
    pid: gw.pid,
    publishUrl: (i) => `rtmp://127.0.0.1:${gw.rtmpPort}/live/${keys[i]}`,
    playUrl: async (i) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        // A keep-alive connection the server closed while the window ran fails once: ask again.
        const res = await gw.api.get<{ streams: StreamView[] }>('/api/v1/streams').catch(() => null);
        const s = res?.body.streams?.find((x) => x.account === `bench-nginx-${i}`);
        if (s?.playPath) return `rtmp://127.0.0.1:${gw.rtmpPort}${s.playPath}`;
        if (Date.now() > deadline) throw new Error(`stream ${i} not live on modgate`);
        await sleep(200);
      }
    },
    stop: () => gw.stop(),
  };
}

/** One ffmpeg player reading the stream without decoding; resolves once it has read some packets. */
function startPlayer(url: string): { proc: ChildProcess; started: Promise<boolean>; stop(): void } {
  const proc = spawn(
    FFMPEG,
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats_period', '1', '-progress', 'pipe:1', '-i', url, '-map', '0', '-c', 'copy', '-f', 'null', '-'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const started = new Promise<boolean>((resolve) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/frame=[1-9]/.test(out)) resolve(true);
      if (out.length > 8192) out = out.slice(-1024);
    });
    proc.once('exit', () => resolve(false));
  });
  return { proc, started, stop: () => proc.kill('SIGKILL') };
}

/** utime and stime (clock ticks) of a process. */
function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]), sys: Number(rest[12]) };
}

function cpuPercent(pid: number, fromTicks: number, fromMs: number): number {
  return ((cpuTicks(pid) - fromTicks) / CLK_TCK / ((performance.now() - fromMs) / 1000)) * 100;
}

interface LoadFigures {
  cpu: number;
  /** Share of the CPU time spent in the kernel (system time). */
  sysShare: number;
  perStream: number;
  rss: number;
  exited: number;
}

async function measure(server: Server, n: number, file: string, windowMs: number, idleCpu: number): Promise<LoadFigures> {
  const publishers: Publisher[] = [];
  const players: Array<ReturnType<typeof startPlayer>> = [];
  try {
    for (let i = 0; i < n; i++) publishers.push(startPublisher({ url: server.publishUrl(i), ffmpegPath: FFMPEG, source: { file, loop: true } }));
    for (let i = 0; i < n; i++) players.push(startPlayer(await server.playUrl(i)));
    const playing = await Promise.race([Promise.all(players.map((p) => p.started)), sleep(60_000).then(() => null)]);
    if (!playing || playing.some((ok) => !ok)) throw new Error(`${server.name}: not every player received frames at ${n} streams`);
    await sleep(2_000);
    const t0 = cpuTicks(server.pid);
    const s0 = cpuSplit(server.pid);
    const w0 = performance.now();
    await sleep(windowMs);
    const cpu = cpuPercent(server.pid, t0, w0);
    const s1 = cpuSplit(server.pid);
    const sysShare = (s1.sys - s0.sys) / Math.max(1, s1.sys - s0.sys + s1.user - s0.user);
    const exited = publishers.filter((p) => p.proc.exitCode !== null).length + players.filter((p) => p.proc.exitCode !== null).length;
    return { cpu, sysShare, perStream: (cpu - idleCpu) / n, rss: rssMiB(server.pid), exited };
  } finally {
    for (const p of players) p.stop();
    await Promise.all(publishers.map((p) => p.stop()));
    await sleep(1_000);
  }
}

async function idle(pid: number, windowMs: number): Promise<{ cpu: number; rss: number }> {
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  await sleep(windowMs);
  return { cpu: cpuPercent(pid, t0, w0), rss: rssMiB(pid) };
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const missing = nginxRtmpMissing();
  if (missing) {
    process.stderr.write(`nginx-rtmp benchmark skipped: ${missing}\n`);
    return [];
  }
  const counts = process.env.BENCH_NGINX_COUNTS ? process.env.BENCH_NGINX_COUNTS.split(',').map(Number) : opts.quick ? [5, 10] : [10, 25];
  const windowMs = opts.quick ? 10_000 : 20_000;
  const file = await relayFile();
  const results: BenchResult[] = [];
  const prof = process.env.MODGATE_BENCH_CPU_PROF;

  // Idle RSS with sampling on: the default model and its worker are what a real deployment loads.
  const sampling = await startChildGateway({ MODGATE_SAMPLING_ENABLED: 'true' });
  await sleep(3_000);
  const samplingIdle = await idle(sampling.pid, 3_000);
  await sampling.stop();

  const gw = await startChildGateway(prof ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${prof}`.trim() } : {});
  const keys: string[] = [];
  for (let i = 0; i < Math.max(...counts); i++) keys.push(await newAccount(gw.api, `bench-nginx-${i}`));
  const modgate = await modgateServer(gw, keys);
  const nginx = await startNginx();
  try {
    await sleep(2_000);
    const idleM = await idle(modgate.pid, windowMs / 2);
    const idleN = await idle(nginx.pid, windowMs / 2);
    results.push({
      name: 'idle RSS, sampling off (0 streams)',
      unit: 'MiB',
      value: round(idleM.rss, 1),
      baseline: { name: 'nginx-rtmp idle RSS', value: round(idleN.rss, 1) },
      note: 'target ≤ 80 MiB',
    });
    results.push({
      name: 'idle RSS, sampling on, default model (0 streams)',
      unit: 'MiB',
      value: round(samplingIdle.rss, 1),
      baseline: { name: 'nginx-rtmp idle RSS', value: round(idleN.rss, 1) },
      note: 'target ≤ 120 MiB',
    });
    results.push({
      name: 'idle CPU, sampling off (0 streams)',
      unit: '% of a core',
      value: round(idleM.cpu, 2),
      baseline: { name: 'nginx-rtmp idle CPU', value: round(idleN.cpu, 2) },
    });
    for (const n of counts) {
      const ng = await measure(nginx, n, file, windowMs, idleN.cpu);
      const mg = await measure(modgate, n, file, windowMs, idleM.cpu);
      const exited = ng.exited + mg.exited;
      results.push({
        name: `relay CPU per stream at ${n} × 720p 2.5 Mbit/s, one player each`,
        unit: '% of a core',
        value: round(mg.perStream, 3),
        baseline: { name: 'nginx-rtmp per stream', value: round(ng.perStream, 3) },
        note: `${n === Math.max(...counts) ? 'target ≤ 1.2×; ' : ''}process CPU ${round(mg.cpu, 1)} vs ${round(ng.cpu, 1)} % over ${windowMs / 1000} s (system time ${Math.round(mg.sysShare * 100)} vs ${Math.round(ng.sysShare * 100)} %)${exited ? `; ${exited} ffmpeg exited in the window` : ''}`,
      });
      results.push({ name: `RSS at ${n} streams`, unit: 'MiB', value: round(mg.rss, 1), baseline: { name: 'nginx-rtmp', value: round(ng.rss, 1) } });
    }
  } finally {
    await nginx.stop();
    await modgate.stop();
  }
  return results;
}
