/**
 * A sliding-window limit per key, in memory with an injected clock. The keys are reporters' addresses:
 * they live here only for the window (then are dropped by `prune`), never in the database.
 */
export class SlidingWindowLimit {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    /** Keys tracked at most (a flood of distinct addresses cannot grow memory without bound). */
    private readonly maxKeys = 100_000,
  ) {}

  /** Counts a hit for `key` if it is under the limit; returns when the next one would be allowed otherwise. */
  take(key: string, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const since = now - this.windowMs;
    const list = (this.hits.get(key) ?? []).filter((t) => t > since);
    if (list.length >= this.max) {
      this.hits.set(key, list);
      return { ok: false, retryAfterMs: Math.max(1, list[0]! + this.windowMs - now) };
    }
    if (!this.hits.has(key) && this.hits.size >= this.maxKeys) this.prune(now);
    if (!this.hits.has(key) && this.hits.size >= this.maxKeys) return { ok: false, retryAfterMs: this.windowMs };
    list.push(now);
    this.hits.set(key, list);
    return { ok: true };
  }

  /** Forgets every key whose hits have all left the window. */
  prune(now: number): void {
    const since = now - this.windowMs;
    for (const [k, list] of this.hits) if (!list.some((t) => t > since)) this.hits.delete(k);
  }

  get size(): number {
    return this.hits.size;
  }
}
