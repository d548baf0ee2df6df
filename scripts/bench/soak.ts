import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { FFMPEG, REPO_ROOT, waitFor } from '../../test/helpers/gateway.ts';
import type { GatewayProcess } from '../../test/helpers/gateway-process.ts';
import { startPair, stopPair, type Pair } from './cross-node.ts';
import { rssMiB } from './gateway.ts';
import type { BenchResult } from './types.ts';

/**
 * Soak (issue 11): 20 live streams across 2 gateway processes on one PostgreSQL database, every stream
 * reconnecting (its ffmpeg publisher stopped and started again after 20–60 s of media), for
 * MODGATE_SOAK_MINUTES (default 30; --quick: 3). Both nodes sample every stream (keyframe mode: the shared
 * keyframe decoders, hash matching only). Every fifth reconnect of a slot is a fresh account showing a
 * banked picture, so decisions are made all along; at the end every violating stream that went live must
 * have its decision (`decisions lost` = violating streams without one). RSS, open file descriptors and
 * child processes of each node are read once the first 20 streams are live and again at the end, after
 * the last publishers stopped (the "same run" baseline is the start).
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
}

const read = (node: GatewayProcess): Reading => ({ rss: rssMiB(node.child.pid!), fds: fds(node.child.pid!), children: children(node.child.pid!) });

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const minutes = Number(process.env.MODGATE_SOAK_MINUTES ?? (o.quick ? 3 : 30));
  const config = { sampling: { enabled: true, mode: 'keyframe' }, classifiers: { models: [] } };
  const pair: Pair = await startPair('soak', SLOTS, config);
  const publishers = new Set<Publisher>();
  const violators: string[] = [];
  let reconnects = 0;
  let refusedStarts = 0;
  const benchErrors: string[] = [];
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
    const liveCount = async () =>
      Number(
        (
          await pair.store.db
            .selectFrom('streams')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('ended_at', 'is', null)
            .executeTakeFirst()
        )?.n ?? 0,
      );

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
          // The bench's own writes can time out on a loaded machine (a 5 s connect timeout was hit at load 45): that reconnect is then an ordinary one.
          const handle = `violator${slot}x${violatorSeq++}`;
          try {
            await addAccount(pair.store.db, { id: 'soak' }, { handle, verified: true });
            key = (await issueKey(pair.store.db, { id: 'soak' }, handle)).key;
            violators.push(handle);
          } catch (err) {
            benchErrors.push((err as Error).message);
          }
        }
        const seconds = Math.min(20 + Math.floor(Math.random() * 40), Math.max(5, Math.ceil((until - Date.now()) / 1000)));
        const p = publish(slot, key, violating, seconds);
        const end = await p.done;
        reconnects++;
        if (end.code !== 0 && !violating) refusedStarts++;
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
    const start = { a: read(pair.a), b: read(pair.b) };
    const startLive = most;
    await loops;
    await Promise.allSettled([...publishers].map((p) => p.stop('SIGINT')));
    await waitFor(async () => (await liveCount()) === 0, 120_000, 'every stream ended');

    // Every violating stream that went live has its decision (allowing the last ones time to commit).
    const violatingStreams = async () =>
      pair.store.db
        .selectFrom('streams')
        .innerJoin('accounts', 'accounts.id', 'streams.account_id')
        .leftJoin('decisions', 'decisions.stream_id', 'streams.id')
        .select(['streams.id as stream', 'decisions.id as decision', 'streams.started_at', 'streams.ended_at'])
        .where('accounts.handle', 'like', 'violator%')
        .execute();
    let rows = await violatingStreams();
    await waitFor(
      async () => ((rows = await violatingStreams()).every((r) => r.decision !== null) ? true : null),
      60_000,
      'decisions of every violating stream',
    ).catch(() => null);
    // A violating publish that ended before its picture was sampled (3 s in, then a keyframe) is no decision lost: count the live-long-enough ones.
    const longEnough = rows.filter((r) => (r.ended_at ?? 0) - r.started_at > 10_000);
    const lost = longEnough.filter((r) => r.decision === null).length;
    const decisions = new Set(rows.filter((r) => r.decision).map((r) => r.stream)).size;
    // The end reading, once the last stream has been ended and its sampler stopped.
    await new Promise((r) => setTimeout(r, 5_000));
    const end = { a: read(pair.a), b: read(pair.b) };
    const out: BenchResult[] = [];
    for (const node of ['a', 'b'] as const) {
      const label = node.toUpperCase();
      out.push({
        name: `node ${label} RSS after ${minutes} min`,
        unit: 'MiB',
        value: Math.round(end[node].rss),
        baseline: { name: `at start (${startLive} live)`, value: Math.round(start[node].rss) },
      });
      out.push({
        name: `node ${label} open fds after ${minutes} min (0 live)`,
        unit: 'fds',
        value: end[node].fds,
        baseline: { name: `at start (${startLive} live)`, value: start[node].fds },
      });
      out.push({
        name: `node ${label} child processes after ${minutes} min (0 live)`,
        unit: 'processes',
        value: end[node].children,
        baseline: { name: `at start (${startLive} live)`, value: start[node].children },
      });
    }
    out.push({
      name: 'publishes (reconnects) during the soak',
      unit: 'publishes',
      value: reconnects,
      note: `${refusedStarts} non-violating publisher(s) ended with an error`,
    });
    out.push({
      name: 'violating streams live > 10 s with a decision',
      unit: 'streams',
      value: longEnough.length - lost,
      baseline: { name: 'violating streams live > 10 s', value: longEnough.length },
    });
    out.push({ name: 'decisions lost', unit: 'decisions', value: lost, note: `${decisions} decisions on ${rows.length} violating streams` });
    return out;
  } finally {
    await Promise.allSettled([...publishers].map((p) => p.stop()));
    await stopPair(pair);
  }
}
