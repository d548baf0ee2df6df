/**
 * Exact cosine search over L2-normalised descriptors: one Float32Array of rows, scanned in a tight loop.
 * At bank sizes of 10^4–10^5 descriptors of 128 floats an exact scan is a few ms or less
 * (BENCHMARKS.md, "Copy descriptor"), cheaper than keeping an approximate index correct under live
 * inserts and deletes, and it never misses the true nearest neighbour.
 */

export interface CopyHit {
  slot: number;
  similarity: number;
}

export class CopyIndex {
  private data: Float32Array;
  private liveFlags: Uint8Array;
  private free: number[] = [];
  /** Slots handed out so far (live or freed); rows past it are unused capacity. */
  private used = 0;
  private count = 0;

  constructor(
    readonly dim: number,
    capacity = 1024,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
    this.data = new Float32Array(capacity * dim);
    this.liveFlags = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a descriptor (copied); returns its slot. */
  add(v: Float32Array): number {
    if (v.length !== this.dim) throw new RangeError(`descriptor has ${v.length} values, index holds ${this.dim}`);
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (slot >= this.liveFlags.length) this.grow();
    }
    this.data.set(v, slot * this.dim);
    this.liveFlags[slot] = 1;
    this.count++;
    return slot;
  }

  remove(slot: number): void {
    if (slot < 0 || slot >= this.used || this.liveFlags[slot] !== 1) return;
    this.liveFlags[slot] = 0;
    this.data.fill(0, slot * this.dim, (slot + 1) * this.dim);
    this.free.push(slot);
    this.count--;
  }

  /** The k most similar live rows with similarity ≥ minSimilarity, best first (ties: lower slot first). */
  search(q: Float32Array, k: number, minSimilarity = -Infinity): CopyHit[] {
    if (q.length !== this.dim) throw new RangeError(`query has ${q.length} values, index holds ${this.dim}`);
    if (k <= 0 || this.count === 0) return [];
    const d = this.dim;
    const data = this.data;
    const live = this.liveFlags;
    // Top-k kept sorted (k is small: a handful of banks' best entries).
    const sims: number[] = [];
    const slots: number[] = [];
    let floor = minSimilarity;
    for (let s = 0, o = 0; s < this.used; s++, o += d) {
      if (live[s] !== 1) continue;
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0;
      let i = 0;
      for (; i + 3 < d; i += 4) {
        a0 += data[o + i]! * q[i]!;
        a1 += data[o + i + 1]! * q[i + 1]!;
        a2 += data[o + i + 2]! * q[i + 2]!;
        a3 += data[o + i + 3]! * q[i + 3]!;
      }
      for (; i < d; i++) a0 += data[o + i]! * q[i]!;
      const sim = a0 + a1 + a2 + a3;
      if (sim < floor || (sims.length === k && sim <= sims[k - 1]!)) continue;
      let at = sims.length;
      while (at > 0 && sims[at - 1]! < sim) at--;
      sims.splice(at, 0, sim);
      slots.splice(at, 0, s);
      if (sims.length > k) {
        sims.pop();
        slots.pop();
      }
      if (sims.length === k) floor = Math.max(floor, sims[k - 1]!);
    }
    return slots.map((slot, i) => ({ slot, similarity: sims[i]! }));
  }

  private grow(): void {
    const cap = Math.max(1024, this.liveFlags.length * 2);
    const data = new Float32Array(cap * this.dim);
    data.set(this.data);
    const live = new Uint8Array(cap);
    live.set(this.liveFlags);
    this.data = data;
    this.liveFlags = live;
  }
}
