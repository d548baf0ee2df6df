import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { suspendAccount } from '../../gateway/enforcement/suspensions.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases, PG_ADMIN_URL } from '../helpers/databases.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { allowConnections, backendCount, dbNameOf, startGatewayProcess, terminateBackends, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, readFrames, sleep, waitFor, type StreamView } from '../helpers/gateway.ts';
import { rawPublish } from '../helpers/rtmp-client.ts';

/**
 * Database faults are outside input: a gateway process on PostgreSQL whose connections are terminated
 * (`pg_terminate_backend`) or whose database refuses connections for a while keeps running, keeps
 * relaying its live stream, keeps refusing the account it knows to be suspended, reports the outage on
 * /readyz (never /healthz), and writes again once the database is back.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('dbfault');

describe.skipIf(pgUnavailable !== null)('a gateway process on PostgreSQL survives database faults', () => {
  let url: string;
  let admin: Store;
  let node: GatewayProcess;
  let api: ApiClient;
  let anon: ApiClient;
  let alice: string;
  let bob: string;
  let publisher: Publisher;

  beforeAll(async () => {
    url = await freshPgUrl();
    admin = await openStore(url);
    const actor = { id: 'test' };
    await addAccount(admin.db, actor, { handle: 'alice', verified: true, subject: 'idp:alice' });
    await addAccount(admin.db, actor, { handle: 'bob', verified: true, subject: 'idp:bob' });
    alice = (await issueKey(admin.db, actor, 'alice')).key;
    bob = (await issueKey(admin.db, actor, 'bob')).key;
    await suspendAccount(admin.db, actor, 'bob', { reason: 'one strike' });
    const token = (await issueToken(admin.db, 'test', 'op', 'operator')).token;
    node = await startGatewayProcess({ db: url });
    api = new ApiClient(node.httpUrl, token);
    anon = new ApiClient(node.httpUrl, null);
    publisher = startPublisher({ url: node.publishUrl(alice), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15 });
    await waitFor(
      async () => (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams?.find((s) => s.account === 'alice'),
      20_000,
      "alice's stream",
    );
  });

  afterAll(async () => {
    await publisher?.stop();
    await node?.stop('SIGKILL');
    await admin?.close();
  });

  const streams = async () => (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams;
  const refused = async (key: string) => {
    const { client, started } = await rawPublish(node.rtmpPort, key);
    client.destroy();
    return !started;
  };

  it('pg_terminate_backend on every connection, five times over: the process stays up and the stream keeps relaying', async () => {
    const name = dbNameOf(url);
    for (let round = 0; round < 5; round++) {
      // Wait until the gateway holds connections again (its health probe reconnects), then cut them all.
      await waitFor(async () => (await backendCount(PG_ADMIN_URL, name)) > 0, 20_000, 'the gateway to reconnect');
      expect(await terminateBackends(PG_ADMIN_URL, name)).toBeGreaterThan(0);
      await sleep(200);
      expect(node.alive(), node.stdout().slice(-4000) + node.stderr()).toBe(true);
    }
    expect(node.alive(), node.stdout().slice(-4000) + node.stderr()).toBe(true);
    expect(publisher.proc.exitCode).toBeNull();
    const live = (await streams()).find((s) => s.account === 'alice');
    expect(live).toBeDefined();
    const read = await readFrames(`rtmp://127.0.0.1:${node.rtmpPort}/live/${live!.id}`, { frames: 5 });
    expect(read.frames).toBe(5);
    expect(await refused(bob)).toBe(true);
    expect((await anon.get('/healthz')).status).toBe(200);
    await waitFor(async () => (await anon.get('/readyz')).status === 200, 20_000, 'ready again');
  });

  it('while the database refuses connections: /readyz is degraded, /healthz is up, the stream relays and the suspended account is still refused', async () => {
    const name = dbNameOf(url);
    await allowConnections(PG_ADMIN_URL, name, false);
    try {
      await terminateBackends(PG_ADMIN_URL, name);
      const degraded = await waitFor(
        async () => {
          const r = await anon.get<{ error: string }>('/readyz');
          return r.status === 503 ? r.body : null;
        },
        30_000,
        '/readyz to report the outage',
      );
      expect(degraded.error).toBe('database_unreachable');
      const health = await anon.get<{ status: string; database: { state: string } }>('/healthz');
      expect(health.status).toBe(200);
      expect(health.body.database.state).toBe('unreachable');

      // The live list comes from memory while the database is away.
      const live = (await streams()).find((s) => s.account === 'alice');
      expect(live).toBeDefined();
      const read = await readFrames(`rtmp://127.0.0.1:${node.rtmpPort}/live/${live!.id}`, { frames: 5 });
      expect(read.frames).toBe(5);
      expect(await refused(bob)).toBe(true);
      expect(node.alive(), node.stdout().slice(-4000) + node.stderr()).toBe(true);
      expect(publisher.proc.exitCode).toBeNull();
    } finally {
      await allowConnections(PG_ADMIN_URL, name, true);
    }
    await waitFor(async () => (await anon.get('/readyz')).status === 200, 30_000, 'ready after the outage');
  });

  it('after the faults, writes work again: a suspension through the API is stored and cuts the live stream', async () => {
    const res = await api.post('/api/v1/accounts/alice/suspend', { reason: 'after the outage' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const done = await waitFor(
      () => (publisher.proc.exitCode !== null || publisher.proc.signalCode !== null ? true : null),
      20_000,
      "alice's publisher to be cut",
    );
    expect(done).toBe(true);
    const row = await admin.db
      .selectFrom('suspensions')
      .innerJoin('accounts', 'accounts.id', 'suspensions.account_id')
      .select('suspensions.reason')
      .where('accounts.handle', '=', 'alice')
      .executeTakeFirst();
    expect(row?.reason).toBe('after the outage');
    // The socket closes first, then the end is recorded.
    const ended = await waitFor(
      async () => {
        const rows = await admin.db.selectFrom('streams').select(['end_reason']).where('ended_at', 'is not', null).execute();
        return rows.some((r) => r.end_reason === 'suspended') ? rows : null;
      },
      20_000,
      'the suspended end on record',
    );
    expect(ended.map((r) => r.end_reason)).toContain('suspended');
    expect(node.alive(), node.stdout().slice(-4000) + node.stderr()).toBe(true);
  });
});
