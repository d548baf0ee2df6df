import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import type { GatewayProcess } from '../../test/helpers/gateway-process.ts';
import { ApiClient, FFMPEG, REPO_ROOT, waitFor } from '../../test/helpers/gateway.ts';
import { liveStreams, startPair, stopPair, violatorKey, type Pair } from './cross-node.ts';
import { rssMiB } from './gateway.ts';
import { compare, liveBytes, readSnapshot, retainerPath, type Snapshot } from './heap-snapshot.ts';
import type { BenchResult } from './types.ts';

/**
 * Memory over many stream lifecycles (issue 11's "flat" soak, told apart from a plateau): two
 * `modgate serve` processes on one PostgreSQL database, both sampling in keyframe mode (hash matching)
 * as the soak does, with the default classifiers (nsfw model, copy descriptor; MODGATE_MEMORY_MODELS=0:
 * hash matching only, as the soak), started with `--heapsnapshot-signal=SIGUSR2`. Rounds of MODGATE_MEMORY_STREAMS
 * (default 60; --quick 30) short publishes (ffmpeg, 320×180, 4–7 s, MODGATE_MEMORY_SLOTS (8) at a
 * time across both nodes); every fifth is a fresh account showing a banked picture (a decision, a cut), every third
 * non-violating one is killed mid-stream (the publisher vanishes). After each round, once no stream is
 * live, each node writes a heap snapshot: it forces a full GC, so the snapshot's live bytes (and heap used
 * read right after) are the honest heap. Rounds: MODGATE_MEMORY_ROUNDS (default 6; --quick 3), the first
 * a warm-up. The figure is heap growth per 100 stream lifecycles (a least-squares slope over the rounds
 * after the warm-up), and the snapshots after the warm-up and after the last round are compared by
 * constructor (count and self size), with a retainer path for the top growers' new objects. The whole
 * comparison goes to stderr and to MODGATE_MEMORY_REPORT (default /tmp/modgate-memory-<time>.md).
 *
 * On demand (`npm run bench -- memory`). Needs PostgreSQL and ffmpeg.
 */

const SLOTS = Number(process.env.MODGATE_MEMORY_SLOTS ?? 8);
const BANKED = path.join(REPO_ROOT, 'test/fixtures/evasion/banked/astronaut.jpg');
const MiB = 2 ** 20;

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

function metricMiB(text: string, name: string): number {
  const m = new RegExp(`^modgate_${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) / MiB : Number.NaN;
}

interface Point {
  round: number;
  lifecycles: number;
  /** Sum of self sizes of the snapshot's V8 heap objects (MiB): the live heap after a full GC. */
  live: number;
  /** Native memory the snapshot sees (ArrayBuffer backing stores: Buffers), MiB. */
  native: number;
  heapUsed: number;
  external: number;
  rss: number;
  load: string;
}

/** Has `node` write a heap snapshot into `dir`; resolves with its path once written and the node answers again. */
async function snapshot(node: GatewayProcess, api: ApiClient, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  // Node names the file Heap.<date>.<time>.<pid>.<thread>.<seq>.heapsnapshot.
  const mine = (f: string) => f.includes(`.${node.child.pid}.`) && f.endsWith('.heapsnapshot');
  node.child.kill('SIGUSR2');
  const file = await waitFor(() => readdirSync(dir).find((f) => !before.has(f) && mine(f)) ?? null, 120_000, 'the heap snapshot file');
  const full = path.join(dir, file);
  // The snapshot is written on the main thread: once /metrics answers, it is complete.
  let size = -1;
  await waitFor(
    async () => {
      const res = await api.get<string>('/metrics').catch(() => null);
      const now = statSync(full).size;
      const done = res?.status === 200 && now === size && now > 0;
      size = now;
      return done ? true : null;
    },
    300_000,
    'the snapshot written',
  );
  return full;
}

const slope = (xs: number[], ys: number[]): number => {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
};

function growersTable(label: string, first: Snapshot, last: Snapshot, top = 15): string {
  const rows = compare(first, last).slice(0, top);
  const lines = [
    `### node ${label}: top growers, snapshot after round 1 → after the last round`,
    '',
    '| constructor | count | self size (KiB) | Δ KiB | new objects (count / KiB) |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.constructor.replace(/\|/g, '\\|').slice(0, 60)} | ${r.countBefore} → ${r.countAfter} | ${(r.bytesBefore / 1024).toFixed(0)} → ${(r.bytesAfter / 1024).toFixed(0)} | ${((r.bytesAfter - r.bytesBefore) / 1024).toFixed(1)} | ${r.newCount} / ${(r.newBytes / 1024).toFixed(1)} |`,
    ),
    '',
    'Retainer paths (root → … → a new object of the group):',
    '',
  ];
  for (const r of rows.slice(0, 6)) {
    for (const sample of [0, Math.floor(r.newCount / 2)]) {
      const p = r.newCount > sample ? retainerPath(first, last, r.constructor, sample) : null;
      if (p) lines.push(`- ${r.constructor.slice(0, 60)} #${sample}: ${p.slice(0, 1200)}`);
    }
  }
  return lines.join('\n');
}

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const rounds = Number(process.env.MODGATE_MEMORY_ROUNDS ?? (o.quick ? 3 : 6));
  const perRound = Number(process.env.MODGATE_MEMORY_STREAMS ?? (o.quick ? 30 : 60));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-heap-'));
  // The default classifiers (the nsfw model, the copy descriptor over its forward pass, hash and video
  // matching), unlike the soak: their per-stream state is what a stream's end should release.
  const config = {
    sampling: { enabled: true, mode: 'keyframe' },
    // `{}`: the gateway's own defaults (the test helper's are `models: []`).
    classifiers: process.env.MODGATE_MEMORY_MODELS === '0' ? { models: [] } : {},
  };
  const pair: Pair = await startPair('memory', SLOTS, config, {}, ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`]);
  const publishers = new Set<Publisher>();
  const benchErrors: string[] = [];
  const series: Record<'a' | 'b', Point[]> = { a: [], b: [] };
  const kept: Record<'a' | 'b', Snapshot[]> = { a: [], b: [] };
  let lifecycles = 0;
  let decisions = 0;
  const reportFile = process.env.MODGATE_MEMORY_REPORT ?? path.join(os.tmpdir(), `modgate-memory-${Date.now()}.md`);
  // Written after every round (a run cut short still leaves its comparison so far).
  const writeReport = () => {
    const report: string[] = [
      `# memory bench ${new Date().toISOString()}`,
      '',
      `${rounds} rounds of ${perRound} publishes, ${SLOTS} at a time across two nodes; ${decisions} decisions; ${benchErrors.length} bench-side errors${benchErrors[0] ? ` (first: ${benchErrors[0].slice(0, 160)})` : ''}`,
      '',
      '| round | lifecycles (both nodes) | A live heap after GC (MiB) | A native | A heap used | A external | A RSS | B live heap | B native | B heap used | B external | B RSS | load |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      ...series.a.map((a, i) => {
        const b = series.b[i]!;
        return `| ${a.round} | ${a.lifecycles} | ${a.live.toFixed(2)} | ${a.native.toFixed(2)} | ${a.heapUsed.toFixed(2)} | ${a.external.toFixed(2)} | ${a.rss.toFixed(0)} | ${b.live.toFixed(2)} | ${b.native.toFixed(2)} | ${b.heapUsed.toFixed(2)} | ${b.external.toFixed(2)} | ${b.rss.toFixed(0)} | ${b.load} |`;
      }),
      '',
    ];
    for (const node of ['a', 'b'] as const) {
      const [first, last] = kept[node];
      if (first && last) report.push(growersTable(node.toUpperCase(), first, last), '');
    }
    writeFileSync(reportFile, report.join('\n'));
  };
  try {
    const bank = await pair.apiA.post('/api/v1/banks', { name: 'tve', category: 'terrorist-violent-extremism' });
    if (bank.status !== 200 && bank.status !== 201) throw new Error(`create bank: ${bank.status} ${JSON.stringify(bank.body)}`);
    const hash = (await hashFile(BANKED))[0]!.hash;
    await pair.apiA.post('/api/v1/banks/tve/entries', { entries: [{ hash }] });
    const nodeOf = (slot: number) => (slot % 2 === 0 ? pair.a : pair.b);
    let seq = 0;
    const liveCount = () => liveStreams(pair);

    for (let round = 1; round <= rounds; round++) {
      let started = 0;
      const loop = async (slot: number) => {
        while (started < perRound) {
          const n = ++started;
          const violating = n % 5 === 0;
          let key = pair.keys[slot]!;
          if (violating) key = (await violatorKey(pair, 'memory', `violator${slot}x${seq++}`, benchErrors)) ?? key;
          const killed = !violating && n % 3 === 0;
          const p = startPublisher({
            url: nodeOf(slot).publishUrl(key),
            ffmpegPath: FFMPEG,
            width: 320,
            height: 180,
            rate: 10,
            gopSec: 1,
            durationSec: 4 + (n % 4),
            pattern: { color: slot % 3 === 0 ? 'darkslateblue' : slot % 3 === 1 ? 'darkgreen' : 'maroon' },
            ...(violating ? { image: { path: BANKED, afterSec: 1 } } : {}),
          });
          publishers.add(p);
          const timer = killed ? setTimeout(() => void p.stop('SIGKILL'), 3_000) : null;
          await p.done;
          if (timer) clearTimeout(timer);
          publishers.delete(p);
          lifecycles++;
        }
      };
      await Promise.all(Array.from({ length: SLOTS }, (_, s) => loop(s)));
      await waitFor(async () => ((await liveCount()) === 0 ? true : null), 120_000, 'every stream ended').catch((err: Error) => benchErrors.push(err.message));
      // Ends are written before the node's own teardown (sampler, decoders) has finished, and nms keeps an
      // ended publisher's session for its 30 s reconnect grace: the snapshot waits that out (MODGATE_MEMORY_SETTLE_MS).
      await new Promise((r) => setTimeout(r, Number(process.env.MODGATE_MEMORY_SETTLE_MS ?? 32_000)));
      decisions = Number(
        (
          await pair.store.db
            .selectFrom('decisions')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirst()
        )?.n ?? 0,
      );
      for (const node of ['a', 'b'] as const) {
        const proc = node === 'a' ? pair.a : pair.b;
        const api = node === 'a' ? pair.apiA : pair.apiB;
        const file = await snapshot(proc, api, dir);
        const text = String((await api.get<string>('/metrics')).body);
        const snap = readSnapshot(file);
        series[node].push({
          round,
          lifecycles,
          live: liveBytes(snap) / MiB,
          native: liveBytes(snap, true) / MiB,
          heapUsed: metricMiB(text, 'nodejs_heap_size_used_bytes'),
          external: metricMiB(text, 'nodejs_external_memory_bytes'),
          rss: rssMiB(proc.child.pid!),
          load: load(),
        });
        // Kept (parsed, in memory): the snapshot after the warm-up round and the latest; files are removed (100+ MiB each).
        kept[node] = round === 1 ? [snap] : [kept[node][0]!, snap];
        rmSync(file);
        const pt = series[node].at(-1)!;
        process.stderr.write(
          `memory: ${new Date().toISOString().slice(11, 19)} round ${round} node ${node.toUpperCase()}: ${lifecycles} lifecycles, live heap ${pt.live.toFixed(2)} MiB, native ${pt.native.toFixed(2)}, heap used ${pt.heapUsed.toFixed(2)}, external ${pt.external.toFixed(2)}, RSS ${pt.rss.toFixed(0)} MiB, load ${pt.load}\n`,
        );
      }
      writeReport();
    }
  } finally {
    await Promise.allSettled([...publishers].map((p) => p.stop()));
    await stopPair(pair);
  }

  writeReport();
  process.stderr.write(`(report: ${reportFile})\n`);
  rmSync(dir, { recursive: true, force: true });

  const out: BenchResult[] = [];
  for (const node of ['a', 'b'] as const) {
    // Per node, half the lifecycles were its own: the slope is per 100 of the node's streams.
    const pts = series[node].slice(1);
    const xs = pts.map((p) => p.lifecycles / 2 / 100);
    const label = node.toUpperCase();
    const first = series[node][0];
    const lastPt = series[node].at(-1);
    if (!first || !lastPt) continue;
    out.push({
      name: `node ${label} live heap after GC, per 100 of its stream lifecycles (slope over rounds 2–${rounds})`,
      unit: 'KiB',
      value: slope(
        xs,
        pts.map((p) => p.live * 1024),
      ),
      note: `series (MiB, per round): ${series[node].map((p) => p.live.toFixed(2)).join(', ')}`,
    });
    out.push({
      name: `node ${label} live heap after GC after ${lastPt.lifecycles} lifecycles (both nodes)`,
      unit: 'MiB',
      value: lastPt.live,
      baseline: { name: `after the warm-up round (${first.lifecycles})`, value: first.live },
      note: `external ${first.external.toFixed(1)} → ${lastPt.external.toFixed(1)} MiB, RSS ${first.rss.toFixed(0)} → ${lastPt.rss.toFixed(0)} MiB; load ${first.load} → ${lastPt.load}`,
    });
  }
  out.push({
    name: 'stream lifecycles (publishes)',
    unit: 'publishes',
    value: lifecycles,
    note: `${decisions} decisions; ${benchErrors.length} bench-side error(s); report ${reportFile}`,
  });
  return out;
}
