/**
 * PDQ index lookups at radius 31 on banks of 100k, 1M and (full run) 10M random hashes, against a linear
 * scan measured in the same run, plus the index's memory. Queries are half random (no match: the MIH worst
 * case, every slice probes 17 buckets) and half near-duplicates of bank entries (up to 31 bits flipped).
 * Times are CPU time of this single-threaded process (per core). Standalone:
 * `node --max-old-space-size=4096 --import tsx scripts/bench/hash-index.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { PdqHashIndex, linearScan } from '../../classifiers/hash-index.ts';
import type { PdqHash } from '../../classifiers/pdq.ts';
import type { BenchResult } from './types.ts';

const RADIUS = 31;

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function randomBank(n: number, next: () => number): Uint32Array {
  const words = new Uint32Array(n * 8);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return words;
}

function queries(words: Uint32Array, n: number, count: number, near: boolean, next: () => number): PdqHash[] {
  return Array.from({ length: count }, () => {
    if (!near) return Uint32Array.from({ length: 8 }, next);
    const id = next() % n;
    const q = words.slice(id * 8, id * 8 + 8);
    const flips = next() % (RADIUS + 1);
    for (let f = 0; f < flips; f++) {
      const bit = next() % 256;
      q[bit >> 5] = (q[bit >> 5]! ^ (1 << (bit & 31))) >>> 0;
    }
    return q;
  });
}

/** Lookups per CPU second of `search` over the queries, after one warm-up pass. */
function lookupsPerSecond(search: (q: PdqHash) => unknown, qs: PdqHash[], minMs: number): number {
  for (const q of qs.slice(0, 50)) search(q);
  let done = 0;
  const start = cpuMs();
  let elapsed = 0;
  while (elapsed < minMs || done < qs.length) {
    search(qs[done % qs.length]!);
    done++;
    elapsed = cpuMs() - start;
  }
  return (done / elapsed) * 1000;
}

function mb(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}

async function benchBank(n: number, opts: { quick: boolean }, results: BenchResult[]): Promise<void> {
  const next = xorshift(n);
  const words = randomBank(n, next);
  const label = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
  global.gc?.();
  const heapBefore = process.memoryUsage();
  const buildStart = performance.now();
  // The index takes the packed words as its store (no copy); linearScan reads the same array.
  const index = PdqHashIndex.fromPacked(words, n);
  const buildMs = performance.now() - buildStart;
  global.gc?.();
  const heapAfter = process.memoryUsage();
  const mem = index.memory();
  const minMs = opts.quick ? 300 : 1500;
  // Linear scans are slow on big banks: time only a handful.
  const linearQueries = queries(words, n, n >= 5e6 ? 3 : 10, false, next);
  const linearRate = lookupsPerSecond((q) => linearScan(words, n, q, RADIUS), linearQueries, n >= 5e6 ? 0 : minMs / 3);
  const baseline = { name: 'linearScan', value: linearRate };
  for (const near of [false, true]) {
    const qs = queries(words, n, 500, near, next);
    const rate = lookupsPerSecond((q) => index.search(q, RADIUS), qs, minMs);
    results.push({
      name: `index ${label} lookups r=${RADIUS}, ${near ? 'near-duplicate' : 'random'} queries`,
      unit: 'lookups/s/core',
      value: rate,
      baseline,
      note: `partner filter ${index.partnerFilterOn ? 'on' : 'off'}; build ${(buildMs / 1000).toFixed(1)} s wall`,
    });
  }
  results.push({
    name: `index ${label} memory (typed arrays)`,
    unit: 'MB',
    value: mb(mem.totalBytes),
    note: `hashes ${mb(mem.hashBytes)} MB + slice tables ${mb(mem.tableBytes)} MB + tombstones ${mb(mem.tombstoneBytes)} MB; process arrayBuffers delta ${mb(heapAfter.arrayBuffers - heapBefore.arrayBuffers)} MB, rss delta ${mb(heapAfter.rss - heapBefore.rss)} MB (store allocated before)`,
  });
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const sizes = opts.quick ? [100_000, 1_000_000] : [100_000, 1_000_000, 10_000_000];
  for (const n of sizes) await benchBank(n, opts, results);
  return results;
}

function printTable(results: BenchResult[]): void {
  console.table(
    results.map((r) => ({
      name: r.name,
      value: `${r.value.toFixed(1)} ${r.unit}`,
      baseline: r.baseline ? `${r.baseline.value.toFixed(1)} (${r.baseline.name})` : '',
      speedup: r.baseline ? `${(r.value / r.baseline.value).toFixed(0)}x` : '',
      note: r.note ?? '',
    })),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
