/**
 * Load shedding for one stream's sampler, as pure state (no clock, no timers: times come in as arguments,
 * so every rule is unit-tested on made-up numbers, test/sampler/unit/shedding.test.ts).
 *
 * A decoder that falls behind live does not catch up on a saturated node: its input queues (in the media
 * server's socket to it, the kernel's buffers, ffmpeg's own), and every frame after is as late as the queue is
 * long — measured at 25 streams on 2 cores, time to cut grew to 8.8 s. Late frames are worth less than no
 * frames (a cut seconds late is a cut missed). So instead of queueing, the sampler sheds:
 *
 *  - `skip`: frames have been more than `maxLagMs` (about a GOP) of media behind the newest media the gateway
 *    has received for `sustainMs`, and the decoder is not catching up (the lag fell by less than a quarter of
 *    the time that passed: a decoder working through a burst, such as the GOP a fresh one starts with, gains
 *    on live at several times real time): the sampler drops its decoder's queued input by restarting it, which
 *    resumes at the stream's latest keyframe (the media server's GOP cache), and
 *  - at the same time lowers the stream's hash rate one step (`rates`, e.g. 10 → 2 fps, the model rate), so
 *    the node does less per stream while it is saturated;
 *  - `raise`: after `recoverAfterMs` of lag under `calmLagMs` the rate goes back up a step. A raise that is
 *    shed again within `failedRaiseMs` doubles the wait before the next (up to `maxRecoverAfterMs`): a node
 *    that cannot afford the higher rate is not pushed back into lag every few seconds.
 *
 * After any restart, `settleMs` passes before the next decision: the fresh decoder replays up to a GOP of
 * media from the keyframe it starts at, which is late by design and gone within a second. Skips in a row
 * without keeping up in between double it (up to `maxSettleMs`): a restart costs a decoder start and a GOP
 * decoded in a burst, and a node so overloaded that even the lowest rate falls behind must not spend what it
 * has left restarting decoders every few seconds.
 */

export interface ShedOptions {
  /** Hash rates, highest first: the configured rate, then the lower ones to shed to (the last is the floor). */
  rates: readonly number[];
  /** Frames this far (ms of media) behind the newest received media are stale: skip to live and shed a step... */
  maxLagMs: number;
  /** ...once they have been for this long without catching up. */
  sustainMs: number;
  /** Lag under this counts as keeping up. */
  calmLagMs: number;
  /** Keeping up this long at a lowered rate raises it a step. */
  recoverAfterMs: number;
  /** The wait before a raise doubles after each failed raise, up to this. */
  maxRecoverAfterMs: number;
  /** A shed this soon after a raise means the raise failed. */
  failedRaiseMs: number;
  /** No decision for this long after a restart (its GOP-cache replay is late by design). */
  settleMs: number;
  /** Consecutive skips double the settle time up to this. */
  maxSettleMs: number;
}

export const DEFAULT_SHED: Omit<ShedOptions, 'rates'> = {
  maxLagMs: 2_500,
  sustainMs: 1_000,
  calmLagMs: 1_000,
  recoverAfterMs: 20_000,
  maxRecoverAfterMs: 300_000,
  failedRaiseMs: 60_000,
  settleMs: 4_000,
  maxSettleMs: 60_000,
};

export type ShedReason = 'lag';

export type ShedAction =
  /** Restart the decoder (dropping its queued input) at `fps`. */
  | { kind: 'skip'; fps: number; reason: ShedReason; lagMs: number }
  /** Restart the decoder at the higher `fps`. */
  | { kind: 'raise'; fps: number };

export interface ShedState {
  /** The hash rate the sampler should run at. */
  fps: number;
  /** 0: the configured rate; higher: shed. */
  level: number;
  /** Latest lag observed (ms of media behind the newest received), null before the first frame. */
  lagMs: number | null;
  skips: number;
  raises: number;
  /** The current wait before a raise. */
  recoverAfterMs: number;
}

export class ShedController {
  private level = 0;
  private lag: number | null = null;
  private settleUntil = -Infinity;
  private calmSince: number | null = null;
  private lastRaiseAt: number | null = null;
  private recoverWait: number;
  private skips = 0;
  private raises = 0;
  /** Skips since the stream last kept up. */
  private streak = 0;
  /** Since when (and from what lag) frames have been over maxLagMs; null: they are not. */
  private behind: { since: number; lag: number } | null = null;

  constructor(private readonly opts: ShedOptions) {
    if (opts.rates.length === 0 || opts.rates.some((r) => !(r > 0))) throw new RangeError('rates must be positive and not empty');
    this.recoverWait = opts.recoverAfterMs;
  }

  get fps(): number {
    return this.opts.rates[this.level]!;
  }

  /**
   * A frame was decoded `lagMs` behind the newest media received, at wall time `now`. Returns what the
   * sampler must do, or null (carry on).
   */
  observe(lagMs: number, now: number): ShedAction | null {
    this.lag = lagMs;
    if (now < this.settleUntil) return null;
    if (lagMs > this.opts.maxLagMs) {
      this.calmSince = null;
      const b = (this.behind ??= { since: now, lag: lagMs });
      const waited = now - b.since;
      if (waited < this.opts.sustainMs) return null;
      if (waited > 0 && b.lag - lagMs >= waited / 4) {
        // Catching up: judge again over the next window.
        this.behind = { since: now, lag: lagMs };
        return null;
      }
      this.behind = null;
      if (this.lastRaiseAt !== null && now - this.lastRaiseAt < this.opts.failedRaiseMs) {
        this.recoverWait = Math.min(this.recoverWait * 2, this.opts.maxRecoverAfterMs);
      }
      this.lastRaiseAt = null;
      // At the floor the rate stays; the skip alone still bounds the lag.
      this.level = Math.min(this.level + 1, this.opts.rates.length - 1);
      this.skips++;
      this.settleUntil = now + Math.min(this.opts.settleMs * 2 ** this.streak, this.opts.maxSettleMs);
      this.streak++;
      return { kind: 'skip', fps: this.fps, reason: 'lag', lagMs };
    }
    this.behind = null;
    if (lagMs >= this.opts.calmLagMs) {
      this.calmSince = null;
      return null;
    }
    this.calmSince ??= now;
    this.streak = 0;
    if (this.level === 0 || now - this.calmSince < this.recoverWait) return null;
    this.level--;
    this.raises++;
    this.lastRaiseAt = now;
    this.calmSince = null;
    this.settleUntil = now + this.opts.settleMs;
    return { kind: 'raise', fps: this.fps };
  }

  /** The decoder restarted for another reason (an exit, a stall): its replay is not lag either. */
  restarted(now: number): void {
    this.settleUntil = Math.max(this.settleUntil, now + this.opts.settleMs);
    this.calmSince = null;
    this.behind = null;
  }

  state(): ShedState {
    return { fps: this.fps, level: this.level, lagMs: this.lag, skips: this.skips, raises: this.raises, recoverAfterMs: this.recoverWait };
  }
}

/**
 * How far a decoded frame is behind live: the newest media timestamp the gateway has received for the stream
 * minus the frame's, both on the publisher's clock (ms). Never negative (B-frame composition offsets put a
 * frame's pts slightly after the newest dts); null when the newest is unknown.
 */
export function lagBehind(newestMs: number | null, framePtsMs: number): number | null {
  if (newestMs === null || !Number.isFinite(newestMs)) return null;
  return Math.max(0, newestMs - framePtsMs);
}
