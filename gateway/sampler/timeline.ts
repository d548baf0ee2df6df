/**
 * The media timeline of a sampled stream, as pure state: no clock, no timers, no processes. Wall times
 * come in as arguments, so every rule here is unit-tested on made-up numbers (test/sampler/unit/).
 *
 *  - PtsPairer: ffmpeg writes a frame's pixels on stdout and its pts on stderr (showinfo), on two pipes
 *    that race; frames are paired with their pts by output index, in order, and a frame whose line was
 *    lost is given an estimated pts rather than held forever.
 *  - SlotFilter: the follower frame an ffmpeg 5.x needs behind each sampled one (args.ts selectExpr)
 *    falls in the same 1/fps slot and is dropped.
 *  - MediaTimeline: pts → mediaTimeMs and frame numbers, continuous across ffmpeg restarts and sampler
 *    hand-overs (StreamClock), skipping the server's GOP-cache replay and rebasing when the publisher's
 *    clock restarts.
 *  - placeKeyframe: the same clock for pictures taken from keyframes (keyframe-sampler.ts).
 */

/** Per-stream frame numbering and media-time origin, shared by every sampler of the stream in turn. */
export interface StreamClock {
  /** The publisher's timestamp (ms) that is media time 0; set by the first frame. */
  originMs: number | null;
  nextSeq: number;
  lastMediaTimeMs: number | null;
}

export function newStreamClock(): StreamClock {
  return { originMs: null, nextSeq: 0, lastMediaTimeMs: null };
}

/** A restart whose first pts lies this far before the last emitted one means a new timeline. */
export const TIMELINE_RESET_MS = 60_000;

export interface PairedFrame {
  rgb: Buffer;
  /** Wall time the pixels came off the pipe. */
  receivedAt: number;
  ptsMs: number;
  /** The pts was not reported in time and was estimated at the nominal rate. */
  estimated: boolean;
}

interface PendingFrame {
  index: number;
  rgb: Buffer;
  receivedAt: number;
}

/** Pairs one ffmpeg run's raw frames with their showinfo pts, by output frame index. */
export class PtsPairer {
  private framesOut = 0;
  /** showinfo pts by output frame index, until the matching frame arrives. */
  private readonly pts = new Map<number, number>();
  private pending: PendingFrame[] = [];
  private lastPtsMs: number | null = null;

  constructor(private readonly fps: number) {}

  /** Frames read from stdout so far. */
  get frames(): number {
    return this.framesOut;
  }

  /** Frames still waiting for their pts. */
  get waiting(): number {
    return this.pending.length;
  }

  /** A frame's pixels arrived; returns the frames now ready, in order. */
  frame(rgb: Buffer, receivedAt: number): PairedFrame[] {
    this.pending.push({ index: this.framesOut++, rgb, receivedAt });
    return this.flush(false);
  }

  /** A showinfo line arrived; returns the frames now ready, in order. */
  report(n: number, ptsMs: number): PairedFrame[] {
    const head = this.pending[0];
    // A line for a frame already released with an estimate: too late to matter.
    if (head !== undefined && n < head.index) return [];
    this.pts.set(n, ptsMs);
    return this.flush(false);
  }

  /**
   * The frames ready, in order; with `force`, also those still without a pts (estimated from the
   * previous frame at the nominal rate: a lost or late line must not hold the stream back).
   */
  flush(force: boolean): PairedFrame[] {
    const out: PairedFrame[] = [];
    while (this.pending.length > 0) {
      const p = this.pending[0]!;
      let pts = this.pts.get(p.index);
      const estimated = pts === undefined;
      if (pts === undefined) {
        if (!force) break;
        pts = this.lastPtsMs === null ? 0 : this.lastPtsMs + 1000 / this.fps;
      }
      this.pts.delete(p.index);
      this.pending.shift();
      this.lastPtsMs = pts;
      out.push({ rgb: p.rgb, receivedAt: p.receivedAt, ptsMs: pts, estimated });
    }
    return out;
  }

  clear(): void {
    this.pending = [];
    this.pts.clear();
  }
}

/** Drops the follower frame that shares the 1/fps slot of the frame before it (one run). */
export class SlotFilter {
  private lastSlot: number | null = null;

  constructor(private readonly fps: number) {}

  /** True for a follower (drop it); false for the first frame of a slot. */
  isFollower(ptsMs: number): boolean {
    const slot = Math.floor((ptsMs / 1000) * this.fps);
    if (this.lastSlot === slot) return true;
    this.lastSlot = slot;
    return false;
  }
}

export type Placement = { kind: 'replay' } | { kind: 'frame'; seq: number; mediaTimeMs: number };

/**
 * pts (ffmpeg keeps input timestamps: -copyts) → media time from the stream's first sampled frame.
 *
 * After a restart the same stream continues on the same clock. A restarted RTMP pull first replays
 * the server's GOP cache (up to a GOP of already-sampled media): those frames are `replay`. A pts far
 * behind means the publisher's clock restarted: the timeline is rebased so mediaTimeMs keeps increasing.
 */
export class MediaTimeline {
  /** mediaTimeMs = ptsMs + ptsOffset; fixed by the first frame, moved only on a timeline reset. */
  private ptsOffset: number | null = null;
  private lastMedia: number | null;
  private lastAt: number | null = null;

  constructor(private readonly clock: StreamClock = newStreamClock()) {
    if (clock.originMs !== null) this.ptsOffset = -clock.originMs;
    this.lastMedia = clock.lastMediaTimeMs;
  }

  /** Media time of the last placed frame (unrounded), null before the first. */
  get lastMediaTimeMs(): number | null {
    return this.lastMedia;
  }

  /** Wall time the last placed frame was received, null before the first. */
  get lastFrameAt(): number | null {
    return this.lastAt;
  }

  /**
   * Places a frame. `runDelivered`: the ffmpeg run it came from has already delivered a frame (within a
   * run, pts only goes back on a publisher's clock reset; a fresh run's early frames may be a replay).
   */
  place(ptsMs: number, receivedAt: number, runDelivered: boolean): Placement {
    if (this.ptsOffset === null) {
      this.ptsOffset = -ptsMs;
      this.clock.originMs ??= ptsMs;
    }
    let mediaTimeMs = ptsMs + this.ptsOffset;
    if (this.lastMedia !== null && mediaTimeMs <= this.lastMedia) {
      if (!runDelivered && this.lastMedia - mediaTimeMs <= TIMELINE_RESET_MS) return { kind: 'replay' };
      // Rebase: continue just after the last frame, by the wall time that passed since it.
      const gap = Math.max(1, receivedAt - (this.lastAt ?? receivedAt));
      this.ptsOffset = this.lastMedia + gap - ptsMs;
      mediaTimeMs = ptsMs + this.ptsOffset;
    }
    this.lastMedia = mediaTimeMs;
    this.clock.lastMediaTimeMs = mediaTimeMs;
    this.lastAt = receivedAt;
    return { kind: 'frame', seq: this.clock.nextSeq++, mediaTimeMs: Math.round(mediaTimeMs * 1000) / 1000 };
  }
}

/**
 * A picture decoded from a keyframe at `ptsMs` (the publisher's timestamp) on the stream's clock: its
 * frame number and media time, or null when the stream already got a picture at or after that time
 * (handed back from a full-rate sampler, pictures it delivered are not repeated).
 */
export function placeKeyframe(clock: StreamClock, ptsMs: number): { seq: number; mediaTimeMs: number } | null {
  clock.originMs ??= ptsMs;
  const mediaTimeMs = ptsMs - clock.originMs;
  if (clock.lastMediaTimeMs !== null && mediaTimeMs <= clock.lastMediaTimeMs) return null;
  clock.lastMediaTimeMs = mediaTimeMs;
  return { seq: clock.nextSeq++, mediaTimeMs };
}

/** Keyframe rate cap: a keyframe less than 1/fps after the last one sent (and not before it) is skipped. */
export function keyframeTooSoon(lastSentPtsMs: number | null, ptsMs: number, fps: number): boolean {
  return lastSentPtsMs !== null && ptsMs - lastSentPtsMs < 1000 / fps && ptsMs >= lastSentPtsMs;
}
