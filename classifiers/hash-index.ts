/**
 * Exact Hamming-radius search over PDQ hashes with multi-index hashing (MIH), with live inserts.
 *
 * Search: a 256-bit hash is cut into 16 slices of 16 bits, paired (2k, 2k+1). Within radius r, some pair
 * differs in at most floor(r/8) bits and one of its slices in at most floor(r/16), so probing each
 * slice's buckets within floor(r/16) bits of the query, keeping entries whose pair is within floor(r/8),
 * finds every match; candidates are then verified with the full distance (see hash-index-segment.ts for
 * the table layout: 50 bytes per hash, ids stored on one side of each pair only). For r <= 47 that is at
 * most 16 × 137 bucket probes; beyond, MIH would touch much of the bank anyway and the index scans
 * linearly. Results are exact either way, sorted by distance then id.
 *
 * Storage: hashes live in pages of 65,536 (2 MiB), so growing never copies the store. Memory at 10M:
 * 320 MB of hashes + ~506 MB of tables + 1.25 MB of tombstones ≈ 0.83 GB.
 *
 * Live inserts, LSM style. Slots are split into three contiguous ranges, all searched by every query:
 *   base [0, base.end)          one big segment, rebuilt rarely;
 *   mid  [base.end, mid.end)    one segment over the slots added since the base, rebuilt when the tail fills;
 *   tail [builtEnd, slots)      the newest slots, scanned linearly (<= tailLimit = 1024, normally: ~16 µs).
 * `add` only appends to the tail: a hash is searchable as soon as `add` returns. When the tail passes
 * `tailLimit`, a merge job starts: a new mid over mid+tail (cost proportional to the mid's own size), or,
 * once the mid would pass `midLimit` (default max(16 × tailLimit, sqrt(tailLimit × base))), a new base
 * over everything. A job builds its segment in resumable steps, a few ms at a time on the event loop
 * (setImmediate), and swaps it in when done; queries meanwhile use the old segments plus the growing tail.
 * If the event loop is starved (adds in a tight loop) and the tail passes 2 × tailLimit, each `add` also
 * runs ~1 ms of the pending job itself, so the tail stays bounded and no single add pauses for long.
 * Cost: a mid segment adds ~15 µs to a lookup whatever its size (its 272 bucket probes), the tail ~16 ns
 * per slot; merges cost ~0.6 µs of CPU per slot they cover.
 * A base merge holds the old and new base tables at once until the swap (10M: ~0.5 GB extra, transient).
 *
 * Bulk loads: `addMany` of a batch at least as large as the live hashes already indexed, `fromPacked`,
 * `fromHashes` and `build()` build synchronously (cost proportional to the caller's batch); smaller
 * `addMany` batches take the incremental path like `add`.
 *
 * Removal sets a tombstone; searches skip tombstoned slots and rebuilt segments drop them. Ids are never
 * reused.
 */
import {
  type HashStore,
  PAGE_HASHES,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_WORDS,
  type Segment,
  SearchScratch,
  buildSegment,
  finish,
  isRemoved,
  popcount32,
  searchSegment,
  segmentBytes,
} from './hash-index-segment.ts';
import { PDQ_WORDS, type PdqHash } from './pdq.ts';

export interface HashHit {
  /** Slot id returned by `add` (or the position in the batch given to `fromPacked`/`fromHashes`). */
  id: number;
  distance: number;
}

const SLICE_VALUES = 1 << 16;
/** Per-slice radius above which MIH probes (697+ per slice) cost more than a sequential scan. */
const MAX_SLICE_RADIUS = 2;
/** Default tail size that starts a merge job. */
const DEFAULT_TAIL_LIMIT = 1024;
/** Longest run of merge work per event-loop turn, in ms (wall). */
const SLICE_MS = 3;
/** Merge work an `add` runs itself when the tail has passed 2 × tailLimit (event loop starved), in ms. */
const HELP_MS = 1;

/** Sorted by distance, then id: the canonical order of every search result. */
function byDistanceThenId(a: HashHit, b: HashHit): number {
  return a.distance - b.distance || a.id - b.id;
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
  scanRange(asInt32(words), 0, from, count, asInt32(query), radius, removed, hits);
  return hits.sort(byDistanceThenId);
}

/**
 * Brute-force scan of slots [from, to) of `words`, whose first slot is `firstId`. The popcount is written
 * out inline and the distance checked after each word: this loop often ends up inlined into `search`,
 * where V8 has no inlining budget left for 8 calls to popcount32.
 */
function scanRange(
  w: Int32Array,
  firstId: number,
  from: number,
  to: number,
  q: Int32Array,
  radius: number,
  removed: Uint32Array | null,
  hits: HashHit[],
): void {
  for (let id = from, p = (from - firstId) * PDQ_WORDS; id < to; id++, p += PDQ_WORDS) {
    let d = 0;
    for (let j = 0; j < PDQ_WORDS && d <= radius; j++) {
      let x = w[p + j]! ^ q[j]!;
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      d += Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    }
    if (d <= radius && (removed === null || !isRemoved(removed, id))) hits.push({ id, distance: d });
  }
}

/**
 * Hash words as signed 32-bit: V8 keeps Int32Array loads in registers, while Uint32Array values of
 * 2^31 and up become heap doubles and make the popcount loops ~10× slower.
 */
function asInt32(words: Uint32Array | Int32Array): Int32Array {
  return words instanceof Int32Array ? words : new Int32Array(words.buffer, words.byteOffset, words.length);
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

export interface HashIndexOptions {
  /** Tombstone capacity to allocate up front, in slots (grows by 1.5× when full). */
  initialCapacity?: number;
  /** Tail size that starts a merge job (default 1024). */
  tailLimit?: number;
  /** Mid size past which a merge rebuilds the base instead (default max(16 × tailLimit, sqrt(tailLimit × base))). */
  midLimit?: number;
  /**
   * Run merge jobs on the event loop via setImmediate (default true). With false, jobs advance only inside
   * `add` (once the tail passes 2 × tailLimit), `settle()` and `build()`: deterministic, for tests.
   */
  background?: boolean;
}

export interface HashIndexMemory {
  hashBytes: number;
  tableBytes: number;
  tombstoneBytes: number;
  totalBytes: number;
}

export interface HashIndexLayout {
  /** Slots in the base segment, the mid segment and the linearly scanned tail. */
  base: number;
  mid: number;
  tail: number;
  /** The merge job under way, if any. */
  merging: 'base' | 'mid' | null;
  /** Completed merges since construction. */
  baseMerges: number;
  midMerges: number;
  /** Longest single run of merge work (one event-loop turn, or the share of one `add`), CPU ms. */
  longestMergeSliceCpuMs: number;
}

interface MergeJob {
  kind: 'base' | 'mid';
  start: number;
  end: number;
  steps: Generator<void, Segment, void>;
}

export class PdqHashIndex {
  private readonly store: HashStore = { pages: [] };
  private removed: Uint32Array;
  private slotCount = 0;
  private liveCount = 0;
  private base: Segment | null = null;
  private mid: Segment | null = null;
  private job: MergeJob | null = null;
  private pumpQueued = false;
  private baseMerges = 0;
  private midMerges = 0;
  private longestSliceCpuMs = 0;
  private readonly tailLimitOpt: number;
  private readonly midLimitOpt: number | undefined;
  private readonly background: boolean;
  private readonly scratch = new SearchScratch();

  constructor(opts: HashIndexOptions = {}) {
    this.removed = new Uint32Array(Math.ceil(Math.max(16, opts.initialCapacity ?? 1024) / 32));
    this.tailLimitOpt = Math.max(1, opts.tailLimit ?? DEFAULT_TAIL_LIMIT);
    this.midLimitOpt = opts.midLimit;
    this.background = opts.background ?? true;
  }

  /** Index over packed hashes (8 words each), built synchronously; uses `words` as its store (no copy). */
  static fromPacked(words: Uint32Array, count: number, opts: HashIndexOptions = {}): PdqHashIndex {
    if (words.length < count * PDQ_WORDS) throw new RangeError(`${words.length} words hold fewer than ${count} hashes`);
    const index = new PdqHashIndex({ ...opts, initialCapacity: Math.max(count, opts.initialCapacity ?? 0) });
    const w = asInt32(words);
    for (let p = 0; p * PAGE_HASHES < count; p++) {
      const from = p * PAGE_WORDS;
      index.store.pages.push(w.subarray(from, Math.min(from + PAGE_WORDS, count * PDQ_WORDS)));
    }
    index.slotCount = count;
    index.liveCount = count;
    index.build();
    return index;
  }

  /** Index over a list of hashes, built synchronously; ids are their positions. */
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

  /** Ids handed out so far (removed ones included): valid ids are 0 .. slots-1. */
  get slots(): number {
    return this.slotCount;
  }

  /** Where the slots are (base / mid / tail) and the merge work done so far. */
  get layout(): HashIndexLayout {
    const baseEnd = this.base?.end ?? 0;
    const builtEnd = this.builtEnd();
    return {
      base: baseEnd,
      mid: builtEnd - baseEnd,
      tail: this.slotCount - builtEnd,
      merging: this.job?.kind ?? null,
      baseMerges: this.baseMerges,
      midMerges: this.midMerges,
      longestMergeSliceCpuMs: this.longestSliceCpuMs,
    };
  }

  /** Adds a hash, searchable at once; returns its id. Never rebuilds in place (see the file comment). */
  add(hash: PdqHash): number {
    const id = this.append(hash);
    this.maintain();
    return id;
  }

  /**
   * Adds many hashes; returns the first id (ids are consecutive). A batch at least as large as the live
   * hashes already indexed is built synchronously; a smaller one takes the incremental path of `add`.
   */
  addMany(hashes: Iterable<PdqHash>): number {
    const first = this.slotCount;
    const liveBefore = this.liveCount;
    for (const h of hashes) this.append(h);
    const added = this.slotCount - first;
    // Against the live hashes, not the slots: a bank reloaded again and again leaves its old slots behind
    // as tombstones, and its next reload should still build at once.
    if (added > this.tailLimit() && added >= liveBefore) this.build();
    else this.maintain();
    return first;
  }

  /** Tombstones a slot; returns false when it was unknown or already removed. */
  remove(id: number): boolean {
    if (!this.has(id)) return false;
    this.removed[id >>> 5] = this.removed[id >>> 5]! | (1 << (id & 31));
    this.liveCount--;
    return true;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.slotCount && !isRemoved(this.removed, id);
  }

  /** A copy of the hash in slot `id`. */
  hashAt(id: number): PdqHash {
    if (!Number.isInteger(id) || id < 0 || id >= this.slotCount) throw new RangeError(`no slot ${id}`);
    const p = (id & PAGE_MASK) * PDQ_WORDS;
    return new Uint32Array(this.store.pages[id >>> PAGE_SHIFT]!.subarray(p, p + PDQ_WORDS));
  }

  /** Every live hash within `radius` bits of `query`, sorted by distance then id. */
  search(query: PdqHash, radius: number): HashHit[] {
    if (!(radius >= 0)) return [];
    const r = Math.min(256, Math.floor(radius));
    const q = asInt32(query);
    const hits: HashHit[] = [];
    if (r >> 4 > MAX_SLICE_RADIUS) {
      this.scanSlots(0, this.slotCount, q, r, hits);
    } else {
      const masks = masksWithin(r >> 4);
      const { pages } = this.store;
      if (this.base) searchSegment(this.base, pages, this.removed, q, r, masks, this.scratch, hits);
      if (this.mid) searchSegment(this.mid, pages, this.removed, q, r, masks, this.scratch, hits);
      this.scanSlots(this.builtEnd(), this.slotCount, q, r, hits);
    }
    return hits.sort(byDistanceThenId);
  }

  /** Brute-force search over the same slots (for checks and benchmarks). */
  linearSearch(query: PdqHash, radius: number): HashHit[] {
    const hits: HashHit[] = [];
    if (radius >= 0) this.scanSlots(0, this.slotCount, asInt32(query), Math.min(256, Math.floor(radius)), hits);
    return hits.sort(byDistanceThenId);
  }

  /** Rebuilds one base segment over all slots synchronously, dropping removed slots and any merge under way. */
  build(): void {
    this.job = null;
    this.base = this.slotCount > 0 ? finish(buildSegment(this.store, 0, this.slotCount, () => this.removed)) : null;
    this.mid = null;
  }

  /** Runs merge work synchronously until no job is pending and every slot is in a segment (empty tail). */
  settle(): void {
    for (;;) {
      if (this.job !== null) this.runJob(Infinity);
      else if (this.slotCount > this.builtEnd()) this.startJob();
      else return;
    }
  }

  /** Resolves once no merge job is pending (they run on the event loop; see `background`). */
  async idle(): Promise<void> {
    while (this.job) {
      if (!this.background) {
        this.settle();
        return;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  memory(): HashIndexMemory {
    let hashBytes = 0;
    for (const page of this.store.pages) hashBytes += page.byteLength;
    const tableBytes = (this.base ? segmentBytes(this.base) : 0) + (this.mid ? segmentBytes(this.mid) : 0);
    const tombstoneBytes = this.removed.byteLength;
    return { hashBytes, tableBytes, tombstoneBytes, totalBytes: hashBytes + tableBytes + tombstoneBytes };
  }

  // ---------------------------------------------------------------- internals

  private builtEnd(): number {
    return this.mid?.end ?? this.base?.end ?? 0;
  }

  private tailLimit(): number {
    return this.tailLimitOpt;
  }

  private midLimit(): number {
    const baseEnd = this.base?.end ?? 0;
    return this.midLimitOpt ?? Math.max(16 * this.tailLimitOpt, Math.sqrt(this.tailLimitOpt * baseEnd));
  }

  private scanSlots(from: number, to: number, q: Int32Array, radius: number, hits: HashHit[]): void {
    const { pages } = this.store;
    for (let id = from; id < to;) {
      const pageStart = (id >>> PAGE_SHIFT) << PAGE_SHIFT;
      const pageEnd = Math.min(to, pageStart + PAGE_HASHES);
      scanRange(pages[id >>> PAGE_SHIFT]!, pageStart, id, pageEnd, q, radius, this.removed, hits);
      id = pageEnd;
    }
  }

  private append(hash: PdqHash): number {
    if (hash.length !== PDQ_WORDS) throw new RangeError(`a PDQ hash has ${PDQ_WORDS} words, got ${hash.length}`);
    const id = this.slotCount;
    const pages = this.store.pages;
    const pageIndex = id >>> PAGE_SHIFT;
    const offset = (id & PAGE_MASK) * PDQ_WORDS;
    let page = pages[pageIndex];
    if (page === undefined || page.length < offset + PDQ_WORDS) {
      // A new page, or a short page (a view of fromPacked's array) replaced by a full-size copy (2 MiB).
      const full = new Int32Array(PAGE_WORDS);
      if (page !== undefined) full.set(page);
      pages[pageIndex] = page = full;
    }
    page.set(asInt32(hash), offset);
    if (id >= this.removed.length * 32) {
      const removed = new Uint32Array(Math.ceil(this.removed.length * 1.5) + 1);
      removed.set(this.removed);
      this.removed = removed;
    }
    this.slotCount++;
    this.liveCount++;
    return id;
  }

  /**
   * Starts a merge job when the tail is over its limit; when it is over twice the limit (the event loop
   * is not getting to the job), runs up to HELP_MS of the job here, and starts the next one if needed.
   */
  private maintain(): void {
    for (let helped = false; ; helped = true) {
      const tail = this.slotCount - this.builtEnd();
      if (tail <= this.tailLimit()) return;
      if (this.job === null) this.startJob();
      if (helped || tail <= 2 * this.tailLimit()) return;
      this.runJob(HELP_MS);
      if (this.job !== null) return;
    }
  }

  private startJob(): void {
    const baseEnd = this.base?.end ?? 0;
    const end = this.slotCount;
    const kind = this.base === null || end - baseEnd > this.midLimit() ? 'base' : 'mid';
    const start = kind === 'base' ? 0 : baseEnd;
    this.job = { kind, start, end, steps: buildSegment(this.store, start, end, () => this.removed) };
    if (this.background) this.queuePump();
  }

  private queuePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      if (this.job === null) return;
      this.runJob(SLICE_MS);
      if (this.job !== null) this.queuePump();
      else this.maintain(); // the tail may have filled again meanwhile
    });
  }

  /** Runs the pending job for up to `budgetMs` (wall), installing its segment when it completes. */
  private runJob(budgetMs: number): void {
    const job = this.job;
    if (job === null) return;
    const cpu0 = process.cpuUsage();
    const deadline = performance.now() + budgetMs;
    let done: Segment | null = null;
    do {
      const r = job.steps.next();
      if (r.done) done = r.value;
    } while (done === null && performance.now() < deadline);
    const cpu = process.cpuUsage(cpu0);
    this.longestSliceCpuMs = Math.max(this.longestSliceCpuMs, (cpu.user + cpu.system) / 1000);
    if (done === null) return;
    this.job = null;
    if (job.kind === 'base') {
      this.base = done;
      this.mid = null;
      this.baseMerges++;
    } else {
      this.mid = done;
      this.midMerges++;
    }
  }
}
