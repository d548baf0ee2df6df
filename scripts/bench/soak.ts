import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { ApiClient, FFMPEG, REPO_ROOT, waitFor } from '../../test/helpers/gateway.ts';
import type { GatewayProcess } from '../../test/helpers/gateway-process.ts';
import { liveStreams, startPair, stopPair, violatorKey, type Pair } from './cross-node.ts';
import { rssMiB } from './gateway.ts';
import type { BenchResult } from './types.ts';

/**
 * Soak (issue 11): 20 live streams across 2 gateway processes on one PostgreSQL database, every stream
 * reconnecting (its ffmpeg publisher stopped and started again after 20–60 s of media), for
 * MODGATE_SOAK_MINUTES (default 30; --quick: 3). Both nodes sample every stream (keyframe mode: the shared
 * keyframe decoders, hash matching only). Every fifth reconnect of a slot is a fresh account showing a
 * banked picture, so decisions are made all along; at the end every violating stream that went live must
 * have its decision. A violating stream live over 10 s without one is told apart: `missed` when no
 * hash-match signal of it was stored either (detection did not see the picture: keyframe mode on a loaded
 * machine), `lost` when a match was stored but no decision was (the figure that must be 0). RSS, V8 heap
 * used (and external memory: Buffers) from each node's /metrics, open file descriptors and child processes
 * of each node are read once the first 20 streams are live and again at the end, after the last publishers
 * stopped (the "same run" baseline is the start), so RSS growth can be told from heap growth.
 *
 * Meant to run unattended for 30 minutes: a failed reading or bench-side write is counted and reported,
 * not thrown; a node that exits is reported as such. The load average at start and end is in the notes.
 *
 * Run it on its own (`npm run bench -- soak`; it is not part of the default run). Needs PostgreSQL.
 */

const SLOTS = 20;
const BANKED = path.join(REPO_ROOT, 'test/fixtures/evasion/banked/astronaut.jpg');

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function children(pid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

interface Reading {
  rss: number;
  fds: number;
  children: number;
  /** MiB; NaN when /metrics did not answer. */
  heapUsed: number;
  external: number;
}

const MiB = 2 ** 20;

/** A prom-client default metric of the node (`modgate_` prefix, one `node` label), in MiB. */
function metricMiB(text: string, name: string): number {
  const m = new RegExp(`^modgate_${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) / MiB : Number.NaN;
}

/**
 * One reading of a node. The heap figures are the least of five /metrics reads a second apart: heap used
 * saw-tooths with every minor GC, and its low point is the live heap, which a leak would raise.
 */
async function read(node: GatewayProcess, api: ApiClient): Promise<Reading> {
  const pid = node.child.pid!;
  if (!node.alive()) return { rss: Number.NaN, fds: Number.NaN, children: Number.NaN, heapUsed: Number.NaN, external: Number.NaN };
  let heapUsed = Number.NaN;
  let external = Number.NaN;
  for (let i = 0; i < 5; i++) {
    try {
      const text = String((await api.get<string>('/metrics')).body);
      heapUsed = Math.min(Number.isNaN(heapUsed) ? Infinity : heapUsed, metricMiB(text, 'nodejs_heap_size_used_bytes'));
      external = Math.min(Number.isNaN(external) ? Infinity : external, metricMiB(text, 'nodejs_external_memory_bytes'));
    } catch {
      // counted as NaN below if no read answered
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  try {
    return { rss: rssMiB(pid), fds: fds(pid), children: children(pid), heapUsed, external };
  } catch {
    return { rss: Number.NaN, fds: Number.NaN, children: Number.NaN, heapUsed, external };
  }
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const minutes = Number(process.env.MODGATE_SOAK_MINUTES ?? (o.quick ? 3 : 30));
  const config = { sampling: { enabled: true, mode: 'keyframe' }, classifiers: { models: [] } };
  const pair: Pair = await startPair('soak', SLOTS, config);
  const publishers = new Set<Publisher>();
  const violators: string[] = [];
  let reconnects = 0;
  let refusedStarts = 0;
  const benchErrors: string[] = [];
  let loadAtStart = '';
  try {
    const bank = await pair.apiA.post('/api/v1/banks', { name: 'tve', category: 'terrorist-violent-extremism' });
    if (bank.status !== 200 && bank.status !== 201) throw new Error(`create bank: ${bank.status} ${JSON.stringify(bank.body)}`);
    const hash = (await hashFile(BANKED))[0]!.hash;
    await pair.apiA.post('/api/v1/banks/tve/entries', { entries: [{ hash }] });

    const nodeOf = (slot: number) => (slot % 2 === 0 ? pair.a : pair.b);
    const publish = (slot: number, key: string, violating: boolean, seconds: number): Publisher => {
      const p = startPublisher({
        url: nodeOf(slot).publishUrl(key),
        ffmpegPath: FFMPEG,
        width: 320,
        height: 180,
        rate: 10,
        gopSec: 1,
        durationSec: seconds,
        pattern: { color: slot % 3 === 0 ? 'darkslateblue' : slot % 3 === 1 ? 'darkgreen' : 'maroon' },
        ...(violating ? { image: { path: BANKED, afterSec: 3 } } : {}),
      });
      publishers.add(p);
      void p.done.then(() => publishers.delete(p));
      return p;
    };
    // A bench-side read that times out (the machine loaded) is -1 and counted, not the end of the run.
    const liveCount = async () => {
      try {
        return await liveStreams(pair);
      } catch (err) {
        benchErrors.push((err as Error).message);
        return -1;
      }
    };

    const until = Date.now() + minutes * 60_000;
    let violatorSeq = 0;
    // Each slot is an encoder that reconnects: a publish that ends (its time is up, it was refused, or a
    // loaded machine let the handshake time out) is followed by the next one.
    const loop = async (slot: number) => {
      let n = 0;
      while (Date.now() < until) {
        n++;
        const violating = n % 5 === 0;
        let key = pair.keys[slot]!;
        if (violating) {
          const handle = `violator${slot}x${violatorSeq++}`;
          const fresh = await violatorKey(pair, 'soak', handle, benchErrors);
          if (fresh) {
            key = fresh;
            violators.push(handle);
          }
        }
        const seconds = Math.min(20 + Math.floor(Math.random() * 40), Math.max(5, Math.ceil((until - Date.now()) / 1000)));
        try {
          const p = publish(slot, key, violating, seconds);
          const end = await p.done;
          reconnects++;
          if (end.code !== 0 && !violating) refusedStarts++;
        } catch (err) {
          benchErrors.push((err as Error).message);
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    };
    const loops = Promise.all(Array.from({ length: SLOTS }, (_, s) => loop(s)));
    // The baseline reading: once all 20 are live at the same time (or, on a machine too loaded for that, the most seen in 3 minutes).
    let most = 0;
    const startBy = Date.now() + 180_000;
    while (Date.now() < startBy && most < SLOTS) {
      most = Math.max(most, await liveCount());
      await new Promise((r) => setTimeout(r, 250));
    }
    const [startA, startB] = await Promise.all([read(pair.a, pair.apiA), read(pair.b, pair.apiB)]);
    const start = { a: startA, b: startB };
    loadAtStart = load();
    const startLive = most;
    await loops;
    await Promise.allSettled([...publishers].map((p) => p.stop('SIGINT')));
    const stillLive = await waitFor(async () => (await liveCount()) === 0, 120_000, 'every stream ended')
      .then(() => 0)
      .catch(() => liveCount());

    // Every violating stream that went live has its decision (allowing the last ones time to commit).
    // Per violating stream: its decision, and whether a hash-match signal of it was stored (every match
    // is: policy-runner keeps signals with a match whatever their score, through the journal if need be).
    const violatingStreams = async () =>
      pair.store.db
        .selectFrom('streams')
        .innerJoin('accounts', 'accounts.id', 'streams.account_id')
        .select((eb) => [
          'streams.id as stream',
          'streams.started_at',
          'streams.ended_at',
          eb.selectFrom('decisions').select('decisions.id').whereRef('decisions.stream_id', '=', 'streams.id').limit(1).as('decision'),
          eb
            .selectFrom('signals')
            .select('signals.id')
            .whereRef('signals.stream_id', '=', 'streams.id')
            .where('signals.body', 'like', '%"source":"hash_match"%')
            .where('signals.body', 'like', '%"match":{%')
            .limit(1)
            .as('match'),
          // A match the flood guard held back (the entry quarantined): cuts nothing by design.
          eb
            .selectFrom('signals')
            .select('signals.id')
            .whereRef('signals.stream_id', '=', 'streams.id')
            .where('signals.body', 'like', '%"source":"hash_suppressed"%')
            .limit(1)
            .as('held'),
        ])
        .where('accounts.handle', 'like', 'violator%')
        .execute();
    let rows: Awaited<ReturnType<typeof violatingStreams>> = [];
    await waitFor(
      async () => ((rows = await violatingStreams()).every((r) => r.decision !== null || r.match === null) ? true : null),
      60_000,
      'decisions of every matched violating stream',
    ).catch(async () => {
      rows = await violatingStreams().catch(() => rows);
    });
    // A stored match is a decision due (the one-strike rule needs no history), however short the stream:
    // without one it is lost. Without a match, a violating publish that ended before its picture was
    // sampled (3 s in, then a keyframe) had no chance: only the ones live over 10 s count as missed.
    // (A decided stream is usually cut within seconds, so "decided or live > 10 s" is the base.)
    const lost = rows.filter((r) => r.decision === null && r.match !== null).length;
    const eligible = rows.filter((r) => r.decision !== null || r.match !== null || (r.ended_at ?? 0) - r.started_at > 10_000);
    const unmatched = eligible.filter((r) => r.decision === null && r.match === null);
    const held = unmatched.filter((r) => r.held !== null).length;
    const missed = unmatched.length - held;
    const decisions = rows.filter((r) => r.decision !== null).length;
    // The end reading, once the last stream has been ended and its sampler stopped.
    await new Promise((r) => setTimeout(r, 5_000));
    const [endA, endB] = await Promise.all([read(pair.a, pair.apiA), read(pair.b, pair.apiB)]);
    const end = { a: endA, b: endB };
    const loadAtEnd = load();
    const out: BenchResult[] = [];
    for (const node of ['a', 'b'] as const) {
      const label = node.toUpperCase();
      const exited = (node === 'a' ? pair.a : pair.b).alive() ? '' : '; the node process exited during the soak';
      // One row per reading: end (0 live) against the start (startLive live), same node, same run.
      const figures: Array<[keyof Reading, string, string, string]> = [
        ['rss', 'RSS', 'MiB', `resident set (/proc)${exited}`],
        ['heapUsed', 'V8 heap used', 'MiB', 'least of 5 /metrics reads 1 s apart (nodejs_heap_size_used_bytes)'],
        ['external', 'external memory', 'MiB', 'Buffers and other memory outside the V8 heap (nodejs_external_memory_bytes)'],
        ['fds', 'open fds', 'fds', ''],
        ['children', 'child processes', 'processes', ''],
      ];
      for (const [key, what, unit, note] of figures)
        out.push({
          name: `node ${label} ${what} after ${minutes} min (0 live)`,
          unit,
          value: Math.round(end[node][key]),
          baseline: { name: `at start (${startLive} live)`, value: Math.round(start[node][key]) },
          ...(note ? { note } : {}),
        });
    }
    out.push({
      name: 'publishes (reconnects) during the soak',
      unit: 'publishes',
      value: reconnects,
      note: `${refusedStarts} non-violating publisher(s) ended with an error; load average (1/5/15 min) at start ${loadAtStart}, at end ${loadAtEnd}`,
    });
    out.push({
      name: 'violating streams with a decision',
      unit: 'streams',
      value: decisions,
      baseline: { name: 'violating streams decided, matched or live > 10 s', value: eligible.length },
    });
    out.push({
      name: 'violating streams live > 10 s missed (no hash-match signal stored)',
      unit: 'streams',
      value: missed,
      note: `detection did not see the banked picture (keyframe mode, load); not a lost decision. ${held} more were held by the flood guard (entry quarantined)`,
    });
    out.push({
      name: 'decisions lost (matched, no decision)',
      unit: 'decisions',
      value: lost,
      note: `${rows.length} violating streams went live (${rows.length - eligible.length} ended within 10 s unmatched); ${stillLive} stream row(s) still open 120 s after the last publisher stopped; ${benchErrors.length} bench-side error(s)${benchErrors[0] ? ` (first: ${benchErrors[0].slice(0, 120)})` : ''}`,
    });
    return out;
  } finally {
    await Promise.allSettled([...publishers].map((p) => p.stop()));
    await stopPair(pair);
  }
}
