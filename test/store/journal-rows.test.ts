import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { recordRefusal } from '../../gateway/ingest/refusals.ts';
import { LiveRegistry, type CutRequest, type LiveStream } from '../../gateway/live/registry.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { writeUnit } from '../../gateway/store/journal/unit.ts';
import { DurableWriter } from '../../gateway/store/journal/writer.ts';
import { testDatabases } from '../helpers/databases.ts';
import { waitFor } from '../helpers/gateway.ts';

/**
 * What else a node writes while its database is away goes to the local journal too, not to memory: a
 * stream's start (its row) and its end, a refused publish, a flush of stored signals. A crash during the
 * outage (the writer closed, never drained: the process is gone) loses none of them; the next start's
 * replay writes each once. A stream that went live during the outage is claimed when the database returns.
 */

const { backends } = await testDatabases('journal-rows');
const dirs: string[] = [];
const journalFile = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'modgate-journal-rows-'));
  dirs.push(d);
  return path.join(d, 'units.journal');
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const backend of backends) {
  describe.skipIf(backend.skip)(`rows kept in the journal during an outage (${backend.name})`, () => {
    let store: Store;
    let accountId: string;
    const onErrorContexts: string[] = [];
    const onError = (_err: unknown, context: string) => onErrorContexts.push(context);

    beforeAll(async () => {
      store = await openStore(await backend.url());
      accountId = (await addAccount(store.db, { id: 'test' }, { handle: 'alice', verified: true })).id;
    });
    afterAll(async () => {
      await store?.close();
    });

    const liveStream = (id: string, cuts: CutRequest[] = []): LiveStream => ({
      id,
      accountId,
      handle: 'alice',
      subject: null,
      keyId: null,
      protocol: 'rtmp',
      remoteAddr: '127.0.0.1:50000',
      startedAt: Date.now(),
      playPath: `/live/${id}`,
      media: null,
      connection: { terminate: (r) => cuts.push(r) },
    });
    const streamRow = (id: string) => store.db.selectFrom('streams').selectAll().where('id', '=', id).executeTakeFirst();

    it('a stream that goes live and ends during the outage, then a crash: the next start writes its row with its end, once', async () => {
      const file = journalFile();
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      const registry = new LiveRegistry(store.db, 'node_a', onError, { dialect: store.dialect, maxPerAccount: 1 }, down);
      registry.start(liveStream('str_crash1'));
      registry.ended('str_crash1', 'publisher_disconnected');
      // Both are on disk at once (the journal is appended synchronously, fsynced, before the call returns).
      expect(down.view().depth).toBe(2);
      down.close();
      expect(await streamRow('str_crash1')).toBeUndefined();

      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await back.drain();
      expect(back.view()).toMatchObject({ depth: 0, replayed: 2, rejected: 0 });
      back.close();
      const row = await streamRow('str_crash1');
      expect(row).toMatchObject({ node_id: 'node_a', account_id: accountId, protocol: 'rtmp', end_reason: 'publisher_disconnected' });
      expect(row?.ended_at).not.toBeNull();
    });

    it('a stream still live when the database returns: its journaled row is written, then its claim is checked (already_live when another node carries the account)', async () => {
      // Another node went live with the account during the outage, and its row is on record.
      await store.db
        .insertInto('streams')
        .values({
          id: 'str_other_node',
          account_id: accountId,
          key_id: null,
          protocol: 'rtmp',
          remote_addr: null,
          started_at: Date.now(),
          ended_at: null,
          end_reason: null,
          end_detail: null,
          node_id: 'node_b',
          server: null,
        })
        .execute();
      let up = false;
      const writer = new DurableWriter({ db: store.db, file: journalFile(), nodeId: 'node_a', reachable: () => up });
      const registry = new LiveRegistry(store.db, 'node_a', onError, { dialect: store.dialect, maxPerAccount: 1 }, writer);
      const cuts: CutRequest[] = [];
      registry.start(liveStream('str_claim1', cuts));
      expect(writer.view().depth).toBe(1);
      // While the database is away there is nothing to claim against: the stream stays up.
      await registry.retryUnrecorded();
      expect(cuts).toEqual([]);

      up = true;
      await writer.drain();
      expect((await streamRow('str_claim1'))?.ended_at).toBeNull();
      await registry.retryUnrecorded();
      expect(cuts.map((c) => c.reason)).toEqual(['already_live']);
      expect(registry.get('str_claim1')).toBeUndefined();
      expect(await streamRow('str_claim1')).toMatchObject({ end_reason: 'already_live' });
      writer.close();
      await store.db.updateTable('streams').set({ ended_at: Date.now(), end_reason: 'publisher_disconnected' }).where('id', '=', 'str_other_node').execute();
    });

    it('a stream still live when the database returns, with no other claim: it stays live and its row stays open', async () => {
      let up = false;
      const writer = new DurableWriter({ db: store.db, file: journalFile(), nodeId: 'node_a', reachable: () => up });
      const registry = new LiveRegistry(store.db, 'node_a', onError, { dialect: store.dialect, maxPerAccount: 1 }, writer);
      const cuts: CutRequest[] = [];
      registry.start(liveStream('str_claim2', cuts));
      up = true;
      await writer.drain();
      await registry.retryUnrecorded();
      await registry.retryUnrecorded();
      expect(cuts).toEqual([]);
      expect(registry.get('str_claim2')).toBeDefined();
      const row = await streamRow('str_claim2');
      expect(row).toMatchObject({ node_id: 'node_a', end_reason: null });
      // Its cut after the outage closes the row directly.
      await registry.cut('str_claim2', { reason: 'cut', message: 'moderator cut', actor: 'test' });
      expect(await streamRow('str_claim2')).toMatchObject({ end_reason: 'cut' });
      writer.close();
    });

    it('two nodes that each took the account live during one outage: once the database is back, exactly one stream stays live and the other is cut already_live', async () => {
      let up = false;
      const nodes = (['node_a', 'node_b'] as const).map((nodeId) => {
        const writer = new DurableWriter({ db: store.db, file: journalFile(), nodeId, reachable: () => up });
        const registry = new LiveRegistry(store.db, nodeId, onError, { dialect: store.dialect, maxPerAccount: 1 }, writer);
        const cuts: CutRequest[] = [];
        const id = `str_both_${nodeId}`;
        registry.start(liveStream(id, cuts));
        return { id, writer, registry, cuts };
      });
      expect(nodes.map((n) => n.writer.view().depth)).toEqual([1, 1]);

      // What each node does when its database answers again (server.ts on 'recovered'): each replays its
      // journaled row, unclaimed, then claims; the claims run at once and take turns on the account.
      up = true;
      await Promise.all(nodes.map((n) => n.writer.drain()));
      expect(await Promise.all(nodes.map(async (n) => (await streamRow(n.id))?.claim_pending))).toEqual([1, 1]);
      await Promise.all(nodes.map((n) => n.registry.retryUnrecorded()));

      const cut = nodes.filter((n) => n.cuts.length > 0);
      const kept = nodes.filter((n) => n.cuts.length === 0);
      expect(cut).toHaveLength(1);
      expect(kept).toHaveLength(1);
      expect(cut[0]!.cuts.map((c) => c.reason)).toEqual(['already_live']);
      expect(cut[0]!.registry.get(cut[0]!.id)).toBeUndefined();
      expect(await streamRow(cut[0]!.id)).toMatchObject({ end_reason: 'already_live' });
      expect(kept[0]!.registry.get(kept[0]!.id)).toBeDefined();
      expect(await streamRow(kept[0]!.id)).toMatchObject({ ended_at: null, claim_pending: 0 });

      // The survivor's claim holds: a third stream of the account on either node is refused.
      const later: CutRequest[] = [];
      cut[0]!.registry.start(liveStream('str_both_later', later));
      await waitFor(() => later.length > 0 || undefined, 10_000, 'the later claim refused');
      expect(later.map((c) => c.reason)).toEqual(['already_live']);

      await kept[0]!.registry.cut(kept[0]!.id, { reason: 'cut', message: 'test over', actor: 'test' });
      for (const n of nodes) n.writer.close();
    });

    it("a stream a peer closed as node_lost while this node was away: the owner's journaled cut replaces that guess", async () => {
      let up = true;
      const writer = new DurableWriter({ db: store.db, file: journalFile(), nodeId: 'node_a', reachable: () => up });
      const registry = new LiveRegistry(store.db, 'node_a', onError, { dialect: store.dialect, maxPerAccount: 1 }, writer);
      registry.start(liveStream('str_lost1'));
      await waitFor(() => streamRow('str_lost1'), 10_000, 'the stream row');
      // The outage outlasts lostAfterMs: a peer closes the row (as NodeLiveness.sweep does).
      up = false;
      await store.db
        .updateTable('streams')
        .set({ ended_at: Date.now(), end_reason: 'node_lost', end_detail: 'node node_a stopped heartbeating' })
        .where('id', '=', 'str_lost1')
        .execute();
      await registry.cut('str_lost1', { reason: 'suspended', message: 'banked content', actor: 'policy:tve-known-content' });
      expect(writer.view().depth).toBe(1);
      up = true;
      await writer.drain();
      writer.close();
      expect(await streamRow('str_lost1')).toMatchObject({ end_reason: 'suspended', end_detail: 'banked content' });
    });

    it('a refused publish and a flush of stored signals during the outage, then a crash: each row is written once, however often the journal is replayed', async () => {
      const file = journalFile();
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      await recordRefusal(down, { protocol: 'rtmp', remoteAddr: '127.0.0.9:40000', accountId, reason: 'suspended', detail: 'during the outage' }, onError);
      await recordRefusal(
        down,
        { protocol: 'websocket', remoteAddr: '127.0.0.9', accountId: null, reason: 'unknown_key', count: 37, at: 5, lastAt: 9 },
        onError,
      );
      const signals = [1, 2, 3].map((n) => ({
        stream_id: 'str_signals1',
        account_id: accountId,
        observed_at: n,
        body: JSON.stringify({ source: 'hash_match', n }),
      }));
      expect(await down.write(writeUnit({ id: 'signals:batch1', at: 3, signals }))).toBe('journaled');
      expect(down.view().depth).toBe(3);
      down.close();

      // Replayed at one start; the file is then copied back as if that start had crashed before emptying it.
      const kept = readFileSync(file, 'utf8');
      const first = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await first.drain();
      expect(first.view()).toMatchObject({ replayed: 3, duplicates: 0 });
      first.close();
      writeFileSync(file, kept);
      const second = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await second.drain();
      expect(second.view()).toMatchObject({ replayed: 0, duplicates: 3 });
      second.close();

      const refusals = await store.db.selectFrom('publish_refusals').selectAll().where('remote_addr', 'like', '127.0.0.9%').orderBy('at').execute();
      expect(refusals.map((r) => [r.reason, r.count, r.protocol])).toEqual([
        ['unknown_key', 37, 'websocket'],
        ['suspended', 1, 'rtmp'],
      ]);
      expect(refusals[0]).toMatchObject({ at: 5, last_at: 9, account_id: null });
      const stored = await store.db.selectFrom('signals').select(['observed_at']).where('stream_id', '=', 'str_signals1').orderBy('observed_at').execute();
      expect(stored.map((s) => Number(s.observed_at))).toEqual([1, 2, 3]);
    });
  });
}
