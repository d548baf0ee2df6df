import { VPDQ_QUERY_MATCH_THRESHOLD_PERCENT } from './frames.ts';

/**
 * vPDQ's match rule applied to a live stream: the query is not a whole video but the stream's recent frames,
 * a window of the last `windowMs` of media time. A banked video matches when at least `matchPercent` of the
 * window's distinct frame hashes are each within the distance of some frame of the video (vPDQ's
 * query_match_percent, vpdq_brute_matcher.py; the caller decides which frames match which entries and
 * drops frames below the quality threshold, as vPDQ's quality_filter does). The window must hold at least
 * `minFrames` frames: one frame of a stream is no video, and a 100 % of one frame would make every video
 * entry a photo entry. And the frames that match an entry must cover at least `minScenes` distinct scenes
 * of it (its frames grouped where the picture changes by more than the match distance, VideoBankIndex): a
 * still picture, an intro card or a channel logo that a banked video shares with a benign stream is one
 * scene, however many slightly different live hashes it gives, and must not make a video match — vPDQ's
 * 80 % rule compares whole uploaded videos, where a shared intro is a small part of the query; a live
 * window can be nothing else for seconds.
 *
 * Incremental, so a frame costs the same whatever the window's length: each frame enters with the entries
 * it matched (the caller looks them up once) and leaves when it falls out of the window; per entry the
 * window keeps how many of its distinct hashes match it. A frame costs O(entries it matched + entries the
 * frames leaving matched + entries matched anywhere in the window). Pure: no clock (media times are the
 * caller's), no I/O.
 */

export interface VideoWindowOptions {
  /** Media time the window spans (ms). */
  windowMs: number;
  /** Frames the window must hold before anything matches. */
  minFrames: number;
  /** Distinct scenes of an entry the window's matching frames must cover (see the class comment). */
  minScenes: number;
  /** Share of the window's distinct hashes that must match an entry, in percent (vPDQ: 80). */
  matchPercent: number;
  /** Frames kept per stream at most (a stream sampled faster than windowMs allows keeps a shorter window). */
  maxFrames: number;
  /** Streams followed at once; the one that went longest without a frame is forgotten past it. */
  maxStreams: number;
}

export const DEFAULT_VIDEO_WINDOW: VideoWindowOptions = {
  windowMs: 10_000,
  minFrames: 3,
  minScenes: 3,
  matchPercent: VPDQ_QUERY_MATCH_THRESHOLD_PERCENT,
  maxFrames: 300,
  maxStreams: 10_000,
};

export interface WindowMatch {
  entryId: string;
  /** Distinct hashes of the window that match the entry. */
  matched: number;
  /** Distinct hashes in the window (vPDQ's dedupe). */
  distinct: number;
  /** Frames in the window. */
  frames: number;
  /** Distinct scenes of the entry those hashes matched. */
  scenes: number;
  /** matched / distinct. */
  fraction: number;
  /** Media time from the window's oldest frame to its newest (ms). */
  spanMs: number;
}

interface WindowFrame {
  t: number;
  key: string;
  entries: readonly string[];
  /** The scene of each entry the frame matched (parallel to `entries`). */
  scenes: readonly string[];
}

class StreamWindow {
  /** Frames in media-time order; `head` is the oldest one still in the window. */
  frames: WindowFrame[] = [];
  head = 0;
  /** Distinct hash → frames of the window holding it. */
  readonly copies = new Map<string, number>();
  /** Entry → distinct hashes of the window that match it. */
  readonly perEntry = new Map<string, number>();
  /** Entry → scene → distinct hashes of the window that matched that scene. */
  readonly perScene = new Map<string, Map<string, number>>();

  get size(): number {
    return this.frames.length - this.head;
  }

  add(f: WindowFrame): void {
    this.frames.push(f);
    const n = this.copies.get(f.key) ?? 0;
    this.copies.set(f.key, n + 1);
    // Equal hashes match equal entries: a repeated hash (a still scene) counts once, as vPDQ's dedupe.
    if (n === 0)
      f.entries.forEach((e, i) => {
        this.perEntry.set(e, (this.perEntry.get(e) ?? 0) + 1);
        let scenes = this.perScene.get(e);
        if (!scenes) this.perScene.set(e, (scenes = new Map()));
        scenes.set(f.scenes[i]!, (scenes.get(f.scenes[i]!) ?? 0) + 1);
      });
  }

  dropOldest(): void {
    const f = this.frames[this.head]!;
    this.head++;
    const n = this.copies.get(f.key)!;
    if (n > 1) this.copies.set(f.key, n - 1);
    else {
      this.copies.delete(f.key);
      f.entries.forEach((e, i) => {
        const m = this.perEntry.get(e)! - 1;
        if (m > 0) this.perEntry.set(e, m);
        else this.perEntry.delete(e);
        const scenes = this.perScene.get(e)!;
        const c = scenes.get(f.scenes[i]!)! - 1;
        if (c > 0) scenes.set(f.scenes[i]!, c);
        else scenes.delete(f.scenes[i]!);
        if (scenes.size === 0) this.perScene.delete(e);
      });
    }
    // Compact now and then, so the array does not grow with the stream's age.
    if (this.head > 64 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }

  oldest(): WindowFrame | undefined {
    return this.frames[this.head];
  }

  newest(): WindowFrame | undefined {
    return this.size > 0 ? this.frames[this.frames.length - 1] : undefined;
  }
}

export class VideoWindows {
  readonly opts: VideoWindowOptions;
  private readonly streams = new Map<string, StreamWindow>();

  constructor(opts: Partial<VideoWindowOptions> = {}) {
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<VideoWindowOptions>;
    this.opts = { ...DEFAULT_VIDEO_WINDOW, ...given };
    const o = this.opts;
    if (!(o.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${o.windowMs}`);
    if (!(Number.isInteger(o.minFrames) && o.minFrames >= 1)) throw new RangeError(`minFrames must be an integer >= 1, got ${o.minFrames}`);
    if (!(Number.isInteger(o.minScenes) && o.minScenes >= 1)) throw new RangeError(`minScenes must be an integer >= 1, got ${o.minScenes}`);
    if (!(o.matchPercent > 0 && o.matchPercent <= 100)) throw new RangeError(`matchPercent must be in (0, 100], got ${o.matchPercent}`);
    if (!(Number.isInteger(o.maxFrames) && o.maxFrames >= o.minFrames)) throw new RangeError(`maxFrames must be an integer >= minFrames`);
  }

  /**
   * One usable frame of the stream at media time `t` (ms), its hash (any stable key: equal hashes are
   * one distinct frame), the entries it matched and, for each, the scene of the entry it matched
   * (VideoFrameHit.scene; without them each distinct hash counts as a scene of its own). Returns the
   * entries the window matches now.
   */
  push(streamId: string, t: number, key: string, entries: readonly string[], scenes?: readonly (string | number)[]): WindowMatch[] {
    let w = this.streams.get(streamId);
    if (w) this.streams.delete(streamId); // re-inserted below: the map's order is the order of last frames
    const newest = w?.newest();
    // Media time going back is a new timeline (a reconnect under the same id): the old frames are not its past.
    if (!w || (newest && t < newest.t)) w = new StreamWindow();
    this.streams.set(streamId, w);
    if (this.streams.size > this.opts.maxStreams) this.streams.delete(this.streams.keys().next().value!);
    w.add({ t, key, entries, scenes: entries.map((_, i) => (scenes?.[i] !== undefined ? String(scenes[i]) : `hash:${key}`)) });
    for (let old = w.oldest(); old && (t - old.t >= this.opts.windowMs || w.size > this.opts.maxFrames); old = w.oldest()) w.dropOldest();
    if (w.size < this.opts.minFrames || w.perEntry.size === 0) return [];
    const distinct = w.copies.size;
    const frames = w.size;
    const spanMs = t - w.oldest()!.t;
    const out: WindowMatch[] = [];
    for (const [entryId, matched] of w.perEntry) {
      if (matched * 100 < this.opts.matchPercent * distinct) continue;
      const scenes = w.perScene.get(entryId)?.size ?? 0;
      if (scenes >= this.opts.minScenes) out.push({ entryId, matched, distinct, frames, scenes, fraction: matched / distinct, spanMs });
    }
    return out.sort((a, b) => b.fraction - a.fraction || (a.entryId < b.entryId ? -1 : 1));
  }

  /** The stream ended: its window is dropped. */
  end(streamId: string): void {
    this.streams.delete(streamId);
  }

  /** Frames held for the stream, or in all (tests, stats). */
  size(streamId?: string): number {
    if (streamId !== undefined) return this.streams.get(streamId)?.size ?? 0;
    let n = 0;
    for (const w of this.streams.values()) n += w.size;
    return n;
  }

  get streamCount(): number {
    return this.streams.size;
  }
}
