import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import { fromHex } from '../../classifiers/pdq.ts';
import { importEntries } from '../../gateway/banks/bulk-import.ts';
import { addEntries, createBank, exportEntries, listBanks, setBankEnabled, setEntryEnabled } from '../../gateway/banks/manage.ts';
import { SqlBankStore } from '../../gateway/banks/store.ts';
import { addVideos, bankListText } from '../../gateway/banks/videos.ts';
import { VideoBankIndex } from '../../classifiers/vpdq/bank-index.ts';
import { readHashList } from '../../gateway/cli/bank-commands.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { flipBits as flip, seededHash as hex } from '../helpers/hashes.ts';

/**
 * Banks on both backends: audited, all-or-nothing writes, the bulk import path, the change feed
 * (SqlBankStore) and a live index fed by it from a second connection — another gateway or the CLI.
 */

const { backends } = await testDatabases('bank');
const tmp = mkdtempSync(path.join(tmpdir(), 'modgate-bank-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const count = async (store: Store) =>
  Number(
    (
      await store.db
        .selectFrom('bank_entries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
const at = (h: string) => [{ variant: 'original' as const, hash: fromHex(h) }];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`hash banks on ${backend.name}`, () => {
    let store: Store;
    /** A second connection: the index of another gateway process. */
    let reader: Store;
    beforeEach(async () => {
      const url = await backend.url();
      store = await openStore(url);
      reader = await openStore(url);
      await createBank(store.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
    });
    afterEach(async () => {
      await reader?.close();
      await store?.close();
    });

    it('an import of a file mixing good and bad lines reports each bad line and adds only the good ones', async () => {
      const file = path.join(tmp, `list-${backend.name}.txt`);
      writeFileSync(file, ['# known content', hex(1), 'not-a-hash', '', hex(2), `${hex(3)}zz`, hex(2)].join('\n'));
      const { entries, errors } = await readHashList(file, undefined);
      expect(errors.map((e) => e.line)).toEqual([3, 6]);
      expect(errors[0]!.reason).toMatch(/^line 3: /);
      const res = await addEntries(store.db, 'test', 'tve', entries);
      expect(res).toMatchObject({ added: 2, duplicates: 1 });
      const again = await addEntries(store.db, 'test', 'tve', entries);
      expect(again).toMatchObject({ added: 0, duplicates: 3 });
      const [bank] = await listBanks(store.db);
      expect(bank!.entries).toBe(2);
    });

    it('a 10-minute video is one entry (its ~45 kB of frames outside the unique hash index), read back by the live video index from another connection and exported as vPDQ', async () => {
      const frames = Array.from({ length: 600 }, (_, i) => ({ hash: hex(5000 + i), quality: 90, timestampSec: i }));
      const res = await addVideos(store.db, 'test', 'tve', [{ name: 'clip.mp4', line: 1, frames }]);
      expect(res).toMatchObject({ added: 1, duplicates: 0 });
      expect(await addVideos(store.db, 'test', 'tve', [{ name: 'again.mp4', line: 1, frames }])).toMatchObject({ added: 0, duplicates: 1 });
      const videos = new VideoBankIndex(new SqlBankStore(reader.db, reader.dialect));
      await videos.loadAll();
      expect(videos.entries).toBe(1);
      const hits = videos.match(fromHex(flip(hex(5123), 31)), 8);
      expect(hits).toHaveLength(1);
      expect(hits[0]).toMatchObject({ entryId: res.ids[0], distance: 31 });
      const { text, leftOut } = await bankListText(store.db, 'tve', 'vpdq');
      expect(leftOut).toBe(0);
      expect(text.split('\n')[0]).toBe('# clip.mp4: vPDQ, 600 frame(s); hash,quality,timestamp in seconds');
      expect(text.split('\n')[124]).toBe(`${hex(5123)},90,123.000`);
      expect((await bankListText(store.db, 'tve', 'plain')).leftOut).toBe(1);
    });

    it('a crash in the middle of an import leaves no partial bank', async () => {
      const entries = Array.from({ length: 1200 }, (_, i) => ({ hash: hex(100 + i) }));
      await expect(
        addEntries(store.db, 'test', 'tve', entries, {
          onProgress: (done) => {
            if (done >= 500) throw new Error('simulated crash after the first batch');
          },
        }),
      ).rejects.toThrow(/simulated crash/);
      expect(await count(store)).toBe(0);
    });

    it('the bulk import is idempotent, all-or-nothing and feeds the live index', async () => {
      const entries = Array.from({ length: 25_000 }, (_, i) => ({ hash: hex(5000 + i) }));
      const progress: number[] = [];
      expect(await importEntries(store, 'test', 'tve', entries, { onProgress: (n) => progress.push(n) })).toEqual({ added: 25_000, duplicates: 0 });
      // SQLite runs on prepared statements (progress every 10 000); PostgreSQL on kysely batches of 500.
      if (backend.name === 'sqlite') expect(progress).toEqual([10_000, 20_000, 25_000]);
      else expect(progress.at(-1)).toBe(25_000);
      expect(await importEntries(store, 'test', 'tve', entries)).toEqual({ added: 0, duplicates: 25_000 });
      await expect(importEntries(store, 'test', 'tve', [{ hash: hex(1) }, { hash: 'zz' }])).rejects.toMatchObject({
        code: 'invalid',
        message: expect.stringMatching(/entry 2/),
      });
      expect(await count(store)).toBe(25_000);
      const index = new HashBankIndex(new SqlBankStore(reader.db, reader.dialect));
      await index.loadAll();
      expect(index.size).toBe(25_000);
      expect(index.match(at(flip(hex(5123), 5)))).toHaveLength(1);
    });

    it("another node's live index sees inserts, disabled entries and disabled banks after a refresh, within each bank radius", async () => {
      const index = new HashBankIndex(new SqlBankStore(reader.db, reader.dialect));
      await index.loadAll();
      const base = hex(7);
      expect(index.match(at(flip(base, 10)))).toEqual([]);

      const { ids } = await addEntries(store.db, 'test', 'tve', [{ hash: base, note: 'clip 7' }]);
      await index.refresh();
      const hit = index.match([{ variant: 'flipX', hash: fromHex(flip(base, 10)) }]);
      expect(hit).toEqual([expect.objectContaining({ entryId: ids[0], bank: 'tve', distance: 10, variant: 'flipX', category: 'terrorist-violent-extremism' })]);
      expect(index.match(at(flip(base, 32))), 'beyond radius 31').toEqual([]);

      await setEntryEnabled(store.db, 'test', 'tve', ids[0]!, false, 'false positive');
      await index.refresh();
      expect(index.match(at(base))).toEqual([]);

      await setEntryEnabled(store.db, 'test', 'tve', ids[0]!, true, null);
      await setBankEnabled(store.db, 'test', 'tve', false, 'paused');
      await index.refresh();
      expect(index.match(at(base))).toEqual([]);
      await setBankEnabled(store.db, 'test', 'tve', true, null);
      await index.refresh();
      expect(index.match(at(base))).toHaveLength(1);
      expect(index.size).toBe(1);
    });

    it('the change feed resolves changes to their current state: reloads, upserts and tombstones, capped with more to read', async () => {
      const feed = new SqlBankStore(reader.db, reader.dialect);
      const start = await feed.revision();
      expect(start).toBeGreaterThan(0); // the bank's creation
      const a = (await addEntries(store.db, 'test', 'tve', [{ hash: hex(11), severity: 'high' }])).ids[0]!;
      const b = (await addEntries(store.db, 'test', 'tve', [{ hash: hex(12) }])).ids[0]!;
      await setEntryEnabled(store.db, 'test', 'tve', b, false, 'false positive');
      await createBank(store.db, 'test', { name: 'other', category: 'csam', radius: 20 });
      await addEntries(store.db, 'test', 'other', [{ hash: hex(13) }]);

      const delta = await feed.changesSince(start);
      expect(delta).toMatchObject({
        reload: ['other'],
        upserts: [{ id: a, bank: 'tve', signalType: 'pdq', hash: hex(11), category: 'terrorist-violent-extremism', severity: 'high' }],
        tombstones: [{ bank: 'tve', id: b }],
        more: false,
      });
      expect(delta.revision).toBeGreaterThan(start);
      expect(await feed.bank('other')).toEqual({ name: 'other', enabled: true, radius: 20, kind: 'positive', matchingEnabledRatio: 1 });
      expect(await feed.bank('missing')).toBeNull();
      // Read again from the revision just applied: nothing new.
      expect(await feed.changesSince(delta.revision)).toEqual({ revision: delta.revision, reload: [], upserts: [], tombstones: [], more: false });

      if (backend.name === 'sqlite') {
        // SQLite reads by sequence number from any revision, in pages. (On PostgreSQL the store keeps one
        // commit-ordered cursor for its index instead: test/nodes/change-feed.test.ts.)
        expect(delta.revision).toBe(await feed.revision());
        const first = await feed.changesSince(start, 2);
        // The first two changes added a and b; b is resolved to what it is now (disabled).
        expect(first).toMatchObject({ revision: start + 2, more: true, reload: [], tombstones: [{ bank: 'tve', id: b }] });
        expect(first.upserts.map((u) => u.id)).toEqual([a]);
      }

      const pages = [];
      for await (const page of feed.entries('tve')) pages.push(page.map((e) => e.id));
      expect(pages).toEqual([[a]]);
    });

    it('refreshes asked for at the same time apply a bulk import once', async () => {
      const index = new HashBankIndex(new SqlBankStore(reader.db, reader.dialect));
      await index.loadAll();
      await importEntries(
        store,
        'test',
        'tve',
        Array.from({ length: 3000 }, (_, i) => ({ hash: hex(20_000 + i) })),
      );
      await Promise.all([index.refresh(), index.refresh(), index.refresh()]);
      expect(index.size).toBe(3000);
      expect(index.match(at(hex(20_001)))).toHaveLength(1);
    });

    it('export writes back what was imported, and every change is audited', async () => {
      await addEntries(store.db, 'test', 'tve', [{ hash: hex(9), note: 'n', source: 's', severity: 'high' }]);
      const out = [];
      for await (const e of exportEntries(store.db, 'tve')) out.push(e);
      expect(out).toEqual([expect.objectContaining({ hash: hex(9), note: 'n', source: 's', severity: 'high', category: 'terrorist-violent-extremism' })]);
      const audit = await store.db.selectFrom('audit_log').select('action').where('target_type', '=', 'bank').orderBy('id').execute();
      expect(audit.map((a) => a.action)).toEqual(['bank.create', 'bank.entries.add']);
    });
  });
}
