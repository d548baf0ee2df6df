import { Session } from 'node:inspector/promises';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { FFMPEG, startTestGateway } from '../../test/helpers/gateway.ts';
import { summarise } from './cpuprofile-summary.ts';
import { cpuTicks, relayFile } from './gateway.ts';

/**
 * A CPU profile of the relay alone: an in-process gateway (sampling off), N ffmpeg publishers of the
 * nginx-rtmp benchmark's file and one ffmpeg player each; the V8 profiler runs over the window only
 * (start-up excluded), and the summary (GC share, top functions) is printed.
 *
 *   node --import tsx scripts/bench/relay-profile.ts [N=10] [windowSeconds=15] [out.cpuprofile]
 */
const n = Number(process.argv[2] ?? 10);
const windowMs = Number(process.argv[3] ?? 15) * 1000;
const out = process.argv[4] ?? 'relay.cpuprofile';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const file = await relayFile();
const t = await startTestGateway();
const publishers: Publisher[] = [];
const players: Array<ReturnType<typeof spawn>> = [];
try {
  for (let i = 0; i < n; i++) {
    const a = await t.account(`prof-${i}`);
    publishers.push(startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, source: { file, loop: true } }));
  }
  for (let i = 0; i < n; i++) {
    const s = await t.waitForStream(`prof-${i}`, 30_000);
    players.push(
      spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', t.playUrl(s.id), '-map', '0', '-c', 'copy', '-f', 'null', '-'], {
        stdio: 'ignore',
      }),
    );
  }
  await sleep(5_000);
  // Process CPU (all threads, user + system) over the same window without the profiler, for comparison
  // with the nginx-rtmp benchmark's figure.
  const t0 = cpuTicks(process.pid);
  const w0 = performance.now();
  await sleep(windowMs);
  const cpu = ((cpuTicks(process.pid) - t0) / 100 / ((performance.now() - w0) / 1000)) * 100;
  process.stdout.write(`process CPU without the profiler: ${cpu.toFixed(1)} % of a core (${(cpu / n).toFixed(2)} per stream)\n`);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  await sleep(windowMs);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(out, JSON.stringify(profile));
  const s = summarise([profile as never], 30);
  process.stdout.write(`${JSON.stringify({ busyMs: s.busyMs, totalMs: s.totalMs }, null, 0)}\n`);
  for (const r of s.byCategory) process.stdout.write(`${(r.shareOfBusy * 100).toFixed(1).padStart(6)} %  ${r.name}\n`);
  process.stdout.write('--\n');
  for (const r of s.top) process.stdout.write(`${(r.shareOfBusy * 100).toFixed(1).padStart(6)} %  ${r.name}\n`);
} finally {
  for (const p of players) p.kill('SIGKILL');
  await Promise.all(publishers.map((p) => p.stop()));
  await t.stop();
}
