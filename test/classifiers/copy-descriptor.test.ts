import { describe, expect, it } from 'vitest';
import { CopyBankIndex } from '../../classifiers/copy/bank-index.ts';
import { CopyIndex } from '../../classifiers/copy/index.ts';
import { checksum, descriptorText, floatsToBase64, l2normalise, parseDescriptorText, Whitening, WHITENING_FORMAT } from '../../classifiers/copy/whitening.ts';
import type { BankEntryRecord } from '../../classifiers/bank-store.ts';
import { MemoryBankStore } from '../helpers/memory-bank-store.ts';

/** A seeded generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const unitVector = (r: () => number, dim: number) => l2normalise(Float32Array.from({ length: dim }, () => r() * 2 - 1));

function linearTopK(rows: Array<Float32Array | null>, q: Float32Array, k: number, floor = -Infinity) {
  const all = rows
    .map((v, slot) => (v ? { slot, similarity: v.reduce((s, x, i) => s + x * q[i]!, 0) } : null))
    .filter((h): h is { slot: number; similarity: number } => h !== null && h.similarity >= floor);
  return all.sort((a, b) => b.similarity - a.similarity || a.slot - b.slot).slice(0, k);
}

describe('the copy descriptor index', () => {
  it('returns exactly the top-k of a linear scan on random data, through adds and removes', () => {
    const r = rng(12);
    for (const dim of [7, 64, 128]) {
      const index = new CopyIndex(dim, 16);
      const rows: Array<Float32Array | null> = [];
      for (let i = 0; i < 3000; i++) {
        const v = unitVector(r, dim);
        expect(index.add(v)).toBe(rows.length);
        rows.push(v);
      }
      // Remove a scattered tenth, then add more: freed slots are reused.
      for (let i = 0; i < rows.length; i += 10) {
        index.remove(i);
        rows[i] = null;
      }
      for (let i = 0; i < 100; i++) {
        const v = unitVector(r, dim);
        const slot = index.add(v);
        expect(rows[slot], 'a reused slot was free').toBeNull();
        rows[slot] = v;
      }
      expect(index.size).toBe(rows.filter((v) => v !== null).length);
      for (let t = 0; t < 25; t++) {
        const q = unitVector(r, dim);
        for (const k of [1, 5, 20]) {
          const got = index.search(q, k);
          const want = linearTopK(rows, q, k);
          expect(got.map((h) => h.slot)).toEqual(want.map((h) => h.slot));
          got.forEach((h, i) => expect(h.similarity).toBeCloseTo(want[i]!.similarity, 5));
        }
        const floor = 0.1;
        expect(index.search(q, 50, floor).map((h) => h.slot)).toEqual(linearTopK(rows, q, 50, floor).map((h) => h.slot));
      }
    }
  });

  it('finds a near copy of a stored row first', () => {
    const r = rng(5);
    const index = new CopyIndex(128);
    const rows = Array.from({ length: 500 }, () => unitVector(r, 128));
    rows.forEach((v) => index.add(v));
    const noisy = l2normalise(rows[321]!.map((x) => x + (r() - 0.5) * 0.05));
    expect(index.search(noisy, 1)[0]!.slot).toBe(321);
  });
});

function whiteningJson(inputDim: number, outputDim: number, model = 'm@1') {
  const mean = new Float32Array(inputDim).fill(0.01);
  const projection = new Float32Array(inputDim * outputDim);
  for (let r = 0; r < outputDim; r++) projection[r * inputDim + r] = 2;
  return {
    format: WHITENING_FORMAT,
    id: 'test-w',
    model,
    inputDim,
    outputDim,
    mean: floatsToBase64(mean),
    projection: floatsToBase64(projection),
    sha256: checksum(mean, projection),
    fit: {},
  };
}

describe('the whitening file', () => {
  it('projects a normalised, centred embedding and normalises the result', () => {
    const w = Whitening.parse(whiteningJson(4, 2), 'test');
    const d = w.apply(Float32Array.from([3, 4, 0, 0]));
    // (0.6-0.01, 0.8-0.01) * 2, normalised.
    const n = Math.hypot(0.59, 0.79);
    expect(d[0]).toBeCloseTo(0.59 / n, 5);
    expect(d[1]).toBeCloseTo(0.79 / n, 5);
  });

  it('refuses a damaged file, wrong dimensions and another model, with a stable code', () => {
    const good = whiteningJson(4, 2);
    const cases: unknown[] = [
      { ...good, sha256: 'f'.repeat(64) },
      { ...good, inputDim: 5 },
      { ...good, format: 'other/1' },
      { ...good, mean: floatsToBase64(Float32Array.from([NaN, 0, 0, 0])) },
      'not an object',
    ];
    for (const c of cases) expect(() => Whitening.parse(c, 'test')).toThrow(expect.objectContaining({ code: 'copy_whitening_invalid' }));
    const w = Whitening.parse(good, 'test');
    expect(() => w.checkModel('m@2', 4)).toThrow(expect.objectContaining({ code: 'copy_whitening_invalid' }));
    expect(() => w.checkModel('m@1', 4)).not.toThrow();
  });

  it('reads back only descriptors made with its own whitening', () => {
    const d = l2normalise(Float32Array.from([1, 2, 3]));
    const text = descriptorText('w1', d);
    expect(Array.from(parseDescriptorText(text, 'w1', 3)!)).toEqual(Array.from(d));
    expect(parseDescriptorText(text, 'w2', 3)).toBeNull();
    expect(parseDescriptorText(text, 'w1', 4)).toBeNull();
    expect(parseDescriptorText('w1:!!!', 'w1', 3)).toBeNull();
  });
});

describe('the copy bank index, fed through a BankStore', () => {
  const r = rng(99);
  const vecs = Array.from({ length: 6 }, () => unitVector(r, 16));
  const copyEntry = (n: number, parent: string, bank = 'tve', region = 'copy'): BankEntryRecord => ({
    id: `c${n}`,
    bank,
    signalType: 'copy',
    hash: descriptorText('w1', vecs[n]!),
    category: 'terrorist-violent-extremism',
    severity: 'critical',
    derivedFrom: parent,
    region,
  });

  it('matches banked content by its descriptors, follows disables, and skips stale or PDQ rows', async () => {
    const store = new MemoryBankStore();
    store.putBank({ name: 'tve', enabled: true, radius: 31 });
    store.importEntries([
      { id: 'p1', bank: 'tve', signalType: 'pdq', hash: 'a'.repeat(64), category: 'terrorist-violent-extremism', severity: 'critical' },
      copyEntry(0, 'p1'),
      copyEntry(1, 'p1', 'tve', 'copy-centre-70'),
      copyEntry(2, 'p2'),
      { ...copyEntry(3, 'p3'), hash: descriptorText('w0', vecs[3]!) },
    ]);
    const index = new CopyBankIndex(store, 'w1', 16);
    await index.loadAll();
    expect(index.size).toBe(3);
    expect(index.stats.stale).toBe(1);
    const m = index.match(vecs[1]!, 0.99);
    expect(m).toEqual([
      {
        entryId: 'p1',
        descriptorEntryId: 'c1',
        bank: 'tve',
        category: 'terrorist-violent-extremism',
        severity: 'critical',
        region: 'copy-centre-70',
        similarity: expect.closeTo(1, 5),
      },
    ]);
    expect(index.match(vecs[3]!, 0.99), 'a stale descriptor is never compared').toEqual([]);
    store.putEntry(copyEntry(2, 'p2'), false);
    await index.refresh();
    expect(index.match(vecs[2]!, 0.99)).toEqual([]);
    store.putBank({ name: 'tve', enabled: false, radius: 31 });
    await index.refresh();
    expect(index.match(vecs[0]!, 0.5), 'a disabled bank matches nothing').toEqual([]);
  });
});
