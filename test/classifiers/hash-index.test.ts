import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HashHit, PdqHashIndex, linearScan } from '../../classifiers/hash-index.ts';
import { type PdqHash, fromHex, hamming, toHex } from '../../classifiers/pdq.ts';
import { xorshift } from '../../scripts/bench/kit.ts';

// xorshift32 (the benchmarks' own): fast deterministic words for banks too big to draw through fast-check.
const wordSource = xorshift;

function randomHash(next: () => number): PdqHash {
  return Uint32Array.from({ length: 8 }, next);
}

/** A copy of `hash` with `flips` distinct random bits flipped. */
function nearby(hash: PdqHash, flips: number, next: () => number): PdqHash {
  const out = Uint32Array.from(hash);
  const chosen = new Set<number>();
  while (chosen.size < Math.min(flips, 256)) chosen.add(next() % 256);
  for (const bit of chosen) out[bit >> 5] = (out[bit >> 5]! ^ (1 << (bit & 31))) >>> 0;
  return out;
}

function pack(hashes: PdqHash[]): Uint32Array {
  const words = new Uint32Array(hashes.length * 8);
  hashes.forEach((h, i) => words.set(h, i * 8));
  return words;
}

interface Bank {
  hashes: PdqHash[];
  queries: PdqHash[];
}

/** Bank of random hashes, or of hashes within `spread` bits of a few centres; queries near bank entries and random. */
const bankArb = fc
  .record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    size: fc.integer({ min: 1, max: 600 }),
    centres: fc.integer({ min: 0, max: 5 }),
    spread: fc.integer({ min: 0, max: 48 }),
  })
  .map(({ seed, size, centres, spread }): Bank => {
    const next = wordSource(seed);
    const centreHashes = Array.from({ length: centres }, () => randomHash(next));
    const hashes = Array.from({ length: size }, (_, i) => (centres === 0 ? randomHash(next) : nearby(centreHashes[i % centres]!, next() % (spread + 1), next)));
    const queries = [...Array.from({ length: 4 }, () => nearby(hashes[next() % size]!, next() % 40, next)), ...centreHashes, randomHash(next)];
    return { hashes, queries };
  });

const sameHits = (a: HashHit[], b: HashHit[]): void => expect(a).toEqual(b);

describe('PdqHashIndex exact search', () => {
  it('returns exactly the linear scan results on random and clustered banks, radii 0..64', () => {
    fc.assert(
      fc.property(bankArb, fc.integer({ min: 0, max: 64 }), (bank, radius) => {
        const words = pack(bank.hashes);
        const index = PdqHashIndex.fromPacked(Uint32Array.from(words), bank.hashes.length);
        for (const q of bank.queries) sameHits(index.search(q, radius), linearScan(words, bank.hashes.length, q, radius));
      }),
      { numRuns: 100 },
    );
  });

  it('agrees with the linear scan at every radius from 0 to 256 on a clustered bank', () => {
    const next = wordSource(99);
    const centre = randomHash(next);
    const hashes = Array.from({ length: 400 }, () => nearby(centre, next() % 100, next));
    const words = pack(hashes);
    const index = PdqHashIndex.fromPacked(Uint32Array.from(words), hashes.length);
    for (let radius = 0; radius <= 256; radius++) {
      sameHits(index.search(centre, radius), linearScan(words, hashes.length, centre, radius));
    }
  });

  it('reports each match once, with its distance, sorted by distance then id', () => {
    const next = wordSource(7);
    const base = randomHash(next);
    const index = PdqHashIndex.fromHashes([base, nearby(base, 3, next), randomHash(next), Uint32Array.from(base)]);
    const hits = index.search(base, 31);
    expect(hits).toEqual([
      { id: 0, distance: 0 },
      { id: 3, distance: 0 },
      { id: 1, distance: 3 },
    ]);
  });

  it('stays exact on a bank of more than 65,536 hashes, where ids need their high bits (base and mid segments)', () => {
    const next = wordSource(2024);
    const n = 140_000;
    const words = new Uint32Array(n * 8);
    for (let i = 0; i < words.length; i++) words[i] = next();
    // Plant near-duplicates of a few high ids.
    const targets = [70_001, 131_072, 139_999];
    const queries = targets.map((id) => nearby(words.subarray(id * 8, id * 8 + 8), 20, next));
    for (const [i, id] of [135_000, 80_000, 66_000].entries()) words.set(nearby(queries[i]!, 9, next), id * 8);
    // One base over everything; and a base over the first 70,000 plus a mid segment over the rest, built
    // from single adds (ids relative to the mid's start, which is not a multiple of 65,536).
    const split = PdqHashIndex.fromPacked(words.slice(0, 70_000 * 8), 70_000, { tailLimit: 8192, midLimit: 1e6, background: false });
    for (let id = 70_000; id < n; id++) split.add(words.subarray(id * 8, id * 8 + 8));
    split.settle();
    expect(split.layout).toMatchObject({ base: 70_000, mid: n - 70_000, tail: 0 });
    for (const index of [PdqHashIndex.fromPacked(Uint32Array.from(words), n), split]) {
      for (const q of [...queries, randomHash(next)]) {
        for (const radius of [0, 15, 31, 40, 47]) sameHits(index.search(q, radius), linearScan(words, n, q, radius));
      }
      expect(index.search(queries[0]!, 31).map((h) => h.id)).toEqual(expect.arrayContaining([70_001, 135_000]));
    }
  });
});

describe('PdqHashIndex updates', () => {
  it('finds hashes added after a build at once, and merges them into the tables past the tail limit', () => {
    fc.assert(
      fc.property(bankArb, bankArb, fc.integer({ min: 0, max: 64 }), (first, later, radius) => {
        const index = PdqHashIndex.fromHashes(first.hashes, { tailLimit: 50 });
        const all = [...first.hashes];
        for (const h of later.hashes) {
          expect(index.add(h)).toBe(all.length);
          all.push(h);
        }
        const words = pack(all);
        for (const q of [...first.queries, ...later.queries]) sameHits(index.search(q, radius), linearScan(words, all.length, q, radius));
      }),
      { numRuns: 40 },
    );
  });

  it('stops returning removed hashes, before and after a rebuild, and keeps the other ids stable', () => {
    fc.assert(
      fc.property(bankArb, fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (bank, radius, seed) => {
        const next = wordSource(seed);
        const index = PdqHashIndex.fromHashes(bank.hashes.slice(0, Math.ceil(bank.hashes.length / 2)), { tailLimit: 40 });
        for (const h of bank.hashes.slice(Math.ceil(bank.hashes.length / 2))) index.add(h);
        const removed = new Uint32Array(Math.ceil(bank.hashes.length / 32));
        for (let id = 0; id < bank.hashes.length; id++) {
          if (next() % 3 === 0) {
            expect(index.remove(id)).toBe(true);
            removed[id >>> 5] = (removed[id >>> 5]! | (1 << (id & 31))) >>> 0;
          }
        }
        const words = pack(bank.hashes);
        const oracle = (q: PdqHash): HashHit[] => linearScan(words, bank.hashes.length, q, radius, removed);
        for (const q of bank.queries) sameHits(index.search(q, radius), oracle(q));
        index.build();
        for (const q of bank.queries) sameHits(index.search(q, radius), oracle(q));
      }),
      { numRuns: 40 },
    );
  });

  it('tracks size, slots and removals', () => {
    const next = wordSource(5);
    const index = new PdqHashIndex({ initialCapacity: 2 });
    const ids = Array.from({ length: 40 }, () => index.add(randomHash(next)));
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(index.remove(3)).toBe(true);
    expect(index.remove(3)).toBe(false);
    expect(index.remove(99)).toBe(false);
    expect(index.has(3)).toBe(false);
    expect(index.size).toBe(39);
    expect(index.slots).toBe(40);
    const h = fromHex('f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22');
    const id = index.add(h);
    expect(toHex(index.hashAt(id))).toBe(toHex(h));
    expect(hamming(index.hashAt(id), h)).toBe(0);
  });

  it('stores a bank in ~82 bytes per hash: 10M well under 1 GB', () => {
    const next = wordSource(11);
    const n = 200_000;
    const words = new Uint32Array(n * 8);
    for (let i = 0; i < words.length; i++) words[i] = next();
    const mem = PdqHashIndex.fromPacked(words, n).memory();
    expect(mem.hashBytes).toBe(n * 32);
    // 8 slice pairs × (16-bit low id + unary high id bits + 2 × 16-bit partner slice) plus 16 × 256 KiB of
    // bucket offsets; the unary bits cost ~2.3 bits per id here and ~2 at 10M.
    const fixed = 16 * 65_537 * 4;
    expect((mem.totalBytes - fixed) / n).toBeLessThan(83);
    expect(((mem.totalBytes - fixed) / n) * 10_000_000 + fixed).toBeLessThan(0.85e9);
  });
});

describe('PdqHashIndex live inserts (tail, mid and base segments)', () => {
  it('matches the oracle after every batch of single adds, across mid rebuilds and base merges', () => {
    fc.assert(
      fc.property(
        bankArb,
        fc.integer({ min: 4, max: 40 }),
        fc.integer({ min: 8, max: 200 }),
        fc.integer({ min: 0, max: 47 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (bank, tailLimit, midLimit, radius, seed) => {
          const next = wordSource(seed);
          const index = new PdqHashIndex({ tailLimit, midLimit, background: false });
          const words = pack(bank.hashes);
          for (let i = 0; i < bank.hashes.length; i++) {
            expect(index.add(bank.hashes[i]!)).toBe(i);
            if (next() % 97 === 0) index.settle();
            if (i % 53 === 52 || i === bank.hashes.length - 1) {
              for (const q of bank.queries) sameHits(index.search(q, radius), linearScan(words, i + 1, q, radius));
            }
          }
          index.settle();
          expect(index.layout).toMatchObject({ tail: 0, merging: null });
          for (const q of bank.queries) sameHits(index.search(q, radius), linearScan(words, bank.hashes.length, q, radius));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('goes through mid rebuilds and base merges, one bounded step at a time inside add()', () => {
    const next = wordSource(77);
    const index = new PdqHashIndex({ tailLimit: 64, midLimit: 2000, background: false });
    const hashes: PdqHash[] = [];
    let maxTail = 0;
    for (let i = 0; i < 12_000; i++) {
      const h = i > 0 && i % 3 === 0 ? nearby(hashes[next() % i]!, next() % 40, next) : randomHash(next);
      hashes.push(h);
      index.add(h);
      maxTail = Math.max(maxTail, index.layout.tail);
      if (i % 1000 === 999) {
        const words = pack(hashes);
        for (const q of [nearby(hashes[next() % hashes.length]!, 20, next), randomHash(next)]) {
          for (const radius of [0, 31, 47]) sameHits(index.search(q, radius), linearScan(words, hashes.length, q, radius));
        }
      }
    }
    const { baseMerges, midMerges, base } = index.layout;
    expect(baseMerges).toBeGreaterThanOrEqual(3);
    expect(midMerges).toBeGreaterThan(10);
    expect(base).toBeGreaterThan(6000);
    // The tail stays bounded (a job has a few hundred steps; each add past 2 × tailLimit runs at least one).
    expect(maxTail).toBeLessThan(1500);
  });

  it('removes slots in the base, the mid and the tail, before and after merges', () => {
    fc.assert(
      fc.property(bankArb, fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (bank, radius, seed) => {
        const next = wordSource(seed);
        const n = bank.hashes.length;
        const third = Math.ceil(n / 3);
        const index = PdqHashIndex.fromHashes(bank.hashes.slice(0, third), { tailLimit: 16, midLimit: 10_000, background: false });
        for (const h of bank.hashes.slice(third, 2 * third)) index.add(h);
        index.settle(); // second third: in the mid segment
        for (const h of bank.hashes.slice(2 * third, n)) index.add(h); // last third: tail, or a pending mid job
        const removed = new Uint32Array(Math.ceil(n / 32));
        const words = pack(bank.hashes);
        const oracle = (q: PdqHash): HashHit[] => linearScan(words, n, q, radius, removed);
        const check = (): void => {
          for (const q of bank.queries) sameHits(index.search(q, radius), oracle(q));
        };
        const removeSome = (): void => {
          for (let id = 0; id < n; id++) {
            if (next() % 4 === 0) {
              const was = index.has(id);
              expect(index.remove(id)).toBe(was);
              removed[id >>> 5] = (removed[id >>> 5]! | (1 << (id & 31))) >>> 0;
            }
          }
          expect(index.size).toBe(n - [...Array(n).keys()].filter((id) => (removed[id >>> 5]! >>> (id & 31)) & 1).length);
        };
        removeSome();
        check();
        index.settle(); // removals during and before a merge
        check();
        removeSome();
        check();
        index.build();
        check();
      }),
      { numRuns: 50 },
    );
  });

  it('merges on the event loop when background is on, staying exact while jobs are under way', async () => {
    const next = wordSource(31);
    const index = PdqHashIndex.fromHashes(
      Array.from({ length: 3000 }, () => randomHash(next)),
      { tailLimit: 50, midLimit: 400 },
    );
    const hashes = Array.from({ length: 3000 }, (_, id) => index.hashAt(id));
    for (let i = 0; i < 3000; i++) {
      const h = nearby(hashes[next() % hashes.length]!, next() % 32, next);
      hashes.push(h);
      index.add(h);
      if (i % 100 === 99) {
        const q = nearby(h, 10, next);
        sameHits(index.search(q, 31), linearScan(pack(hashes), hashes.length, q, 31));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    await index.idle();
    expect(index.layout.merging).toBeNull();
    expect(index.layout.midMerges).toBeGreaterThan(0);
    expect(index.layout.baseMerges).toBeGreaterThan(0);
    const q = nearby(hashes[4000]!, 12, next);
    sameHits(index.search(q, 31), linearScan(pack(hashes), hashes.length, q, 31));
  });

  it('takes small addMany batches incrementally and builds large ones at once', () => {
    const next = wordSource(3);
    const index = new PdqHashIndex({ tailLimit: 100, background: false });
    index.addMany(Array.from({ length: 1000 }, () => randomHash(next)));
    expect(index.layout).toMatchObject({ base: 1000, mid: 0, tail: 0 });
    index.addMany(Array.from({ length: 60 }, () => randomHash(next)));
    expect(index.layout).toMatchObject({ base: 1000, mid: 0, tail: 60, merging: null });
    index.addMany(Array.from({ length: 60 }, () => randomHash(next)));
    expect(index.layout).toMatchObject({ base: 1000, tail: 120, merging: 'mid' });
    index.settle();
    expect(index.layout).toMatchObject({ base: 1000, mid: 120, tail: 0, merging: null });
    index.addMany(Array.from({ length: 1200 }, () => randomHash(next)));
    expect(index.layout).toMatchObject({ base: 2320, mid: 0, tail: 0 });
  });

  it('weighs a batch against the live hashes, so a set replaced again and again still builds at once', () => {
    const next = wordSource(4);
    const index = new PdqHashIndex({ tailLimit: 100, background: false });
    let first = index.addMany(Array.from({ length: 500 }, () => randomHash(next)));
    for (let round = 0; round < 3; round++) {
      const replacement = index.addMany(Array.from({ length: 500 }, () => randomHash(next)));
      for (let id = first; id < first + 500; id++) index.remove(id);
      first = replacement;
    }
    expect(index.slots, 'old slots stay as tombstones').toBe(2000);
    expect(index.size).toBe(500);
    expect(index.layout).toMatchObject({ tail: 0, merging: null });
  });
});
