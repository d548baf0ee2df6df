import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addEntries, createBank, exportEntries, HashBankIndex, importEntries, listBanks, setBankEnabled, setEntryEnabled } from '../../classifiers/hashbank.ts';
import { fromHex, toHex } from '../../classifiers/pdq.ts';
import { readHashList } from '../../gateway/cli/bank-commands.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';

const hex = (seed: number) => {
  let s = seed >>> 0;
  let out = '';
  for (let i = 0; i < 64; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out += ((s >>> 16) & 15).toString(16);
  }
  return out;
};
/** The hash with the first `bits` bits flipped. */
const flip = (h: string, bits: number) => {
  const w = fromHex(h);
  for (let b = 0; b < bits; b++) w[b >> 5]! ^= 1 << (b & 31);
  return toHex(w);
};

describe('hash banks: storage, imports and the live index', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-bank-'));
    store = await openStore(`sqlite:${path.join(dir, 'db.sqlite')}`);
    await createBank(store.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an import of a file mixing good and bad lines reports each bad line and adds only the good ones', async () => {
    const file = path.join(dir, 'list.txt');
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

  it('a crash in the middle of an import leaves no partial bank', async () => {
    const entries = Array.from({ length: 1200 }, (_, i) => ({ hash: hex(100 + i) }));
    await expect(
      addEntries(store.db, 'test', 'tve', entries, {
        onProgress: (done) => {
          if (done >= 500) throw new Error('simulated crash after the first batch');
        },
      }),
    ).rejects.toThrow(/simulated crash/);
    const count = await store.db.selectFrom('bank_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('the bulk import path (prepared statements on SQLite) is idempotent, all-or-nothing and feeds the live index', async () => {
    const entries = Array.from({ length: 25_000 }, (_, i) => ({ hash: hex(5000 + i) }));
    const progress: number[] = [];
    expect(await importEntries(store, 'test', 'tve', entries, { onProgress: (n) => progress.push(n) })).toEqual({ added: 25_000, duplicates: 0 });
    expect(progress).toEqual([10_000, 20_000, 25_000]);
    expect(await importEntries(store, 'test', 'tve', entries)).toEqual({ added: 0, duplicates: 25_000 });
    await expect(importEntries(store, 'test', 'tve', [{ hash: hex(1) }, { hash: 'zz' }])).rejects.toThrow(/entry 2/);
    const count = await store.db.selectFrom('bank_entries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(25_000);
    const index = new HashBankIndex(store.db);
    await index.loadAll();
    expect(index.size).toBe(25_000);
    expect(index.match([{ variant: 'original', hash: fromHex(flip(hex(5123), 5)) }])).toHaveLength(1);
  });

  it('the live index sees inserts, disabled entries and disabled banks after a refresh, within each bank radius', async () => {
    const index = new HashBankIndex(store.db);
    await index.loadAll();
    const base = hex(7);
    expect(index.match([{ variant: 'original', hash: fromHex(flip(base, 10)) }])).toEqual([]);

    const { ids } = await addEntries(store.db, 'test', 'tve', [{ hash: base, note: 'clip 7' }]);
    await index.refresh();
    const hit = index.match([{ variant: 'flipX', hash: fromHex(flip(base, 10)) }]);
    expect(hit).toEqual([expect.objectContaining({ entryId: ids[0], bank: 'tve', distance: 10, variant: 'flipX', category: 'terrorist-violent-extremism' })]);
    expect(index.match([{ variant: 'original', hash: fromHex(flip(base, 32)) }]), 'beyond radius 31').toEqual([]);

    await setEntryEnabled(store.db, 'test', 'tve', ids[0]!, false, 'false positive');
    await index.refresh();
    expect(index.match([{ variant: 'original', hash: fromHex(base) }])).toEqual([]);

    await setEntryEnabled(store.db, 'test', 'tve', ids[0]!, true, null);
    await setBankEnabled(store.db, 'test', 'tve', false, 'paused');
    await index.refresh();
    expect(index.match([{ variant: 'original', hash: fromHex(base) }])).toEqual([]);
    await setBankEnabled(store.db, 'test', 'tve', true, null);
    await index.refresh();
    expect(index.match([{ variant: 'original', hash: fromHex(base) }])).toHaveLength(1);
  });

  it('export writes back what was imported, and every change is audited', async () => {
    await addEntries(store.db, 'test', 'tve', [{ hash: hex(9), note: 'n', source: 's', severity: 'high' }]);
    const out = [];
    for await (const e of exportEntries(store.db, 'tve')) out.push(e);
    expect(out).toEqual([expect.objectContaining({ hash: hex(9), note: 'n', source: 's', severity: 'high', category: 'terrorist-violent-extremism' })]);
    const audit = await store.db.selectFrom('audit_log').select('action').where('target_type', '=', 'bank').execute();
    expect(audit.map((a) => a.action)).toEqual(['bank.create', 'bank.entries.add']);
  });
});
