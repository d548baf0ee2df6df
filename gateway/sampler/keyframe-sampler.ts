import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { VideoPacket, VideoTap } from '../live/video-tap.ts';
import { H264Error } from '../media/h264.ts';
import { FrameFanOut, Listeners, type FrameConsumer } from './fan-out.ts';
import { keyframePayload, prepareAvcConfig, type KeyframeDecoderPool, type PreparedConfig } from './keyframe-decoder.ts';
import { keyframeTooSoon, newStreamClock, placeKeyframe, type StreamClock } from './timeline.ts';
import { systemTimers, type TimerHandle, type Timers } from './timers.ts';
import { stallSignal } from './watchdog.ts';

/**
 * Cheap watching of one RTMP stream: its H.264 keyframes, taken from the ingest in memory
 * (gateway/live/video-tap.ts) and decoded by the shared pool (keyframe-decoder.ts). One picture per
 * keyframe (0.5 fps at OBS's 2 s keyframe interval), capped at `fps`, delivered ~5–40 ms after the
 * keyframe arrived. No process of its own: ~0.1 % of a core and no RSS per stream besides one keyframe.
 *
 * What it cannot watch it says so (`onUnwatchable`) instead of going quiet, and the caller gives the
 * stream a full-rate sampler of its own: a codec other than H.264, a bad sequence header, a stream
 * without IDR keyframes (x264 intra-refresh), a stream the shared decoder quarantined. A stream that
 * stops sending video, or whose keyframes all fail to decode, produces `sampler` stall signals like the
 * ffmpeg sampler's. A stream whose picture does not change still sends keyframes: it is watched like any other.
 */

export interface KeyframeSamplerOptions {
  streamId: string;
  tap: Pick<VideoTap, 'subscribe'>;
  pool: Pick<KeyframeDecoderPool, 'decode'>;
  /** At most this many pictures per second of media. Default 2. */
  fps?: number;
  width: number;
  height: number;
  /** No picture for this long is a stall. Default 12000 (keyframes come every 2–10 s). */
  stallAfterMs?: number;
  /** Video arriving but no decodable IDR keyframe for this long: unwatchable here. Default 12000. */
  noKeyframeAfterMs?: number;
  /**
   * A keyframe interval longer than this makes the stream unwatchable here (content would go unseen for
   * that long): adaptive mode then watches it at full rate. Absent: no limit (fixed keyframe mode).
   */
  maxKeyframeIntervalMs?: number;
  /** Frames a consumer may have unsettled before it misses one. Default 2. */
  maxInFlight?: number;
  clock?: StreamClock;
  /** Clock and timers (tests: a fake clock). Default: the system's. */
  timers?: Timers;
  ffmpegVersion?: string;
  log?: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
}

export interface KeyframeSamplerStats {
  streamId: string;
  paused: boolean;
  keyframes: number;
  framesEmitted: number;
  /** Keyframes skipped: the rate cap, one already in flight, or the pool busy. */
  skipped: number;
  /** Keyframes the decoder lost or rejected. */
  failed: number;
  /** Keyframes without an IDR picture (cannot be decoded alone). */
  nonIdr: number;
  dropped: number;
  /** Consumers or listeners that threw or rejected. */
  consumerErrors: number;
  stalls: number;
  lastDecodeMs: number | null;
  unwatchable: string | null;
}

const VERSION = 'keyframe-sampler/1';

export class KeyframeSampler {
  readonly streamId: string;
  private readonly fps: number;
  private readonly stallAfterMs: number;
  private readonly noKeyframeAfterMs: number;
  private readonly clock: StreamClock;
  private readonly timers: Timers;
  private readonly fanOut: FrameFanOut;
  private readonly stallListeners = new Listeners<[Signal]>();
  private readonly unwatchableListeners = new Listeners<[string]>();
  private config: PreparedConfig | null = null;
  private unsubscribe: (() => void) | null = null;
  private watchdog: TimerHandle | null = null;
  private inFlight = false;
  private paused = false;
  private stopped = false;
  private unwatchable: string | null = null;
  private lastSentPtsMs: number | null = null;
  private lastKeyDts: number | null = null;
  private lastFrameAt = 0;
  private lastVideoAt = 0;
  private lastIdrAt = 0;
  private lastStallAt = 0;
  private lastDecodeMs: number | null = null;
  private readonly counters = { keyframes: 0, framesEmitted: 0, skipped: 0, failed: 0, nonIdr: 0, stalls: 0 };

  constructor(private readonly opts: KeyframeSamplerOptions) {
    this.streamId = opts.streamId;
    this.fps = opts.fps ?? 2;
    this.stallAfterMs = opts.stallAfterMs ?? 12_000;
    this.noKeyframeAfterMs = opts.noKeyframeAfterMs ?? 12_000;
    this.clock = opts.clock ?? newStreamClock();
    this.timers = opts.timers ?? systemTimers;
    this.fanOut = new FrameFanOut(opts.maxInFlight ?? 2);
  }

  onFrame(cb: FrameConsumer): () => void {
    return this.fanOut.add(cb);
  }

  onStall(cb: (s: Signal) => void): () => void {
    return this.stallListeners.add(cb);
  }

  /** Called once if this stream cannot be watched from its keyframes; the sampler stops itself. */
  onUnwatchable(cb: (reason: string) => void): () => void {
    return this.unwatchableListeners.add(cb);
  }

  start(): void {
    if (this.unsubscribe || this.stopped) return;
    const now = this.timers.now();
    this.lastFrameAt = now;
    this.lastIdrAt = now;
    this.lastVideoAt = now;
    this.unsubscribe = this.opts.tap.subscribe((p) => this.onPacket(p));
    this.watchdog = this.timers.setInterval(() => this.check(), 1_000);
  }

  /** Stops taking keyframes (the stream has a full-rate sampler meanwhile); resume() picks up again. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const now = this.timers.now();
    this.lastFrameAt = now;
    this.lastIdrAt = now;
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.timers.clearInterval(this.watchdog);
    this.watchdog = null;
  }

  stats(): KeyframeSamplerStats {
    return {
      streamId: this.streamId,
      paused: this.paused,
      ...this.counters,
      dropped: this.fanOut.dropped,
      consumerErrors: this.fanOut.consumerErrors + this.stallListeners.errors + this.unwatchableListeners.errors,
      lastDecodeMs: this.lastDecodeMs,
      unwatchable: this.unwatchable,
    };
  }

  private onPacket(p: VideoPacket): void {
    if (this.stopped || this.unwatchable) return;
    this.lastVideoAt = p.receivedAt;
    if (p.kind === 'config') {
      try {
        this.config = prepareAvcConfig(p.body);
      } catch (err) {
        this.giveUp(err instanceof H264Error ? err.message : `sequence header: ${String(err)}`);
      }
      return;
    }
    if (p.kind !== 'key' || this.paused) return;
    // AVC end-of-sequence messages carry the keyframe flag too; they hold no picture.
    if (this.config && p.body[1] !== 1) return;
    this.counters.keyframes++;
    const max = this.opts.maxKeyframeIntervalMs;
    if (max !== undefined && this.lastKeyDts !== null && p.dts - this.lastKeyDts > max) {
      this.giveUp(`keyframe interval ${((p.dts - this.lastKeyDts) / 1000).toFixed(1)} s is longer than ${(max / 1000).toFixed(1)} s`);
      return;
    }
    this.lastKeyDts = p.dts;
    if (!this.config) {
      // H.264 sends its sequence header first; any other codec never will.
      if ((p.body[0]! & 0x0f) !== 7 || (p.body[0]! & 0x80) !== 0) this.giveUp(`video codec ${codecName(p.body)} is not H.264`);
      return;
    }
    const ptsMs = p.dts + compositionTime(p.body);
    if (keyframeTooSoon(this.lastSentPtsMs, ptsMs, this.fps)) {
      this.counters.skipped++;
      return;
    }
    if (this.inFlight) {
      this.counters.skipped++;
      return;
    }
    let payload: Buffer | null;
    try {
      payload = keyframePayload(this.config, p.body);
    } catch (err) {
      this.counters.failed++;
      this.log('warn', 'malformed keyframe skipped', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (!payload) {
      this.counters.nonIdr++;
      return;
    }
    this.lastIdrAt = p.receivedAt;
    this.lastSentPtsMs = ptsMs;
    this.inFlight = true;
    const config = this.config;
    void this.opts.pool.decode(this.streamId, config, payload).then((r) => {
      this.inFlight = false;
      if (this.stopped) return;
      if (r.ok) {
        this.lastDecodeMs = r.decodeMs;
        this.emit(ptsMs, r.rgb);
      } else if (r.reason === 'quarantined') {
        this.giveUp('the shared keyframe decoder crashed on this stream');
      } else if (r.reason === 'busy') {
        this.counters.skipped++;
      } else if (r.reason !== 'stopped') {
        this.counters.failed++;
      }
    });
  }

  private emit(ptsMs: number, rgb: Buffer): void {
    const placed = placeKeyframe(this.clock, ptsMs);
    // A stream handed back from a full-rate sampler: pictures it already delivered are not repeated.
    if (!placed) return;
    const now = this.timers.now();
    this.lastFrameAt = now;
    const frame: Frame = {
      streamId: this.streamId,
      seq: placed.seq,
      mediaTimeMs: placed.mediaTimeMs,
      receivedAt: now,
      width: this.opts.width,
      height: this.opts.height,
      rgb,
    };
    this.counters.framesEmitted++;
    this.fanOut.deliver(frame);
  }

  private check(): void {
    if (this.stopped || this.paused || this.unwatchable) return;
    const now = this.timers.now();
    const videoFlowing = now - this.lastVideoAt < this.stallAfterMs;
    if (videoFlowing && now - this.lastIdrAt > this.noKeyframeAfterMs) {
      this.giveUp(this.counters.nonIdr > 0 ? 'keyframes without IDR pictures' : `no keyframe in ${Math.round(this.noKeyframeAfterMs / 1000)} s`);
      return;
    }
    if (now - this.lastFrameAt > this.stallAfterMs && now - this.lastStallAt > this.stallAfterMs) {
      this.lastStallAt = now;
      this.counters.stalls++;
      this.stallListeners.emit(
        stallSignal({
          streamId: this.streamId,
          lastMediaTimeMs: this.clock.lastMediaTimeMs,
          observedAt: now,
          version: `${VERSION} ffmpeg/${this.opts.ffmpegVersion ?? 'unknown'}`,
          detail: { stalledForMs: now - this.lastFrameAt, reason: videoFlowing ? 'decoder' : 'no-video', mode: 'keyframe', failed: this.counters.failed },
        }),
      );
    }
  }

  private giveUp(reason: string): void {
    if (this.unwatchable) return;
    this.unwatchable = reason;
    this.log('info', 'stream not watchable from keyframes', { reason });
    this.stop();
    this.unwatchableListeners.emit(reason);
  }

  private log(level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>): void {
    try {
      this.opts.log?.(level, msg, { streamId: this.streamId, ...detail });
    } catch {
      // never let logging break sampling
    }
  }
}

/** The codec of an FLV video tag: enhanced-RTMP FourCC (hvc1, av01, vp09) or the legacy codec id. */
function codecName(body: Buffer): string {
  if ((body[0]! & 0x80) !== 0 && body.length >= 5)
    return body
      .subarray(1, 5)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '?');
  return String(body[0]! & 0x0f);
}

/** The FLV AVC composition time offset (signed 24-bit, bytes 2–4 of the tag body). */
function compositionTime(body: Buffer): number {
  if (body.length < 5) return 0;
  const v = (body[2]! << 16) | (body[3]! << 8) | body[4]!;
  return v & 0x800000 ? v - 0x1000000 : v;
}
