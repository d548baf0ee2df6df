/**
 * PDQ index lookups at radius 31 on banks of 100k, 1M and (full run) 10M random hashes, against a linear
 * scan measured in the same run, plus the index's memory. Queries are half random (no match: the MIH worst
 * case, every slice probes 17 buckets) and half near-duplicates of bank entries (up to 31 bits flipped).
 * Then, on the 1M and 10M banks, 100k / 300k live add() calls with the event loop turning every 64 adds:
 * the worst add() pause, the longest merge slice, and lookups again with mid and tail segments in place.
 * Times are CPU time of this process (process.cpuUsage: per core, though it also counts V8's helper
 * threads), not wall time, since the machine is shared. Standalone:
 * `node --max-old-space-size=4096 --import tsx scripts/bench/hash-index.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { PdqHashIndex, linearScan } from '../../classifiers/hash-index.ts';
import type { PdqHash } from '../../classifiers/pdq.ts';
import type { BenchResult } from './types.ts';
import { cpuMs, xorshift } from './kit.ts';

const RADIUS = 31;

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

/** Lookups per CPU second at radius 31 over random and near-duplicate queries. */
function lookupRows(
  index: PdqHashIndex,
  words: Uint32Array,
  n: number,
  label: string,
  minMs: number,
  next: () => number,
  baseline: BenchResult['baseline'],
  note: string,
  results: BenchResult[],
): void {
  for (const near of [false, true]) {
    const qs = queries(words, n, 500, near, next);
    const rate = lookupsPerSecond((q) => index.search(q, RADIUS), qs, minMs);
    results.push({
      name: `index ${label} lookups r=${RADIUS}, ${near ? 'near-duplicate' : 'random'} queries`,
      unit: 'lookups/s/core',
      value: rate,
      baseline,
      note,
    });
  }
}

function layoutNote(index: PdqHashIndex): string {
  const { base, mid, tail } = index.layout;
  return `segments: base ${base}, mid ${mid}, tail ${tail}`;
}

/**
 * Live inserts: `adds` single add() calls, yielding to the event loop every 64 (as a server between
 * requests would), so merge jobs run in the background. Reports the longest add() call (CPU and wall) and
 * the longest merge slice run on the event loop (CPU).
 */
async function insertPhase(
  index: PdqHashIndex,
  adds: number,
  next: () => number,
): Promise<{ maxAddCpuMs: number; maxAddWallMs: number; cpuMs: number; wallMs: number }> {
  const h = new Uint32Array(8);
  let maxAddCpuMs = 0;
  let maxAddWallMs = 0;
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  for (let i = 0; i < adds; i++) {
    for (let w = 0; w < 8; w++) h[w] = next();
    const c = process.cpuUsage();
    const t = performance.now();
    index.add(h);
    const wall = performance.now() - t;
    const cpu = process.cpuUsage(c);
    maxAddCpuMs = Math.max(maxAddCpuMs, (cpu.user + cpu.system) / 1000);
    maxAddWallMs = Math.max(maxAddWallMs, wall);
    if ((i & 63) === 63) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await index.idle();
  return { maxAddCpuMs, maxAddWallMs, cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0 };
}

async function benchBank(n: number, opts: { quick: boolean }, results: BenchResult[]): Promise<void> {
  const next = xorshift(n);
  const words = randomBank(n, next);
  const label = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
  global.gc?.();
  const heapBefore = process.memoryUsage();
  const buildCpu = cpuMs();
  const buildStart = performance.now();
  // The index takes the packed words as its store (no copy); linearScan reads the same array.
  const index = PdqHashIndex.fromPacked(words, n);
  const buildMs = performance.now() - buildStart;
  const buildCpuMs = cpuMs() - buildCpu;
  global.gc?.();
  const heapAfter = process.memoryUsage();
  const mem = index.memory();
  const minMs = opts.quick ? 300 : 1500;
  // Linear scans are slow on big banks: time only a handful.
  const linearQueries = queries(words, n, n >= 5e6 ? 3 : 10, false, next);
  const linearRate = lookupsPerSecond((q) => linearScan(words, n, q, RADIUS), linearQueries, n >= 5e6 ? 0 : minMs / 3);
  const baseline = { name: 'linearScan', value: linearRate };
  const build = `build ${(buildCpuMs / 1000).toFixed(1)} s CPU (${(buildMs / 1000).toFixed(1)} s wall)`;
  lookupRows(index, words, n, label, minMs, next, baseline, `${layoutNote(index)}; ${build}`, results);
  results.push({
    name: `index ${label} memory (typed arrays)`,
    unit: 'MB',
    value: mb(mem.totalBytes),
    note: `hashes ${mb(mem.hashBytes)} MB + slice tables ${mb(mem.tableBytes)} MB + tombstones ${mb(mem.tombstoneBytes)} MB; process arrayBuffers delta ${mb(heapAfter.arrayBuffers - heapBefore.arrayBuffers)} MB, rss delta ${mb(heapAfter.rss - heapBefore.rss)} MB (store allocated before)`,
  });
  if (n < 1e6) return;
  // Live inserts on top of the bulk-built bank, enough to go through mid rebuilds and one base merge.
  const adds = n >= 5e6 ? 300_000 : 100_000;
  const ins = await insertPhase(index, adds, next);
  const lay = index.layout;
  results.push({
    name: `index ${label} + ${adds / 1000}k live adds: worst add() pause`,
    unit: 'ms CPU',
    value: ins.maxAddCpuMs,
    note: `wall ${ins.maxAddWallMs.toFixed(1)} ms (machine shared); longest merge slice on the event loop ${lay.longestMergeSliceCpuMs.toFixed(1)} ms CPU; ${lay.midMerges} mid rebuilds + ${lay.baseMerges} base merges, ${((ins.cpuMs * 1000) / adds).toFixed(1)} µs CPU per add amortised (${(ins.wallMs / 1000).toFixed(1)} s wall)`,
  });
  const total = index.slots;
  const all = new Uint32Array(total * 8);
  for (let id = 0; id < total; id++) all.set(index.hashAt(id), id * 8);
  lookupRows(
    index,
    all,
    total,
    `${label}+${adds / 1000}k`,
    minMs,
    next,
    baseline,
    `after the adds; ${layoutNote(index)}; ${mb(index.memory().totalBytes)} MB`,
    results,
  );
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
