import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HashHit, PdqHashIndex, linearScan } from '../../classifiers/hash-index.ts';
import { type PdqHash, fromHex, hamming, toHex } from '../../classifiers/pdq.ts';

/** xorshift32: fast deterministic words for banks too big to draw through fast-check. */
function wordSource(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

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
    const hashes = Array.from({ length: size }, (_, i) =>
      centres === 0 ? randomHash(next) : nearby(centreHashes[i % centres]!, next() % (spread + 1), next),
    );
    const queries = [
      ...Array.from({ length: 4 }, () => nearby(hashes[next() % size]!, next() % 40, next)),
      ...centreHashes,
      randomHash(next),
    ];
    return { hashes, queries };
  });

const sameHits = (a: HashHit[], b: HashHit[]): void => expect(a).toEqual(b);

describe('PdqHashIndex exact search', () => {
  it('returns exactly the linear scan results on random and clustered banks, radii 0..64', () => {
    fc.assert(
      fc.property(bankArb, fc.integer({ min: 0, max: 64 }), fc.boolean(), (bank, radius, partner) => {
        const words = pack(bank.hashes);
        const index = PdqHashIndex.fromPacked(Uint32Array.from(words), bank.hashes.length, { partnerFilter: partner });
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

  it('stays exact on a bank of more than 65,536 hashes, where ids need their high bits', () => {
    const next = wordSource(2024);
    const n = 140_000;
    const words = new Uint32Array(n * 8);
    for (let i = 0; i < words.length; i++) words[i] = next();
    // Plant near-duplicates of a few high ids.
    const targets = [70_001, 131_072, 139_999];
    const queries = targets.map((id) => nearby(words.subarray(id * 8, id * 8 + 8), 20, next));
    for (const [i, id] of [135_000, 80_000, 66_000].entries()) words.set(nearby(queries[i]!, 9, next), id * 8);
    for (const partnerFilter of [true, false]) {
      const index = PdqHashIndex.fromPacked(Uint32Array.from(words), n, { partnerFilter });
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

  it('stores a bank in ~69 bytes per hash (10M well under 1 GB), ~101 with the partner filter', () => {
    const next = wordSource(11);
    const n = 200_000;
    const words = new Uint32Array(n * 8);
    for (let i = 0; i < words.length; i++) words[i] = next();
    const lean = PdqHashIndex.fromPacked(Uint32Array.from(words), n, { partnerFilter: false }).memory();
    const fast = PdqHashIndex.fromPacked(words, n, { partnerFilter: true }).memory();
    expect(lean.hashBytes).toBe(n * 32);
    // Slice tables: 16 × (16-bit low id + unary high id bits) plus 16 × 256 KiB of bucket offsets.
    const fixed = 16 * 65_537 * 4;
    expect((lean.totalBytes - fixed) / n).toBeLessThan(70);
    expect((fast.totalBytes - fixed) / n).toBeLessThan(102);
    // The 'auto' default turns the filter off above 4M hashes: 10M stay under 0.7 GB.
    expect(((lean.totalBytes - fixed) / n) * 10_000_000 + fixed).toBeLessThan(0.7e9);
  });
});
