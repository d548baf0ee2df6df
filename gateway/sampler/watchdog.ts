import { availableParallelism, loadavg } from 'node:os';
import type { Signal } from '../../classifiers/signal.ts';
import type { SamplerMode } from './args.ts';
import type { TimerHandle, Timers } from './timers.ts';

/**
 * Stall detection for a sampler's ffmpeg: no frame for longer than the mode's limit is a stall, and so
 * is a (re)started process that has not delivered its first frame within its grace.
 *
 * What counts is frames coming off the decoder, never what is in them: a static picture (a solid colour,
 * a looped slide) yields a frame per 1/fps slot like any other, identical frames included. Frames the
 * sampler decoded but did not deliver (a GOP-cache replay, a release follower) are not progress: they
 * are not new media.
 *
 * Startup is CPU work (~0.2 s of CPU per ffmpeg: dynamic linking, probing, decoder setup), so on an
 * oversubscribed host it takes proportionally longer: the first-frame grace is stretched by the host
 * load, and doubled after every run that was killed before its first frame, up to a cap. A fixed
 * wall-clock grace shorter than the (load-dependent) startup time would kill every run just before its
 * first frame and restart it from scratch, forever.
 */

export interface WatchdogOptions {
  /** No frame for this long counts as a stall (full mode). */
  stallAfterMs: number;
  /** The same in keyframe mode (one frame per keyframe, held back by the decoder's reorder depth). */
  keyframeStallAfterMs: number;
  /** Base grace for a fresh run's first frame (at least the mode's stall limit). */
  firstFrameTimeoutMs: number;
  /** Cap on the stretched and escalated first-frame grace. */
  maxFirstFrameTimeoutMs: number;
  /** Host CPU oversubscription: runnable tasks per core. */
  hostLoad: () => number;
}

/** The host-load factor on the first-frame grace is clamped to [1, MAX_LOAD_STRETCH]. */
export const MAX_LOAD_STRETCH = 4;

export function defaultHostLoad(): number {
  return (loadavg()[0] ?? 0) / Math.max(1, availableParallelism());
}

/** The sampler's documented defaults (see SamplerOptions). */
export function watchdogOptions(o: Partial<WatchdogOptions>): WatchdogOptions {
  const stallAfterMs = o.stallAfterMs ?? 5_000;
  const firstFrameTimeoutMs = o.firstFrameTimeoutMs ?? Math.max(8_000, stallAfterMs);
  return {
    stallAfterMs,
    keyframeStallAfterMs: o.keyframeStallAfterMs ?? Math.max(12_000, stallAfterMs),
    firstFrameTimeoutMs,
    maxFirstFrameTimeoutMs: Math.max(firstFrameTimeoutMs, o.maxFirstFrameTimeoutMs ?? 60_000),
    hostLoad: o.hostLoad ?? defaultHostLoad,
  };
}

/** What the watchdog needs to know about the run it watches. */
export interface RunProgress {
  /** Wall time the run was spawned. */
  startedAt: number;
  /** Wall time of the run's first delivered frame, null while it is starting. */
  firstFrameAt: number | null;
}

export interface StallFinding {
  phase: 'startup' | 'running';
  /** The limit that was exceeded: the first-frame grace while starting, else the mode's stall limit. */
  graceMs: number;
}

export class StallWatchdog {
  /** Consecutive runs killed before their first frame; each doubles the next run's first-frame grace. */
  startupFailures = 0;
  private timer: TimerHandle | null = null;

  constructor(
    readonly opts: WatchdogOptions,
    private readonly timers: Timers,
  ) {}

  limitFor(mode: SamplerMode): number {
    return mode === 'keyframe' ? this.opts.keyframeStallAfterMs : this.opts.stallAfterMs;
  }

  /** How often to check: often enough to see a stall within a quarter of its limit. */
  get intervalMs(): number {
    return Math.max(50, Math.min(1_000, this.opts.stallAfterMs / 4));
  }

  /** Calls `check` every intervalMs until disarm(). */
  arm(check: () => void): void {
    this.disarm();
    this.timer = this.timers.setInterval(check, this.intervalMs);
  }

  disarm(): void {
    this.timers.clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Whether the run has stalled at `now`, given the wall time of the stream's last delivered frame.
   * A startup stall counts as a startup failure (the next run's grace doubles).
   */
  check(now: number, mode: SamplerMode, run: RunProgress, lastFrameAt: number | null): StallFinding | null {
    const limit = this.limitFor(mode);
    if (run.firstFrameAt === null) {
      const graceMs = this.firstFrameGraceMs(limit);
      if (now - run.startedAt < graceMs) return null;
      // Killed before its first frame: the next run gets twice the grace (bounded), so a restart
      // loop on a starved host converges instead of repeating the same too-short attempt.
      this.startupFailures += 1;
      return { phase: 'startup', graceMs };
    }
    if (now - (lastFrameAt ?? run.startedAt) < limit) return null;
    return { phase: 'running', graceMs: limit };
  }

  /** A run delivered its first frame: starts are working again. */
  firstFrame(): void {
    this.startupFailures = 0;
  }

  /**
   * How long the current run may take to its first frame: firstFrameTimeoutMs (at least the stall
   * limit), stretched by the host load and doubled per consecutive startup failure, capped.
   */
  firstFrameGraceMs(limit: number): number {
    const base = Math.max(limit, this.opts.firstFrameTimeoutMs);
    const stretch = Math.min(MAX_LOAD_STRETCH, Math.max(1, this.hostLoad()));
    const escalation = 2 ** Math.min(this.startupFailures, 10);
    return Math.round(Math.min(this.opts.maxFirstFrameTimeoutMs, base * stretch * escalation));
  }

  /** The host load, rounded for logs; 1 when the probe fails. */
  hostLoad(): number {
    try {
      const v = this.opts.hostLoad();
      return Number.isFinite(v) ? Math.round(v * 100) / 100 : 1;
    } catch {
      return 1;
    }
  }
}

/** The `sampler` stall Signal both samplers report (the policy's stall entries fail open or closed on it). */
export function stallSignal(p: {
  streamId: string;
  lastMediaTimeMs: number | null;
  observedAt: number;
  version: string;
  detail: Record<string, string | number | boolean>;
}): Signal {
  return {
    streamId: p.streamId,
    frameTimeMs: Math.max(0, p.lastMediaTimeMs ?? 0),
    observedAt: p.observedAt,
    source: 'sampler',
    label: 'stall',
    score: 1,
    version: p.version,
    evidenceRef: null,
    detail: p.detail,
  };
}
