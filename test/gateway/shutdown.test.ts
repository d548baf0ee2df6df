import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { openStore } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG } from '../helpers/gateway.ts';
import { waitFor, within } from '../helpers/wait.ts';
import { webmFixture, wsPublish } from '../helpers/ws-publisher.ts';

/**
 * `modgate serve` on SIGTERM, as an orchestrator stops a node: /readyz goes 503 `shutting_down` at once
 * (liveness stays up), new publishes are refused `shutting_down`, live streams run through the drain,
 * then RTMP publishers are told the end (NetStream.Unpublish.Success, then NetConnection.Connect.AppShutdown,
 * which ffmpeg prints) and the process exits 0. With the database stuck (a table lock the test holds),
 * the process still exits once shutdown.timeoutMs has passed, with code 1. How long a shutdown takes is
 * measured in the shutdown benchmark, not here: the deadlines below are for broken runs only.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('shutdown');
const EXIT_DEADLINE_MS = 120_000;
const publishers: Publisher[] = [];
const nodes: GatewayProcess[] = [];
afterAll(async () => {
  await Promise.allSettled(publishers.map((p) => p.stop()));
  await Promise.allSettled(nodes.map((n) => n.stop('SIGKILL')));
});

async function seed(url: string, handles: string[]): Promise<Record<string, string>> {
  const store = await openStore(url);
  try {
    const keys: Record<string, string> = {};
    for (const handle of handles) {
      await addAccount(store.db, { id: 'test' }, { handle, verified: true });
      keys[handle] = (await issueKey(store.db, { id: 'test' }, handle)).key;
    }
    return keys;
  } finally {
    await store.close();
  }
}

function publish(node: GatewayProcess, key: string): Publisher {
  const p = startPublisher({ url: node.publishUrl(key), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15, durationSec: 600 });
  publishers.push(p);
  return p;
}

describe('SIGTERM on a node with live streams', () => {
  it('readyz 503 shutting_down and new publishes refused during the drain; the ffmpeg publisher prints the gateway_shutdown end; exit code 0', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-shutdown-'));
    const url = `sqlite:${path.join(dataDir, 'modgate.sqlite')}`;
    const webm = await webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG);
    try {
      const keys = await seed(url, ['live-one', 'late-ws', 'late-rtmp']);
      const node = await startGatewayProcess({ db: url, dataDir, config: { shutdown: { drainMs: 15_000, timeoutMs: 60_000 } } });
      nodes.push(node);
      const anon = new ApiClient(node.httpUrl, null);
      const live = publish(node, keys['live-one']!);
      await waitFor(async () => (await anon.get('/readyz')).status === 200, { describe: 'the node to be ready' });
      await waitFor(async () => (await openAndCount(url)) === 1, { describe: 'the publisher to be live' });

      node.child.kill('SIGTERM');
      const notReady = await waitFor(
        async () => {
          const r = await anon.get<{ error?: string }>('/readyz');
          return r.status === 503 ? r : null;
        },
        { intervalMs: 20, describe: '/readyz to answer 503 after SIGTERM' },
      );
      expect(notReady.body.error).toBe('shutting_down');
      expect((await anon.get('/healthz')).status).toBe(200);

      // During the drain: a new WebSocket publish is refused (1001, shutting down), a new RTMP publish too.
      const ws = wsPublish({ url: node.httpUrl.replace('http', 'ws') + '/ingest', streamKey: keys['late-ws']!, file: webm, fileDurationSec: 20 });
      expect(await ws.accepted).toBeNull();
      const wsClose = await ws.closed;
      expect(wsClose.code).toBe(CloseCode.goingAway);
      expect(wsClose.reason).toMatch(/shutting down/);
      const late = publish(node, keys['late-rtmp']!);
      const lateEnd = await within(late.done, 'the late RTMP publisher to be refused', EXIT_DEADLINE_MS);
      expect(lateEnd.code).not.toBe(0);
      expect(lateEnd.stderrTail).toContain('shutting_down: the gateway is shutting down');

      // The live publisher is told why its stream ends (ffmpeg: "Server error: gateway_shutdown: …").
      const end = await within(live.done, 'the live publisher to be ended', EXIT_DEADLINE_MS);
      expect(end.stderrTail).toContain('gateway_shutdown: the gateway is shutting down');
      const exit = await within(node.exited, 'the node to exit', EXIT_DEADLINE_MS);
      expect(exit).toEqual({ code: 0, signal: null });

      const store = await openStore(url);
      try {
        const rows = await store.db.selectFrom('streams').select(['end_reason']).execute();
        expect(rows.map((r) => r.end_reason)).toEqual(['gateway_shutdown']);
        const refused = await store.db.selectFrom('publish_refusals').select(['protocol', 'reason']).where('reason', '=', 'shutting_down').execute();
        expect(refused.map((r) => r.protocol).sort()).toEqual(['rtmp', 'websocket']);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});

async function openAndCount(url: string): Promise<number> {
  const store = await openStore(url);
  try {
    return (await store.db.selectFrom('streams').select('id').where('ended_at', 'is', null).execute()).length;
  } finally {
    await store.close();
  }
}

describe.skipIf(pgUnavailable !== null)('SIGTERM with the database stuck (PostgreSQL)', () => {
  it('a table lock keeps the shutdown from finishing: the process exits anyway after shutdown.timeoutMs, code 1, naming the stuck step', async () => {
    const url = await freshPgUrl();
    const keys = await seed(url, ['stuck-one']);
    const node = await startGatewayProcess({ db: url, config: { shutdown: { drainMs: 0, timeoutMs: 5_000 } }, logLevel: 'info' });
    nodes.push(node);
    const live = publish(node, keys['stuck-one']!);
    await waitFor(async () => (await openAndCount(url)) === 1, { describe: 'the publisher to be live' });

    // Ending the stream writes its row: held here, as a stuck database would.
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE streams IN ACCESS EXCLUSIVE MODE');
      node.child.kill('SIGTERM');
      const exit = await within(node.exited, 'the node to exit despite the stuck database', EXIT_DEADLINE_MS);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(node.stdout() + node.stderr()).toContain('shutdown did not finish in time');
      await within(live.done, 'the publisher to see its connection end', EXIT_DEADLINE_MS);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
  }, 300_000);
});
