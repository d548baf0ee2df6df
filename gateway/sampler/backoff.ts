/**
 * Exponential restart backoff with a cap and jitter.
 *
 * Jitter matters here: when the RTMP server restarts, every sampler's ffmpeg dies at once, and
 * without jitter they would all reconnect in lock-step on every retry.
 */
export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Upper bound for the delay before jitter, ms. */
  maxMs: number;
  /** Growth per consecutive failure. */
  factor: number;
  /** Fraction of the delay randomised: delay * (1 - jitter/2 + random * jitter). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.5 };

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay for the next retry; each call counts as one more consecutive failure. */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** this.attempt);
    this.attempt += 1;
    const j = Math.min(1, Math.max(0, this.opts.jitter));
    return Math.round(base * (1 - j / 2 + this.random() * j));
  }

  /** Called once a restarted process proved healthy. */
  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}
