/**
 * One immutable multi-index segment of a PdqHashIndex: the MIH tables over a contiguous range of slots,
 * built in resumable steps (a generator) so the index can build it a few milliseconds at a time.
 *
 * Layout ("paired slices, ids on one side"). A 256-bit hash is 16 slices of 16 bits; slices 2k and 2k+1
 * share word k and form pair k. If two hashes are within r bits, some pair differs in at most
 * R = floor(r/8) bits (8 pairs), and then one of its two slices in at most floor(R/2) = floor(r/16) bits.
 * So for each pair the search probes both slices' buckets within floor(r/16) bits of the query and keeps
 * only entries whose whole pair is within R bits. Per pair:
 *
 * - side A, bucketed by slice 2k: the entry's ids (Elias-Fano: low 16 bits in `lo`, high bits unary-coded
 *   in `hiBits`, ids ascending within a bucket) and its slice 2k+1 value (`partnerA`), the filter;
 * - side B, bucketed by slice 2k+1: only the slice 2k value (`partnerB`), sorted within the bucket. No ids:
 *   an entry that passes the filter names the exact pair value (a, b), and its ids are the entries of side
 *   A's bucket a whose partner is b, a short sequential scan. Survivors are rare, so this costs little.
 *
 * That is 2 + 2 + ~0.25 bytes per hash on side A and 2 on side B: 50 bytes per hash over 8 pairs, plus
 * 16 × 256 KiB of bucket offsets; 10M hashes take ~506 MB of tables (+320 MB of hashes). Nearly every
 * candidate is rejected by a 16-bit compare in a sequential run, without touching the hash store.
 */
import { PDQ_WORDS } from './pdq.ts';

export const PAGE_SHIFT = 16;
/** Hashes per page of the hash store (2 MiB of words). */
export const PAGE_HASHES = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_HASHES - 1;
/** Words per page. */
export const PAGE_WORDS = PAGE_HASHES * PDQ_WORDS;
const PAIRS = 8;
const SLICE_VALUES = 1 << 16;
/** Slots counted per resumable build step (sequential reads, small random increments: ~0.5 ms). */
const STEP_IDS = 16_384;
/**
 * Entries placed per step. Placement writes land at random in arrays of 20 MB each at 10M hashes (cache
 * and TLB misses), ~1 µs an entry on a loaded VM: 4096 keeps a step to a few ms.
 */
const PLACE_STEP = 4096;
/** Buckets handled per resumable side-B placement step. */
const STEP_BUCKETS = 2048;
/** Fresh memory pre-faulted per step. */
const FAULT_STEP_BYTES = 256 * 1024;

/** The paged hash store: slot id's 8 words are pages[id >>> 16][(id & 0xffff) * 8 ...]; stored signed. */
export interface HashStore {
  pages: Int32Array[];
}

/** Bits set in each 16-bit value. */
export const POP16: Uint8Array = (() => {
  const t = new Uint8Array(SLICE_VALUES);
  for (let i = 1; i < SLICE_VALUES; i++) t[i] = t[i >> 1]! + (i & 1);
  return t;
})();

/** Bits set in a 32-bit word; only ever called with int32 so V8 keeps it on the fast path. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export function isRemoved(removed: Uint32Array, id: number): boolean {
  return (removed[id >>> 5]! & (1 << (id & 31))) !== 0;
}

interface PairTable {
  offA: Uint32Array;
  lo: Uint16Array;
  hiBits: Int32Array;
  partnerA: Uint16Array;
  offB: Uint32Array;
  partnerB: Uint16Array;
}

export interface Segment {
  /** Slots [start, end); ids in the tables are relative to start. */
  start: number;
  end: number;
  /** Entries in the tables (slots of the range not removed when it was built). */
  entries: number;
  /** High-id groups per bucket in the unary bit vectors: ceil((end - start) / 65536). */
  hiGroups: number;
  pairs: PairTable[];
}

export function segmentBytes(seg: Segment): number {
  let bytes = 0;
  for (const t of seg.pairs) {
    bytes += t.offA.byteLength + t.lo.byteLength + t.hiBits.byteLength + t.partnerA.byteLength;
    bytes += t.offB.byteLength + t.partnerB.byteLength;
  }
  return bytes;
}

// ---------------------------------------------------------------- building

/**
 * Builds the segment over slots [start, end), skipping removed slots. Yields after every bounded step
 * (~1 ms); the return value is the segment. Reads `store.pages` and `tombstones()` afresh at each step, so
 * slots may be added and removed while the build is paused: each tombstone word is copied once, just
 * before its slots are counted, and every pass uses that copy (a slot removed later stays in the tables
 * and is filtered out at search time).
 */
export function* buildSegment(store: HashStore, start: number, end: number, tombstones: () => Uint32Array): Generator<void, Segment, void> {
  const w0 = start >>> 5;
  const snap = new Uint32Array(((end + 31) >>> 5) - w0);
  let copied = w0;
  // Pass 1: bucket sizes of all 16 slices in one sequential read of the store.
  const counts: Uint32Array[] = [];
  for (let s = 0; s < PAIRS * 2; s++) counts.push(yield* fresh(new Uint32Array(SLICE_VALUES + 1)));
  for (let a = start; a < end; a += STEP_IDS) {
    const b = Math.min(end, a + STEP_IDS);
    const upTo = (b + 31) >>> 5;
    snap.set(tombstones().subarray(copied, upTo), copied - w0);
    copied = upTo;
    countSlices(store.pages, a, b, snap, w0, counts);
    yield;
  }
  for (const c of counts) prefixSums(c);
  yield;
  const entries = counts[0]![SLICE_VALUES]!;
  const hiGroups = Math.ceil((end - start) / SLICE_VALUES);
  const cursor = yield* fresh(new Uint32Array(SLICE_VALUES));
  const pairs: PairTable[] = [];
  for (let k = 0; k < PAIRS; k++) {
    const offA = counts[2 * k]!;
    const offB = counts[2 * k + 1]!;
    const lo = yield* fresh(new Uint16Array(entries));
    const partnerA = yield* fresh(new Uint16Array(entries));
    const hiBits = yield* fresh(new Int32Array(Math.ceil((entries + SLICE_VALUES * hiGroups) / 32) + 1));
    cursor.set(offA.subarray(0, SLICE_VALUES));
    for (let a = start; a < end; a += PLACE_STEP) {
      placeSideA(store.pages, k, start, a, Math.min(end, a + PLACE_STEP), snap, w0, cursor, lo, partnerA, hiBits, hiGroups);
      yield;
    }
    // Side B in side A's order, so each bucket comes out sorted by slice 2k (its partner): equal pair
    // values end up adjacent, which lets the search look each up once.
    const partnerB = yield* fresh(new Uint16Array(entries));
    cursor.set(offB.subarray(0, SLICE_VALUES));
    for (let v = 0; v < SLICE_VALUES;) {
      // Whole buckets, ~PLACE_STEP entries (or STEP_BUCKETS buckets) a step.
      let to = v + 1;
      while (to < SLICE_VALUES && to - v < STEP_BUCKETS && offA[to + 1]! - offA[v]! <= PLACE_STEP) to++;
      placeSideB(offA, partnerA, v, to, cursor, partnerB);
      v = to;
      yield;
    }
    pairs.push({ offA, lo, hiBits, partnerA, offB, partnerB });
  }
  return { start, end, entries, hiGroups, pairs };
}

/**
 * Touches a new array's pages 256 KiB per step. The placement passes write all over their arrays, so
 * left to them, each step would take the page faults of a whole array (slow where faults are expensive,
 * e.g. ~16 µs each in a sandboxed VM).
 */
function* fresh<T extends Uint16Array | Uint32Array | Int32Array>(arr: T): Generator<void, T, void> {
  const chunk = FAULT_STEP_BYTES / arr.BYTES_PER_ELEMENT;
  for (let i = 0; i < arr.length; i += chunk) {
    arr.fill(0, i, Math.min(arr.length, i + chunk));
    yield;
  }
  return arr;
}

/** Runs a resumable build to completion. */
export function finish<T>(gen: Generator<void, T, void>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}

// The loops live in plain functions: V8 does not optimise long-running loops inside generator bodies.

function prefixSums(c: Uint32Array): void {
  for (let v = 0; v < SLICE_VALUES; v++) c[v + 1]! += c[v]!;
}

function countSlices(pages: Int32Array[], from: number, to: number, removed: Uint32Array, w0: number, counts: Uint32Array[]): void {
  // Unrolled on purpose: sixteen named arrays keep the inner loop free of a counts[] lookup per slice
  // (the index build's hot loop; not re-measured since it was written, so left as it is).
  const c0 = counts[0]!,
    c1 = counts[1]!,
    c2 = counts[2]!,
    c3 = counts[3]!;
  const c4 = counts[4]!,
    c5 = counts[5]!,
    c6 = counts[6]!,
    c7 = counts[7]!;
  const c8 = counts[8]!,
    c9 = counts[9]!,
    c10 = counts[10]!,
    c11 = counts[11]!;
  const c12 = counts[12]!,
    c13 = counts[13]!,
    c14 = counts[14]!,
    c15 = counts[15]!;
  for (let id = from; id < to;) {
    const page = pages[id >>> PAGE_SHIFT]!;
    const pageEnd = Math.min(to, ((id >>> PAGE_SHIFT) + 1) << PAGE_SHIFT);
    for (let p = (id & PAGE_MASK) << 3; id < pageEnd; id++, p += PDQ_WORDS) {
      if ((removed[(id >>> 5) - w0]! & (1 << (id & 31))) !== 0) continue; // snapshot, word w0 first
      let w = page[p]!;
      c0[(w & 0xffff) + 1]!++;
      c1[(w >>> 16) + 1]!++;
      w = page[p + 1]!;
      c2[(w & 0xffff) + 1]!++;
      c3[(w >>> 16) + 1]!++;
      w = page[p + 2]!;
      c4[(w & 0xffff) + 1]!++;
      c5[(w >>> 16) + 1]!++;
      w = page[p + 3]!;
      c6[(w & 0xffff) + 1]!++;
      c7[(w >>> 16) + 1]!++;
      w = page[p + 4]!;
      c8[(w & 0xffff) + 1]!++;
      c9[(w >>> 16) + 1]!++;
      w = page[p + 5]!;
      c10[(w & 0xffff) + 1]!++;
      c11[(w >>> 16) + 1]!++;
      w = page[p + 6]!;
      c12[(w & 0xffff) + 1]!++;
      c13[(w >>> 16) + 1]!++;
      w = page[p + 7]!;
      c14[(w & 0xffff) + 1]!++;
      c15[(w >>> 16) + 1]!++;
    }
  }
}

/**
 * Stable counting-sort placement of slots [from, to) into side A of pair k. Within bucket v, entry e with
 * relative id `rel` sets unary bit e + v*hiGroups + (rel >>> 16): one 1 per id, preceded by one 0 per
 * skipped high value (ids ascend within a bucket because slots are placed in order).
 */
function placeSideA(
  pages: Int32Array[],
  k: number,
  start: number,
  from: number,
  to: number,
  removed: Uint32Array,
  w0: number,
  cursor: Uint32Array,
  lo: Uint16Array,
  partnerA: Uint16Array,
  hiBits: Int32Array,
  hiGroups: number,
): void {
  for (let id = from; id < to;) {
    const page = pages[id >>> PAGE_SHIFT]!;
    const pageEnd = Math.min(to, ((id >>> PAGE_SHIFT) + 1) << PAGE_SHIFT);
    for (let p = ((id & PAGE_MASK) << 3) + k; id < pageEnd; id++, p += PDQ_WORDS) {
      if ((removed[(id >>> 5) - w0]! & (1 << (id & 31))) !== 0) continue; // snapshot, word w0 first
      const w = page[p]!;
      const v = w & 0xffff;
      const e = cursor[v]!++;
      const rel = id - start;
      lo[e] = rel & 0xffff;
      partnerA[e] = w >>> 16;
      const bit = e + v * hiGroups + (rel >>> 16);
      hiBits[bit >>> 5] = hiBits[bit >>> 5]! | (1 << (bit & 31));
    }
  }
}

function placeSideB(offA: Uint32Array, partnerA: Uint16Array, from: number, to: number, cursor: Uint32Array, partnerB: Uint16Array): void {
  for (let v = from; v < to; v++) {
    const end = offA[v + 1]!;
    for (let e = offA[v]!; e < end; e++) partnerB[cursor[partnerA[e]!]!++] = v;
  }
}

// ---------------------------------------------------------------- searching

/** Scratch buffers reused across searches. */
export class SearchScratch {
  candidates = new Int32Array(256);
  sink = 0;

  push(n: number, id: number): number {
    if (n === this.candidates.length) {
      const grown = new Int32Array(n * 2);
      grown.set(this.candidates);
      this.candidates = grown;
    }
    this.candidates[n] = id;
    return n + 1;
  }
}

/** The relative id of entry e of side A bucket v: its low bits plus the rank of its 1 in the unary code. */
function decodeId(t: PairTable, hiGroups: number, v: number, e: number): number {
  const first = t.offA[v]!;
  const bitStart = first + v * hiGroups;
  let need = e - first; // the entry's 1 is the need-th (0-based) set bit from bitStart
  const hiBits = t.hiBits;
  let w = bitStart >>> 5;
  let word = hiBits[w]! & (-1 << (bitStart & 31));
  let c = popcount32(word);
  while (c <= need) {
    need -= c;
    word = hiBits[++w]!;
    c = popcount32(word);
  }
  for (; need > 0; need--) word &= word - 1;
  const pos = (w << 5) + ctz32(word);
  const hi = pos - bitStart - (e - first);
  return hi * SLICE_VALUES + t.lo[e]!;
}

/**
 * Appends to `hits` every slot of the segment within `radius` (<= 47) of the query (as int32 words) that is
 * not removed, each once. `masks`: all 16-bit masks of popcount <= radius >> 4.
 */
export function searchSegment(
  seg: Segment,
  pages: Int32Array[],
  removed: Uint32Array,
  q: Int32Array,
  radius: number,
  masks: Uint16Array,
  scratch: SearchScratch,
  hits: Array<{ id: number; distance: number }>,
): void {
  if (seg.entries === 0) return;
  const pairBudget = radius >> 3;
  const sliceRadius = radius >> 4;
  const hiGroups = seg.hiGroups;
  for (let k = 0; k < PAIRS; k++) {
    const t = seg.pairs[k]!;
    const { offA, partnerA, offB, partnerB } = t;
    const qa = q[k]! & 0xffff;
    const qb = q[k]! >>> 16;
    // Touch the first entry of every probed bucket, so their cache misses overlap instead of stalling
    // the scan loops one bucket at a time.
    let sink = 0;
    for (let m = 0; m < masks.length; m++) {
      const va = qa ^ masks[m]!;
      const vb = qb ^ masks[m]!;
      sink ^= partnerA[offA[va]!] ?? 0;
      sink ^= partnerB[offB[vb]!] ?? 0;
    }
    scratch.sink ^= sink;
    let n = 0;
    // Side A: buckets of slice 2k near the query; keep entries whose pair is within budget.
    for (let m = 0; m < masks.length; m++) {
      const va = qa ^ masks[m]!;
      const limit = pairBudget - POP16[masks[m]!]!;
      const end = offA[va + 1]!;
      for (let e = offA[va]!; e < end; e++) {
        if (POP16[partnerA[e]! ^ qb]! <= limit) n = scratch.push(n, decodeId(t, hiGroups, va, e));
      }
    }
    // Side B: buckets of slice 2k+1 near the query. An entry whose slice 2k is within sliceRadius was
    // already found on side A; otherwise fetch the ids of its exact pair value from side A.
    for (let m = 0; m < masks.length; m++) {
      const vb = qb ^ masks[m]!;
      const limit = pairBudget - POP16[masks[m]!]!;
      const first = offB[vb]!;
      const end = offB[vb + 1]!;
      for (let e = first; e < end; e++) {
        const a = partnerB[e]!;
        const da = POP16[a ^ qa]!;
        if (da > limit || da <= sliceRadius || (e > first && partnerB[e - 1] === a)) continue;
        const aEnd = offA[a + 1]!;
        for (let e2 = offA[a]!; e2 < aEnd; e2++) {
          if (partnerA[e2] === vb) n = scratch.push(n, decodeId(t, hiGroups, a, e2));
        }
      }
    }
    if (n > 0) verify(seg.start, pages, removed, q, radius, pairBudget, k, scratch, n, hits);
  }
}

/**
 * Full distance of each candidate of pair k; keeps those within radius, not removed, and not admitted by
 * an earlier pair (a pair admits a slot when its 32 bits are within pairBudget: then one of its slices is
 * within sliceRadius, so that pair's probes found it).
 */
function verify(
  start: number,
  pages: Int32Array[],
  removed: Uint32Array,
  q: Int32Array,
  radius: number,
  pairBudget: number,
  k: number,
  scratch: SearchScratch,
  n: number,
  hits: Array<{ id: number; distance: number }>,
): void {
  const ids = scratch.candidates;
  const q0 = q[0]!,
    q1 = q[1]!,
    q2 = q[2]!,
    q3 = q[3]!;
  const q4 = q[4]!,
    q5 = q[5]!,
    q6 = q[6]!,
    q7 = q[7]!;
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const id = start + ids[i]!;
    sink ^= pages[id >>> PAGE_SHIFT]![(id & PAGE_MASK) << 3]!;
  }
  scratch.sink ^= sink;
  for (let i = 0; i < n; i++) {
    const id = start + ids[i]!;
    const page = pages[id >>> PAGE_SHIFT]!;
    const p = (id & PAGE_MASK) << 3;
    const d =
      popcount32(page[p]! ^ q0) +
      popcount32(page[p + 1]! ^ q1) +
      popcount32(page[p + 2]! ^ q2) +
      popcount32(page[p + 3]! ^ q3) +
      popcount32(page[p + 4]! ^ q4) +
      popcount32(page[p + 5]! ^ q5) +
      popcount32(page[p + 6]! ^ q6) +
      popcount32(page[p + 7]! ^ q7);
    if (d > radius || isRemoved(removed, id)) continue;
    let earlier = false;
    for (let j = 0; j < k && !earlier; j++) earlier = popcount32(page[p + j]! ^ q[j]!) <= pairBudget;
    if (!earlier) hits.push({ id, distance: d });
  }
}
