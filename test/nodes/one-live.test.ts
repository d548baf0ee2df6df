import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { rawPublish, type RawRtmp } from '../helpers/rtmp-client.ts';

/**
 * One live stream per account by default: a second publish of the account is refused as `already_live`,
 * on one node (by the gate, before anything is relayed) and across nodes (by the claim the stream's row
 * makes in the database, under a lock on the account): two nodes racing the same key leave one live.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('onelive');

describe('one live stream per account on one node', () => {
  let t: TestGateway;
  let t2: TestGateway;
  beforeAll(async () => {
    [t, t2] = await Promise.all([startTestGateway(), startTestGateway({ extra: { maxLiveStreamsPerAccount: 2 } })]);
  });
  afterAll(async () => {
    await Promise.allSettled([t?.stop(), t2?.stop()]);
  });

  it('a second publish with the same key is refused as already_live while the first stays live', async () => {
    const alice = await t.account('alice');
    const first = await rawPublish(t.rtmpPort, alice.streamKey);
    expect(first.started).toBe(true);
    await t.waitForStream('alice');
    const second = await rawPublish(t.rtmpPort, alice.streamKey);
    expect(second.started).toBe(false);
    expect(second.client.received().toString('latin1')).toContain('already_live');
    second.client.destroy();
    expect(first.client.isClosed()).toBe(false);
    expect((await t.streams()).filter((s) => s.account === 'alice')).toHaveLength(1);
    const refusals = await waitFor(async () => {
      const rows = await t.gw.store.db.selectFrom('publish_refusals').select('reason').execute();
      return rows.length ? rows : null;
    });
    expect(refusals.map((r) => r.reason)).toEqual(['already_live']);

    // Once the first ends, the account may go live again.
    first.client.destroy();
    await t.waitForNoStream('alice');
    const third = await rawPublish(t.rtmpPort, alice.streamKey);
    expect(third.started).toBe(true);
    third.client.destroy();
  });

  it('maxLiveStreamsPerAccount: 2 allows two and refuses the third', async () => {
    const bob = await t2.account('bob');
    const a = await rawPublish(t2.rtmpPort, bob.streamKey);
    const b = await rawPublish(t2.rtmpPort, bob.streamKey);
    expect([a.started, b.started]).toEqual([true, true]);
    await waitFor(async () => (await t2.streams()).filter((s) => s.account === 'bob').length === 2, 10_000, 'two live streams');
    const c = await rawPublish(t2.rtmpPort, bob.streamKey);
    expect(c.started).toBe(false);
    for (const x of [a, b, c]) x.client.destroy();
  });
});

describe.skipIf(pgUnavailable !== null)('one live stream per account across two nodes on PostgreSQL', () => {
  let admin: Store;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let key: string;
  let accountId: string;

  beforeAll(async () => {
    const url = await freshPgUrl();
    admin = await openStore(url);
    accountId = (await addAccount(admin.db, { id: 'test' }, { handle: 'racer', verified: true })).id;
    key = (await issueKey(admin.db, { id: 'test' }, 'racer')).key;
    await issueToken(admin.db, 'test', 'op', 'operator');
    [a, b] = await Promise.all([startGatewayProcess({ db: url }), startGatewayProcess({ db: url })]);
  });
  afterAll(async () => {
    await Promise.allSettled([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await admin?.close();
  });

  const openRows = async () =>
    admin.db.selectFrom('streams').select(['id', 'node_id']).where('account_id', '=', accountId).where('ended_at', 'is', null).execute();

  it('the same key published on A and B at the same moment, five times: each time exactly one is live', async () => {
    for (let round = 0; round < 5; round++) {
      const clients: RawRtmp[] = (await Promise.all([rawPublish(a.rtmpPort, key), rawPublish(b.rtmpPort, key)])).map((r) => r.client);
      try {
        // The loser may have been told Publish.Start before its node lost the claim; it is then ended.
        await waitFor(
          async () => clients.filter((c) => !c.isClosed()).length === 1 && (await openRows()).length === 1,
          20_000,
          `round ${round}: one live stream`,
        );
        const loser = clients.find((c) => c.isClosed())!;
        expect(loser.received().toString('latin1')).toContain('already_live');
      } finally {
        for (const c of clients) c.destroy();
      }
      await waitFor(async () => (await openRows()).length === 0, 20_000, `round ${round}: the stream to end`);
    }
    const refusals = await admin.db.selectFrom('publish_refusals').select('reason').where('account_id', '=', accountId).execute();
    expect(refusals).toHaveLength(5);
    expect(new Set(refusals.map((r) => r.reason))).toEqual(new Set(['already_live']));
    expect(a.alive() && b.alive()).toBe(true);
  });
});
