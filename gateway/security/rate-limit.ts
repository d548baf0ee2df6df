/**
 * Token buckets per source address: `burst` attempts at once, refilled at `perSecond`. The clock is
 * injected (tests advance it instead of sleeping). A full bucket is the same as no bucket, so the map
 * keeps only sources that spent something, and at `maxSources` the full ones are dropped first.
 */

export interface BucketOptions {
  burst: number;
  perSecond: number;
  maxSources: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly opts: BucketOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends one token of `source`; false when it has none (the attempt is refused). */
  take(source: string): boolean {
    const b = this.current(source);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Gives a token back (an attempt that turned out legitimate costs nothing). */
  refund(source: string): void {
    const b = this.buckets.get(source);
    if (!b) return;
    this.refill(b);
    b.tokens = Math.min(this.opts.burst, b.tokens + 1);
    if (b.tokens >= this.opts.burst) this.buckets.delete(source);
  }

  /** Milliseconds until `source` has a token again (0: it has one). */
  retryAfterMs(source: string): number {
    const b = this.buckets.get(source);
    if (!b) return 0;
    this.refill(b);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.opts.perSecond) * 1000);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(b: Bucket): void {
    const at = this.now();
    if (at > b.at) b.tokens = Math.min(this.opts.burst, b.tokens + ((at - b.at) / 1000) * this.opts.perSecond);
    b.at = at;
  }

  private current(source: string): Bucket {
    let b = this.buckets.get(source);
    if (b) {
      this.refill(b);
      return b;
    }
    if (this.buckets.size >= this.opts.maxSources) this.prune();
    b = { tokens: this.opts.burst, at: this.now() };
    this.buckets.set(source, b);
    return b;
  }

  /** Drops refilled buckets; if every source is still spending, the oldest half (a flood of many sources must not grow the map without bound). */
  private prune(): void {
    for (const [source, b] of this.buckets) {
      this.refill(b);
      if (b.tokens >= this.opts.burst) this.buckets.delete(source);
    }
    if (this.buckets.size < this.opts.maxSources) return;
    let drop = Math.ceil(this.buckets.size / 2);
    for (const source of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(source);
    }
  }
}

/** The address a limit is kept for: an IPv4 client seen on a dual-stack socket counts as its IPv4 address. */
export function sourceAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}
