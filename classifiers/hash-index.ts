/**
 * Exact Hamming-radius search over PDQ hashes with multi-index hashing (MIH).
 *
 * A 256-bit hash is cut into 16 slices of 16 bits (slice s = DCT row s). If two hashes are within d bits,
 * some slice differs in at most floor(d/16) bits (pigeonhole), so probing each slice's table at the
 * query's slice value and its neighbours up to that radius yields every match; candidates are then
 * verified with the full distance. For d <= 47 that is at most 16 × 137 probes; beyond, MIH would touch
 * a large part of the bank anyway and the index scans linearly. Results are exact either way.
 *
 * Memory: hashes live in one Uint32Array (8 words per slot). Each slice table is a CSR over the 65,536
 * slice values whose ids are stored Elias-Fano style: the low 16 bits of each id in a Uint16Array and the
 * high bits unary-coded in a bit vector (ids within a bucket are ascending). That is ~18 bits per id per
 * slice instead of 32: 10M hashes take ~320 MB of hashes + ~365 MB of tables.
 *
 * Partner filter (on by default up to 4M hashes): each entry also carries its partner slice's 16 bits, so
 * candidates whose slice pair is already too far are dropped without a random read of the hash store.
 * That makes lookups ~10× faster for +32 bytes per hash (10M would take ~1.0 GB with it, hence 'auto').
 *
 * Live inserts go to a tail of slots after the last build, scanned linearly and merged into the tables by a
 * rebuild once the tail passes `tailLimit`. Removal sets a tombstone; the slot's id is never reused.
 */
import { PDQ_WORDS, type PdqHash } from './pdq.ts';

export interface HashHit {
  /** Slot id returned by `add` (or the position in the batch given to `build`). */
  id: number;
  distance: number;
}

const SLICES = 16;
const SLICE_VALUES = 1 << 16;
/** Per-slice radius above which MIH probes (697+ per slice) cost more than a sequential scan. */
const MAX_SLICE_RADIUS = 2;
/** Candidates touched ahead of verification at a time: their cache lines (64 B each) stay in L2. */
const TOUCH_CHUNK = 2048;
/** Largest build that gets the partner filter under partnerFilter: 'auto'. */
const PARTNER_AUTO_MAX = 4_000_000;

/** Sorted by distance, then id: the canonical order of every search result. */
function byDistanceThenId(a: HashHit, b: HashHit): number {
  return a.distance - b.distance || a.id - b.id;
}

function isRemoved(removed: Uint32Array | null, id: number): boolean {
  return removed !== null && (removed[id >>> 5]! & (1 << (id & 31))) !== 0;
}

/**
 * Every slot in `words[0 .. count*8)` within `radius` of `query`, by brute force: the oracle and the
 * baseline for the index. `removed` is an optional tombstone bit set.
 */
export function linearScan(
  words: Uint32Array | Int32Array,
  count: number,
  query: PdqHash,
  radius: number,
  removed: Uint32Array | null = null,
  from = 0,
): HashHit[] {
  const hits: HashHit[] = [];
  const w = asInt32(words);
  const q = asInt32(query);
  const q0 = q[0]!, q1 = q[1]!, q2 = q[2]!, q3 = q[3]!;
  const q4 = q[4]!, q5 = q[5]!, q6 = q[6]!, q7 = q[7]!;
  for (let id = from, p = from * PDQ_WORDS; id < count; id++, p += PDQ_WORDS) {
    const d =
      popcount32(w[p]! ^ q0) +
      popcount32(w[p + 1]! ^ q1) +
      popcount32(w[p + 2]! ^ q2) +
      popcount32(w[p + 3]! ^ q3) +
      popcount32(w[p + 4]! ^ q4) +
      popcount32(w[p + 5]! ^ q5) +
      popcount32(w[p + 6]! ^ q6) +
      popcount32(w[p + 7]! ^ q7);
    if (d <= radius && !isRemoved(removed, id)) hits.push({ id, distance: d });
  }
  return hits.sort(byDistanceThenId);
}

/**
 * Hash words as signed 32-bit: V8 keeps Int32Array loads in registers, while Uint32Array values of
 * 2^31 and up become heap doubles and make the popcount loops ~10× slower.
 */
function asInt32(words: Uint32Array | Int32Array): Int32Array {
  return words instanceof Int32Array ? words : new Int32Array(words.buffer, words.byteOffset, words.length);
}

/**
 * Bits set in a 32-bit word. A private copy of pdq.ts's popcount on purpose: V8 specialises a function on
 * the number types it has seen, and this one must only ever see int32 to stay on the fast path.
 */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** All 16-bit masks of popcount <= r, lightest first, computed once per r. */
const neighbourMasks: Uint16Array[] = [];
function masksWithin(r: number): Uint16Array {
  let masks = neighbourMasks[r];
  if (!masks) {
    const list: number[] = [];
    for (let weight = 0; weight <= r; weight++) {
      for (let m = 0; m < SLICE_VALUES; m++) if (popcount32(m) === weight) list.push(m);
    }
    masks = Uint16Array.from(list);
    neighbourMasks[r] = masks;
  }
  return masks;
}

function sliceOf(words: Int32Array, id: number, slice: number): number {
  return (words[id * PDQ_WORDS + (slice >> 1)]! >>> ((slice & 1) << 4)) & 0xffff;
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** One slice's bucket table over slots [0, count): CSR offsets + low id bits + unary high id bits. */
interface SliceTable {
  offsets: Uint32Array;
  lo: Uint16Array;
  hiBits: Int32Array;
  /** Per entry, the value of the partner slice (s ^ 1), when the partner filter is on. */
  partner: Uint16Array | null;
}

export interface HashIndexOptions {
  /** Slots to allocate up front (grows by 1.5× when full). */
  initialCapacity?: number;
  /** Tail size that triggers a merge into the tables; default max(4096, min(65536, built/32)). */
  tailLimit?: number;
  /**
   * Store each entry's partner slice (16 bits) inline so most candidates are rejected without touching
   * the hash store: ~10× faster lookups for +32 bytes per hash. 'auto' (default) turns it on for builds
   * of up to 4M slots, keeping 10M hashes near 0.7 GB instead of 1 GB.
   */
  partnerFilter?: boolean | 'auto';
}

export interface HashIndexMemory {
  hashBytes: number;
  tableBytes: number;
  tombstoneBytes: number;
  totalBytes: number;
}

export class PdqHashIndex {
  /** 8 words per slot, stored signed (see asInt32); read back as Uint32Array for callers. */
  private words: Int32Array;
  private removed: Uint32Array;
  private slotCount = 0;
  private liveCount = 0;
  /** Slots [0, builtCount) are in the slice tables; the rest are the linearly scanned tail. */
  private builtCount = 0;
  /** High-id groups per bucket in the unary bit vectors: ceil(builtCount / 65536). */
  private hiGroups = 0;
  private tables: SliceTable[] = [];
  private readonly fixedTailLimit: number | undefined;
  private readonly partnerFilter: boolean | 'auto';
  /** Scratch for one slice's candidate ids, reused across lookups. */
  private candidates = new Int32Array(1024);
  private touchSink = 0;

  constructor(opts: HashIndexOptions = {}) {
    const capacity = Math.max(16, opts.initialCapacity ?? 1024);
    this.words = new Int32Array(capacity * PDQ_WORDS);
    this.removed = new Uint32Array(Math.ceil(capacity / 32));
    this.fixedTailLimit = opts.tailLimit;
    this.partnerFilter = opts.partnerFilter ?? 'auto';
  }

  /** Index over packed hashes (8 words each); takes ownership of `words` when it is exactly sized. */
  static fromPacked(words: Uint32Array, count: number, opts: HashIndexOptions = {}): PdqHashIndex {
    if (words.length < count * PDQ_WORDS) throw new RangeError(`${words.length} words hold fewer than ${count} hashes`);
    const index = new PdqHashIndex({ ...opts, initialCapacity: 16 });
    index.words = asInt32(words.length === count * PDQ_WORDS ? words : words.slice(0, count * PDQ_WORDS));
    index.removed = new Uint32Array(Math.ceil(Math.max(count, 1) / 32));
    index.slotCount = count;
    index.liveCount = count;
    index.build();
    return index;
  }

  /** Index over a list of hashes; ids are their positions. */
  static fromHashes(hashes: Iterable<PdqHash>, opts: HashIndexOptions = {}): PdqHashIndex {
    const index = new PdqHashIndex(opts);
    for (const h of hashes) index.append(h);
    index.build();
    return index;
  }

  /** Live (not removed) hashes. */
  get size(): number {
    return this.liveCount;
  }

  /** Whether the last build stored partner slices inline (see HashIndexOptions.partnerFilter). */
  get partnerFilterOn(): boolean {
    return this.tables[0]?.partner != null;
  }

  /** Ids handed out so far (removed ones included): valid ids are 0 .. slots-1. */
  get slots(): number {
    return this.slotCount;
  }

  /** Adds a hash, searchable at once; returns its id. May merge the tail into the tables (a rebuild). */
  add(hash: PdqHash): number {
    const id = this.append(hash);
    if (this.slotCount - this.builtCount > this.tailLimit()) this.build();
    return id;
  }

  /** Adds many hashes with a single rebuild at the end; returns the first id (ids are consecutive). */
  addMany(hashes: Iterable<PdqHash>): number {
    const first = this.slotCount;
    for (const h of hashes) this.append(h);
    this.build();
    return first;
  }

  /** Tombstones a slot; returns false when it was unknown or already removed. */
  remove(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id >= this.slotCount || isRemoved(this.removed, id)) return false;
    this.removed[id >>> 5] = this.removed[id >>> 5]! | (1 << (id & 31));
    this.liveCount--;
    return true;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.slotCount && !isRemoved(this.removed, id);
  }

  /** A copy of the hash in slot `id`. */
  hashAt(id: number): PdqHash {
    if (id < 0 || id >= this.slotCount) throw new RangeError(`no slot ${id}`);
    return new Uint32Array(this.words.subarray(id * PDQ_WORDS, (id + 1) * PDQ_WORDS));
  }

  /** Every live hash within `radius` bits of `query`, sorted by distance then id. */
  search(query: PdqHash, radius: number): HashHit[] {
    if (!(radius >= 0)) return [];
    const r = Math.min(256, Math.floor(radius));
    const sliceRadius = r >> 4;
    if (sliceRadius > MAX_SLICE_RADIUS || this.builtCount === 0) {
      return linearScan(this.words, this.slotCount, query, r, this.removed);
    }
    const hits: HashHit[] = [];
    this.searchTables(query, r, sliceRadius, hits);
    if (this.slotCount > this.builtCount) {
      for (const hit of linearScan(this.words, this.slotCount, query, r, this.removed, this.builtCount)) hits.push(hit);
    }
    return hits.sort(byDistanceThenId);
  }

  /** Brute-force search over the same slots (for checks and benchmarks). */
  linearSearch(query: PdqHash, radius: number): HashHit[] {
    return linearScan(this.words, this.slotCount, query, radius, this.removed);
  }

  /** (Re)builds the slice tables over all slots, emptying the tail. */
  build(): void {
    const count = this.slotCount;
    this.hiGroups = Math.ceil(count / SLICE_VALUES);
    const sortedIds = new Uint32Array(count);
    const withPartner = this.partnerFilter === 'auto' ? count <= PARTNER_AUTO_MAX : this.partnerFilter;
    const tables: SliceTable[] = [];
    for (let s = 0; s < SLICES; s++) tables.push(this.buildSlice(s, count, sortedIds, withPartner));
    this.tables = tables;
    this.builtCount = count;
  }

  memory(): HashIndexMemory {
    let tableBytes = 0;
    for (const t of this.tables) {
      tableBytes += t.offsets.byteLength + t.lo.byteLength + t.hiBits.byteLength + (t.partner?.byteLength ?? 0);
    }
    const hashBytes = this.words.byteLength;
    const tombstoneBytes = this.removed.byteLength;
    return { hashBytes, tableBytes, tombstoneBytes, totalBytes: hashBytes + tableBytes + tombstoneBytes };
  }

  // ---------------------------------------------------------------- internals

  private tailLimit(): number {
    return this.fixedTailLimit ?? Math.max(4096, Math.min(65536, this.builtCount >> 5));
  }

  private append(hash: PdqHash): number {
    if (hash.length !== PDQ_WORDS) throw new RangeError(`a PDQ hash has ${PDQ_WORDS} words, got ${hash.length}`);
    if ((this.slotCount + 1) * PDQ_WORDS > this.words.length) this.grow();
    const id = this.slotCount++;
    this.words.set(asInt32(hash), id * PDQ_WORDS);
    this.liveCount++;
    return id;
  }

  private grow(): void {
    const capacity = Math.max(16, Math.ceil((this.words.length / PDQ_WORDS) * 1.5));
    const words = new Int32Array(capacity * PDQ_WORDS);
    words.set(this.words);
    this.words = words;
    const removed = new Uint32Array(Math.ceil(capacity / 32));
    removed.set(this.removed);
    this.removed = removed;
  }

  /**
   * Counting sort of live slots by slice value (stable, so ids ascend within a bucket), then the ids are
   * split into low 16 bits and unary-coded high bits: bucket v's bits start at offsets[v] + v*hiGroups and
   * hold, for each high value in turn, one 1 per id then a 0.
   */
  private buildSlice(slice: number, count: number, sortedIds: Uint32Array, withPartner: boolean): SliceTable {
    const words = this.words;
    const offsets = new Uint32Array(SLICE_VALUES + 1);
    for (let id = 0; id < count; id++) {
      if (!isRemoved(this.removed, id)) offsets[sliceOf(words, id, slice) + 1]!++;
    }
    for (let v = 0; v < SLICE_VALUES; v++) offsets[v + 1]! += offsets[v]!;
    const live = offsets[SLICE_VALUES]!;
    // Placement reads the hash store sequentially; lo and partner are written here so the store is never
    // read in bucket (random) order.
    const cursor = offsets.slice(0, SLICE_VALUES);
    const lo = new Uint16Array(live);
    const partner = withPartner ? new Uint16Array(live) : null;
    const word = slice >> 1;
    const shift = (slice & 1) << 4;
    for (let id = 0, p = word; id < count; id++, p += PDQ_WORDS) {
      if (isRemoved(this.removed, id)) continue;
      const both = words[p]!;
      const e = cursor[(both >>> shift) & 0xffff]!++;
      sortedIds[e] = id;
      lo[e] = id & 0xffff;
      if (partner !== null) partner[e] = (both >>> (16 - shift)) & 0xffff; // slice ^ 1 shares the word
    }
    const hiGroups = this.hiGroups;
    const hiBits = new Int32Array(Math.ceil((live + SLICE_VALUES * hiGroups) / 32) + 1);
    for (let v = 0; v < SLICE_VALUES; v++) {
      let bit = offsets[v]! + v * hiGroups;
      let hi = 0;
      for (let e = offsets[v]!; e < offsets[v + 1]!; e++) {
        const idHi = sortedIds[e]! >>> 16;
        bit += idHi - hi; // one 0 per skipped high value
        hi = idHi;
        hiBits[bit >>> 5] = hiBits[bit >>> 5]! | (1 << (bit & 31));
        bit++;
      }
    }
    return { offsets, lo, hiBits, partner };
  }

  /**
   * MIH probes over the built slots, one slice at a time: decode the candidate ids of the slice's probed
   * buckets (dropping, with the partner filter, those whose pair of slices is already too far), touch
   * their hashes in a tight loop (independent loads the CPU overlaps, instead of one DRAM miss at a time
   * inside the popcount loop), then verify. Each match is reported once, from the first slice that finds it.
   *
   * Partner filter: the 8 slice pairs (2k, 2k+1) hold all the differing bits, so some pair differs in at
   * most R = floor(radius/8) bits, and one of its slices in at most floor(R/2) = floor(radius/16): probing
   * slice s at that radius and keeping entries with diff(s) + diff(s^1) <= R finds every match.
   */
  private searchTables(query: PdqHash, radius: number, sliceRadius: number, hits: HashHit[]): void {
    const masks = masksWithin(sliceRadius);
    const pairBudget = radius >> 3;
    for (let s = 0; s < SLICES; s++) {
      const n = this.gatherCandidates(s, query, masks, pairBudget);
      this.verifyCandidates(n, query, radius, sliceRadius, pairBudget, s, hits);
    }
  }

  /** Ids in slice s's buckets at the query's slice value XOR each mask, into this.candidates; returns their count. */
  private gatherCandidates(s: number, query: PdqHash, masks: Uint16Array, pairBudget: number): number {
    const { offsets, lo, hiBits, partner } = this.tables[s]!;
    const sliceValue = querySlice(query, s);
    const partnerValue = querySlice(query, s ^ 1);
    const hiGroups = this.hiGroups;
    // First pass: sizes, and a touch of each bucket's first entry in every array, so the buckets' cache
    // misses overlap here rather than stall the decode loop one bucket at a time.
    let total = 0;
    let sink = 0;
    for (let m = 0; m < masks.length; m++) {
      const v = sliceValue ^ masks[m]!;
      const e = offsets[v]!;
      total += offsets[v + 1]! - e;
      sink ^= lo[e] ?? 0;
      sink ^= hiBits[(e + v * hiGroups) >>> 5] ?? 0;
      if (partner !== null) sink ^= partner[e] ?? 0;
    }
    this.touchSink ^= sink;
    if (this.candidates.length < total) this.candidates = new Int32Array(Math.max(total, this.candidates.length * 2));
    const out = this.candidates;
    let n = 0;
    for (let m = 0; m < masks.length; m++) {
      const v = sliceValue ^ masks[m]!;
      const partnerLimit = pairBudget - popcount32(masks[m]!);
      let e = offsets[v]!;
      const end = offsets[v + 1]!;
      let bit = e + v * hiGroups;
      let hi = 0;
      while (e < end) {
        // Next id: skip 0 bits (each one more high value) up to the next 1 bit. Arithmetic shift keeps the
        // word int32 (>>> can yield a heap double) and has the same lowest set bit.
        const word = hiBits[bit >>> 5]! >> (bit & 31);
        if (word === 0) {
          const skipped = 32 - (bit & 31);
          hi += skipped;
          bit += skipped;
          continue;
        }
        const zeros = ctz32(word);
        hi += zeros;
        bit += zeros + 1;
        if (partner === null || popcount32(partner[e]! ^ partnerValue) <= partnerLimit) out[n++] = hi * SLICE_VALUES + lo[e]!;
        e++;
      }
    }
    return n;
  }

  private verifyCandidates(
    n: number,
    query: PdqHash,
    radius: number,
    sliceRadius: number,
    pairBudget: number,
    s: number,
    hits: HashHit[],
  ): void {
    const words = this.words;
    const ids = this.candidates;
    const q = asInt32(query);
    const q0 = q[0]!, q1 = q[1]!, q2 = q[2]!, q3 = q[3]!;
    const q4 = q[4]!, q5 = q[5]!, q6 = q[6]!, q7 = q[7]!;
    for (let c0 = 0; c0 < n; c0 += TOUCH_CHUNK) {
      const c1 = Math.min(n, c0 + TOUCH_CHUNK);
      let sink = 0;
      for (let i = c0; i < c1; i++) sink ^= words[ids[i]! * PDQ_WORDS]!;
      this.touchSink ^= sink; // keeps the touch loop from being optimised away
      for (let i = c0; i < c1; i++) {
        const id = ids[i]!;
        const p = id * PDQ_WORDS;
        const d =
          popcount32(words[p]! ^ q0) +
          popcount32(words[p + 1]! ^ q1) +
          popcount32(words[p + 2]! ^ q2) +
          popcount32(words[p + 3]! ^ q3) +
          popcount32(words[p + 4]! ^ q4) +
          popcount32(words[p + 5]! ^ q5) +
          popcount32(words[p + 6]! ^ q6) +
          popcount32(words[p + 7]! ^ q7);
        if (d <= radius && !isRemoved(this.removed, id) && this.firstFindingSlice(id, query, sliceRadius, pairBudget) === s) {
          hits.push({ id, distance: d });
        }
      }
    }
  }

  /** The lowest slice whose probe (and partner filter, when on) admits `id`: where the search meets it first. */
  private firstFindingSlice(id: number, query: PdqHash, sliceRadius: number, pairBudget: number): number {
    const withPartner = this.partnerFilterOn;
    for (let s = 0; s < SLICES; s++) {
      const d = popcount32(sliceOf(this.words, id, s) ^ querySlice(query, s));
      if (d > sliceRadius) continue;
      if (!withPartner || d + popcount32(sliceOf(this.words, id, s ^ 1) ^ querySlice(query, s ^ 1)) <= pairBudget) return s;
    }
    return -1;
  }
}

function querySlice(query: PdqHash, s: number): number {
  return (query[s >> 1]! >>> ((s & 1) << 4)) & 0xffff;
}
