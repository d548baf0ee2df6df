import { hamming, popcount32, type PdqHash } from './pdq.ts';

/**
 * The recent frame hashes of every stream, for retroactive matching (crisis mode, gateway/crisis/): when a
 * hash is banked during an incident, the streams that showed it in the last N minutes are found here, the
 * ones still live and the ones that ended within the window. Pure: no clock (every time is the caller's),
 * no I/O.
 *
 * Bounds, per stream, in a fixed ring (no allocation per frame):
 *  - a window of `windowMs` (older entries are not matched and are overwritten);
 *  - at most `maxPerStream` entries: a stream that fills its ring before the window is over keeps a shorter
 *    window (counted in `stats().overflowed`);
 *  - a frame within `mergeDistance` of the entry stored last, less than `minIntervalMs` after it, only
 *    extends that entry's last-seen time (a still scene at 10 fps is one entry per `minIntervalMs`); a
 *    frame further away (a scene change, a picture flashed for one frame) is always stored. A merged frame
 *    is at most `mergeDistance` from the stored one, so a match is decided with at most that much slack.
 * Ended streams are kept until `windowMs` after their end, then dropped; `maxStreams` bounds the whole.
 *
 * A frame with uniform borders (letterboxed, pillarboxed) also has the hash of the picture inside them
 * (classifiers/region-hashes.ts `trimmed`), which is what matches a banked picture shown at its own shape:
 * the whole frame's hash carries the bars and can be ~100 bits away. It is kept beside the whole-frame hash
 * in the same entry and scanned too; a hit says which of the two matched (`region`).
 *
 * Memory: 8 words + 3 numbers per entry, ~56 bytes: 1,000 streams × 10 minutes at the default 2 entries
 * per second is 1.2 M entries, ~67 MB; a stream that ever had a trimmed hash holds 33 bytes more per entry
 * (allocated when its first one comes). Scan cost: BENCHMARKS.md, "Retroactive scan".
 */

export interface RecentHashesOptions {
  windowMs: number;
  maxPerStream: number;
  minIntervalMs: number;
  mergeDistance: number;
  maxStreams: number;
}

export const DEFAULT_RECENT_HASHES: RecentHashesOptions = {
  windowMs: 10 * 60_000,
  maxPerStream: 2_400,
  minIntervalMs: 500,
  mergeDistance: 8,
  maxStreams: 20_000,
};

export interface RetroHit {
  streamId: string;
  distance: number;
  /** Wall time the matching frame was first seen, and last seen (merged frames extend it). */
  firstSeenAt: number;
  lastSeenAt: number;
  /** Media time of the stored frame in its stream (ms). */
  mediaTimeMs: number;
  /** The stored frame's hash that matched (the closest one of the stream's entries). */
  frameHash: PdqHash;
  /** Which hash of the frame matched: the whole frame, or the picture inside its uniform borders. */
  region: 'full' | 'trimmed';
  quality: number;
  /** When the stream ended; null while it is live. */
  endedAt: number | null;
}

/** Slots a stream's ring starts with; it doubles as the stream shows more, up to `maxPerStream`. */
const FIRST_CAPACITY = 16;

class Ring {
  words: Uint32Array;
  firstAt: Float64Array;
  lastAt: Float64Array;
  media: Float64Array;
  quality: Uint8Array;
  /** Hashes of the picture inside uniform borders, per slot, where `hasTrimmed`; allocated at the stream's first one. */
  trimmed: Uint32Array | null = null;
  hasTrimmed: Uint8Array | null = null;
  /** Index of the next slot to write; entries are head-count .. head-1 (mod capacity). */
  head = 0;
  count = 0;
  endedAt: number | null = null;
  overflowed = false;

  /**
   * Slots allocated now. A ring is kept `windowMs` (10 minutes) after its stream ends, for every stream
   * that showed a usable hash: allocated at `max` (2,400 slots, ~137 KiB) at once, the many short streams
   * held as much as the long ones (issue 11's soak). It grows by doubling instead, and wraps only at `max`.
   */
  capacity: number;

  constructor(readonly max: number) {
    this.capacity = Math.min(max, FIRST_CAPACITY);
    this.words = new Uint32Array(this.capacity * 8);
    this.firstAt = new Float64Array(this.capacity);
    this.lastAt = new Float64Array(this.capacity);
    this.media = new Float64Array(this.capacity);
    this.quality = new Uint8Array(this.capacity);
  }

  /** Full and below `max`: double (no entry has wrapped yet, so slots 0..count-1 are the entries in order). */
  growIfFull(): void {
    if (this.count < this.capacity || this.capacity >= this.max) return;
    const c = Math.min(this.max, this.capacity * 2);
    const more = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(c * per);
      b.set(a);
      return b;
    };
    this.words = more(this.words, 8);
    this.firstAt = more(this.firstAt);
    this.lastAt = more(this.lastAt);
    this.media = more(this.media);
    this.quality = more(this.quality);
    if (this.trimmed) this.trimmed = more(this.trimmed, 8);
    if (this.hasTrimmed) this.hasTrimmed = more(this.hasTrimmed);
    this.capacity = c;
    this.head = this.count;
  }

  /** Bytes of the ring's arrays (stats, tests). */
  get bytes(): number {
    return (
      this.words.byteLength +
      this.firstAt.byteLength +
      this.lastAt.byteLength +
      this.media.byteLength +
      this.quality.byteLength +
      (this.trimmed?.byteLength ?? 0) +
      (this.hasTrimmed?.byteLength ?? 0)
    );
  }

  lastSlot(): number {
    return (this.head - 1 + this.capacity) % this.capacity;
  }

  hashAt(slot: number): PdqHash {
    return this.words.slice(slot * 8, slot * 8 + 8);
  }

  trimmedAt(slot: number): PdqHash | null {
    return this.hasTrimmed?.[slot] ? this.trimmed!.slice(slot * 8, slot * 8 + 8) : null;
  }
}

/** Hamming distance of `q` to the 8 words at `o` (the rare trimmed hashes; the whole-frame loop is unrolled in scan). */
function distanceAt(words: Uint32Array, o: number, q: PdqHash): number {
  let d = 0;
  for (let i = 0; i < 8; i++) d += popcount32(words[o + i]! ^ q[i]!);
  return d;
}

export class RecentHashes {
  readonly opts: RecentHashesOptions;
  private readonly rings = new Map<string, Ring>();
  private readonly counters = { recorded: 0, merged: 0, overflowed: 0, dropped: 0 };

  constructor(opts: Partial<RecentHashesOptions> = {}) {
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<RecentHashesOptions>;
    this.opts = { ...DEFAULT_RECENT_HASHES, ...given };
    if (!(this.opts.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${this.opts.windowMs}`);
    if (!(Number.isInteger(this.opts.maxPerStream) && this.opts.maxPerStream >= 1)) throw new RangeError(`maxPerStream must be ≥ 1`);
  }

  /** One frame's hash, seen at wall time `at`; `trimmed`: the hash of the picture inside its uniform borders, when it has them. */
  record(streamId: string, hash: PdqHash, quality: number, at: number, mediaTimeMs: number, trimmed?: PdqHash): void {
    let ring = this.rings.get(streamId);
    if (!ring) {
      if (this.rings.size >= this.opts.maxStreams) this.evictOne(at);
      ring = new Ring(this.opts.maxPerStream);
      this.rings.set(streamId, ring);
    }
    if (ring.count > 0) {
      const last = ring.lastSlot();
      const lastTrimmed = ring.trimmedAt(last);
      // The inner picture must be the same one too (or absent from both) for the frame to extend the entry.
      const sameInner = trimmed ? lastTrimmed !== null && hamming(lastTrimmed, trimmed) <= this.opts.mergeDistance : lastTrimmed === null;
      if (at - ring.firstAt[last]! < this.opts.minIntervalMs && sameInner && hamming(ring.hashAt(last), hash) <= this.opts.mergeDistance) {
        ring.lastAt[last] = at;
        this.counters.merged++;
        return;
      }
    }
    ring.growIfFull();
    const slot = ring.head;
    if (ring.count === ring.capacity) {
      // Overwriting an entry still inside the window: this stream's window is shorter than configured.
      if (at - ring.lastAt[slot]! < this.opts.windowMs && !ring.overflowed) {
        ring.overflowed = true;
        this.counters.overflowed++;
      }
    } else ring.count++;
    ring.words.set(hash.subarray(0, 8), slot * 8);
    ring.firstAt[slot] = at;
    ring.lastAt[slot] = at;
    ring.media[slot] = mediaTimeMs;
    ring.quality[slot] = quality;
    if (trimmed) {
      ring.trimmed ??= new Uint32Array(ring.capacity * 8);
      ring.hasTrimmed ??= new Uint8Array(ring.capacity);
      ring.trimmed.set(trimmed.subarray(0, 8), slot * 8);
      ring.hasTrimmed[slot] = 1;
    } else if (ring.hasTrimmed) ring.hasTrimmed[slot] = 0;
    ring.head = (slot + 1) % ring.capacity;
    this.counters.recorded++;
  }

  /** The stream ended at `at`: its hashes stay matchable until `at + windowMs`. */
  end(streamId: string, at: number): void {
    const ring = this.rings.get(streamId);
    if (ring && ring.endedAt === null) ring.endedAt = at;
  }

  /** Drops the streams that ended more than `windowMs` before `now`. */
  prune(now: number): number {
    let n = 0;
    for (const [id, ring] of this.rings) {
      if (ring.endedAt !== null && now - ring.endedAt > this.opts.windowMs) {
        this.rings.delete(id);
        n++;
      }
    }
    this.counters.dropped += n;
    return n;
  }

  /**
   * Every stream that showed a frame within `maxDistance` of `hash` in the window before `now`: its closest
   * such frame. Live and ended streams alike (`endedAt` tells them apart).
   */
  scan(hash: PdqHash, maxDistance: number, now: number): RetroHit[] {
    const from = now - this.opts.windowMs;
    const q0 = hash[0]! | 0,
      q1 = hash[1]! | 0,
      q2 = hash[2]! | 0,
      q3 = hash[3]! | 0,
      q4 = hash[4]! | 0,
      q5 = hash[5]! | 0,
      q6 = hash[6]! | 0,
      q7 = hash[7]! | 0;
    const hits: RetroHit[] = [];
    for (const [streamId, ring] of this.rings) {
      if (ring.endedAt !== null && ring.endedAt < from) continue;
      const w = ring.words;
      const inner = ring.trimmed;
      const hasInner = ring.hasTrimmed;
      let best = -1;
      let bestD = maxDistance + 1;
      let bestTrimmed = false;
      for (let k = 0; k < ring.count; k++) {
        if (ring.lastAt[k]! < from) continue;
        const o = k * 8;
        if (inner && hasInner![k]) {
          const t = distanceAt(inner, o, hash);
          if (t < bestD) {
            bestD = t;
            best = k;
            bestTrimmed = true;
          }
        }
        // Half the words first: most entries are ~128 bits away and already over any useful radius.
        let d = popcount32(w[o]! ^ q0) + popcount32(w[o + 1]! ^ q1) + popcount32(w[o + 2]! ^ q2) + popcount32(w[o + 3]! ^ q3);
        if (d >= bestD) continue;
        d += popcount32(w[o + 4]! ^ q4) + popcount32(w[o + 5]! ^ q5) + popcount32(w[o + 6]! ^ q6) + popcount32(w[o + 7]! ^ q7);
        if (d < bestD) {
          bestD = d;
          best = k;
          bestTrimmed = false;
        }
      }
      if (best < 0) continue;
      hits.push({
        streamId,
        distance: bestD,
        firstSeenAt: ring.firstAt[best]!,
        lastSeenAt: ring.lastAt[best]!,
        mediaTimeMs: ring.media[best]!,
        frameHash: bestTrimmed ? ring.trimmedAt(best)! : ring.hashAt(best),
        region: bestTrimmed ? 'trimmed' : 'full',
        quality: ring.quality[best]!,
        endedAt: ring.endedAt,
      });
    }
    return hits.sort((a, b) => a.distance - b.distance);
  }

  /** The entry stored last for the stream, or null. */
  last(streamId: string): { hash: PdqHash; firstSeenAt: number; lastSeenAt: number; mediaTimeMs: number } | null {
    const ring = this.rings.get(streamId);
    if (!ring || ring.count === 0) return null;
    const k = ring.lastSlot();
    return { hash: ring.hashAt(k), firstSeenAt: ring.firstAt[k]!, lastSeenAt: ring.lastAt[k]!, mediaTimeMs: ring.media[k]! };
  }

  /** Entries held for the stream (tests, stats). */
  size(streamId?: string): number {
    if (streamId !== undefined) return this.rings.get(streamId)?.count ?? 0;
    let n = 0;
    for (const r of this.rings.values()) n += r.count;
    return n;
  }

  /** Bytes the rings hold (all streams, or one). */
  bytes(streamId?: string): number {
    if (streamId !== undefined) return this.rings.get(streamId)?.bytes ?? 0;
    let n = 0;
    for (const r of this.rings.values()) n += r.bytes;
    return n;
  }

  stats(): { streams: number; entries: number; recorded: number; merged: number; overflowed: number; dropped: number } {
    return { streams: this.rings.size, entries: this.size(), ...this.counters };
  }

  /** At the stream cap: the longest-ended stream goes, else the oldest one added. */
  private evictOne(now: number): void {
    let victim: string | undefined;
    let endedAt = Number.POSITIVE_INFINITY;
    for (const [id, r] of this.rings) if (r.endedAt !== null && r.endedAt < endedAt) ((victim = id), (endedAt = r.endedAt));
    victim ??= this.rings.keys().next().value;
    if (victim !== undefined) {
      this.rings.delete(victim);
      this.counters.dropped++;
    }
    void now;
  }
}
