import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, waitFor } from '../helpers/gateway.ts';

/**
 * Node liveness: GET /api/v1/streams on any node is the platform's live list; a moderator on one node
 * cuts a stream another node carries; a node killed with -9 has its streams closed as node_lost by the
 * other, which keeps serving its own, and the dead node's accounts may go live again elsewhere.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('nodelost');

interface View {
  id: string;
  account: string;
  node: string | null;
  sampling: { mode: string };
}

describe.skipIf(pgUnavailable !== null)('two nodes: the platform live list, remote cuts, a node killed with -9', () => {
  let admin: Store;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let apiA: ApiClient;
  let apiB: ApiClient;
  const keys: Record<string, string> = {};
  const pubs: Record<string, Publisher> = {};
  const publishers: Publisher[] = [];
  const liveness = { heartbeatIntervalMs: 300, lostAfterMs: 2_500, reconcileIntervalMs: 5_000 };

  beforeAll(async () => {
    const url = await freshPgUrl();
    admin = await openStore(url);
    for (const handle of ['alice', 'bob', 'carol']) {
      await addAccount(admin.db, { id: 'test' }, { handle, verified: true });
      keys[handle] = (await issueKey(admin.db, { id: 'test' }, handle)).key;
    }
    const token = (await issueToken(admin.db, 'test', 'op', 'operator')).token;
    [a, b] = await Promise.all([startGatewayProcess({ db: url, config: { nodes: liveness } }), startGatewayProcess({ db: url, config: { nodes: liveness } })]);
    apiA = new ApiClient(a.httpUrl, token);
    apiB = new ApiClient(b.httpUrl, token);
    const publish = (handle: string, node: GatewayProcess) => {
      const p = startPublisher({ url: node.publishUrl(keys[handle]!), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15 });
      publishers.push(p);
      pubs[handle] = p;
    };
    publish('alice', a);
    publish('carol', a);
    publish('bob', b);
  });

  afterAll(async () => {
    await Promise.allSettled(publishers.map((p) => p.stop()));
    await Promise.allSettled([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await admin?.close();
  });

  const list = async (api: ApiClient) => (await api.get<{ streams: View[]; partial: boolean }>('/api/v1/streams')).body;
  const accounts = (l: { streams: View[] }) => l.streams.map((s) => s.account).sort();
  const ended = (p: Publisher) => (p.proc.exitCode !== null || p.proc.signalCode !== null ? true : null);

  it('GET /api/v1/streams on either node lists every live stream on both, with the node carrying it', async () => {
    for (const api of [apiA, apiB]) {
      await waitFor(async () => accounts(await list(api)).join() === 'alice,bob,carol', 30_000, 'all three streams listed');
    }
    const onB = await list(apiB);
    expect(onB.partial).toBe(false);
    const alice = onB.streams.find((s) => s.account === 'alice')!;
    const bob = onB.streams.find((s) => s.account === 'bob')!;
    expect(alice.node).not.toBe(bob.node);
    expect(alice.sampling.mode).toBe('remote');
    const onA = await list(apiA);
    expect(onA.streams.find((s) => s.account === 'alice')!.node).toBe(alice.node);
  });

  it('a moderator on B cuts a stream A carries', async () => {
    const carol = (await list(apiB)).streams.find((s) => s.account === 'carol')!;
    const res = await apiB.post<{ cut: View }>(`/api/v1/streams/${carol.id}/cut`, { reason: 'cut from B' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.cut.id).toBe(carol.id);
    await waitFor(() => ended(pubs.carol!), 20_000, "carol's publisher on A to be cut");
    const row = await admin.db.selectFrom('streams').select(['end_reason']).where('id', '=', carol.id).executeTakeFirstOrThrow();
    expect(row.end_reason).toBe('cut');
  });

  it("A killed with -9: B closes A's streams as node_lost, keeps serving its own, and A's account may go live on B", async () => {
    const alice = (await list(apiB)).streams.find((s) => s.account === 'alice')!;
    await a.stop('SIGKILL');
    await waitFor(async () => !(await list(apiB)).streams.some((s) => s.account === 'alice'), 30_000, "B to drop A's streams from the live list");
    const row = await admin.db.selectFrom('streams').select(['end_reason', 'ended_at']).where('id', '=', alice.id).executeTakeFirstOrThrow();
    expect(row.end_reason).toBe('node_lost');
    const audit = await admin.db.selectFrom('audit_log').select(['action', 'target_id']).where('action', '=', 'node.lost').execute();
    expect(audit.map((r) => r.target_id)).toEqual([alice.node]);
    expect(accounts(await list(apiB))).toEqual(['bob']);
    expect(pubs.bob!.proc.exitCode).toBeNull();
    expect(b.alive()).toBe(true);

    const again = startPublisher({ url: b.publishUrl(keys.alice!), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15 });
    publishers.push(again);
    await waitFor(async () => accounts(await list(apiB)).join() === 'alice,bob', 30_000, 'alice live again, on B');
  });
});
