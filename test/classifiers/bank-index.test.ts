import { beforeEach, describe, expect, it } from 'vitest';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import type { BankEntryRecord } from '../../classifiers/bank-store.ts';
import { fromHex } from '../../classifiers/pdq.ts';
import { flipBits, seededHash } from '../helpers/hashes.ts';
import { MemoryBankStore } from '../helpers/memory-bank-store.ts';

/**
 * The live index as a pure component: everything it knows comes through the BankStore interface (here an
 * in-memory store with the database store's feed semantics; test/gateway/banks.test.ts runs the real one).
 */

const entry = (n: number, bank = 'tve', extra: Partial<BankEntryRecord> = {}): BankEntryRecord => ({
  id: `e${n}`,
  bank,
  signalType: 'pdq',
  hash: seededHash(n),
  category: 'terrorist-violent-extremism',
  severity: 'critical',
  ...extra,
});
const at = (hex: string) => [{ variant: 'original' as const, hash: fromHex(hex) }];
const ids = (index: HashBankIndex, hex: string) => index.match(at(hex)).map((m) => m.entryId);

describe('the live bank index, fed through a BankStore', () => {
  let store: MemoryBankStore;
  let index: HashBankIndex;
  beforeEach(async () => {
    store = new MemoryBankStore();
    store.putBank({ name: 'tve', enabled: true, radius: 31 });
    store.importEntries([entry(1), entry(2), entry(3)]);
    index = new HashBankIndex(store);
    await index.loadAll();
  });

  it('loads every bank at its revision, and matches each entry within its bank radius only', async () => {
    expect(index.size).toBe(3);
    expect(index.revision).toBe(2);
    store.putBank({ name: 'tight', enabled: true, radius: 4 });
    store.putEntry(entry(4, 'tight'));
    await index.refresh();
    expect(ids(index, flipBits(seededHash(4), 4))).toEqual(['e4']);
    expect(ids(index, flipBits(seededHash(4), 5)), 'beyond the tight bank radius').toEqual([]);
    expect(index.match(at(flipBits(seededHash(1), 20)))).toEqual([
      { entryId: 'e1', bank: 'tve', category: 'terrorist-violent-extremism', severity: 'critical', distance: 20, variant: 'original' },
    ]);
  });

  it('applies upserts and tombstones, and reloads a bank whose settings changed', async () => {
    store.putEntry(entry(5));
    store.putEntry(entry(2), false);
    await index.refresh();
    expect(ids(index, seededHash(5))).toEqual(['e5']);
    expect(ids(index, seededHash(2))).toEqual([]);
    expect(index.size).toBe(3);

    store.putBank({ name: 'tve', enabled: false, radius: 31 });
    await index.refresh();
    expect(ids(index, seededHash(1)), 'a disabled bank matches nothing').toEqual([]);
    store.putBank({ name: 'tve', enabled: true, radius: 31 });
    await index.refresh();
    expect(ids(index, seededHash(1))).toEqual(['e1']);

    store.dropBank('tve');
    await index.refresh();
    expect(index.size).toBe(0);
    expect(index.revision).toBe(await store.revision());
  });

  it('reads a capped feed until it is drained', async () => {
    store.maxChanges = 7;
    store.putEntry(entry(2), false);
    for (let n = 10; n < 25; n++) store.putEntry(entry(n));
    expect(await index.refresh(), 'banks and entries touched').toBe(16);
    expect(index.size).toBe(17);
    expect(index.revision).toBe(await store.revision());
  });

  it('skips entries of signal types it does not index (a store may carry vPDQ or descriptors first)', async () => {
    store.putEntry(entry(6, 'tve', { signalType: 'vpdq' }));
    store.putEntry(entry(7, 'tve', { hash: 'not a pdq hash' }));
    await index.refresh();
    expect(index.size).toBe(3);
  });

  it('keeps matching a bank while it reloads, and keeps the old entries when the reload fails', async () => {
    store.importEntries([entry(8), entry(9)]);
    let release = () => {};
    store.gate = new Promise<void>((r) => (release = r));
    const reloading = index.refresh();
    await new Promise((r) => setImmediate(r));
    expect(ids(index, seededHash(1)), 'old entries match during the reload').toEqual(['e1']);
    store.gate = null;
    release();
    await reloading;
    expect(index.size).toBe(5);
    expect(ids(index, seededHash(9))).toEqual(['e9']);

    store.importEntries([entry(10)]);
    store.failNextLoad = true;
    const before = index.revision;
    await expect(index.refresh()).rejects.toThrow(/simulated database fault/);
    expect(index.size).toBe(5);
    expect(ids(index, seededHash(8))).toEqual(['e8']);
    expect(index.revision, 'the failed change is read again').toBe(before);
    await index.refresh();
    expect(index.size).toBe(6);
    expect(ids(index, seededHash(10))).toEqual(['e10']);
  });

  it('indexes a bank read in many pages as one built batch, at start and on every reload', async () => {
    const big = new MemoryBankStore();
    big.pageSize = 100;
    big.putBank({ name: 'tve', enabled: true, radius: 31 });
    big.importEntries(Array.from({ length: 5000 }, (_, n) => entry(n)));
    const loaded = new HashBankIndex(big);
    await loaded.loadAll();
    // Page by page, every page after the first went to the linearly scanned tail (a linear scan per lookup
    // until background merges caught up).
    expect(loaded.layout).toMatchObject({ base: 5000, mid: 0, tail: 0, merging: null });
    expect(ids(loaded, flipBits(seededHash(4321), 9))).toEqual(['e4321']);

    for (let round = 0; round < 2; round++) {
      big.importEntries([entry(5000 + round)]);
      await loaded.refresh();
      expect(loaded.layout, `reload ${round + 1}`).toMatchObject({ tail: 0, merging: null });
    }
    expect(loaded.size).toBe(5002);
    expect(ids(loaded, seededHash(5001))).toEqual(['e5001']);
    expect(ids(loaded, seededHash(17))).toEqual(['e17']);
  });

  it('a refresh asked for while one runs waits for a fresh one, so a just-written change is applied', async () => {
    let release = () => {};
    store.gate = new Promise<void>((r) => (release = r));
    store.importEntries([entry(11)]);
    const first = index.refresh();
    await new Promise((r) => setImmediate(r));
    store.putEntry(entry(12)); // written after the first refresh read the feed
    const second = index.refresh();
    const third = index.refresh();
    store.gate = null;
    release();
    await Promise.all([first, second, third]);
    expect(ids(index, seededHash(11))).toEqual(['e11']);
    expect(ids(index, seededHash(12))).toEqual(['e12']);
    expect(index.size).toBe(5);
  });
});
