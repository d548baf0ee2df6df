/**
 * Refusals of unauthenticated callers, audited without letting them fill the append-only log: the first
 * refusal of a (source, reason) in a window is written at once, the rest of that window are counted and
 * written as one row when the window ends (`count`, first and last time). A source past `limit` refusals
 * in a window is told to slow down (the caller answers 429) and not audited again until the window ends.
 * 1,000 forged webhook posts from one source in a minute are two rows, not 1,000.
 */

export interface RefusalRecord {
  source: string;
  reason: string;
  /** 1 for the immediate row; the number of further refusals in the window for the summary row. */
  count: number;
  firstAt: number;
  lastAt: number;
  aggregated: boolean;
}

interface Window {
  startedAt: number;
  lastAt: number;
  /** Refusals after the first, not yet written. */
  pending: number;
  total: number;
  timer: NodeJS.Timeout;
}

export class RefusalAudit {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly write: (r: RefusalRecord) => Promise<void>,
    private readonly opts: { windowMs: number; limit: number; maxSources: number } = { windowMs: 60_000, limit: 100, maxSources: 10_000 },
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one refusal; returns false when the source is over its limit for this window (answer 429). */
  async refuse(source: string, reason: string): Promise<boolean> {
    const key = `${source}\u0000${reason}`;
    const at = this.now();
    const w = this.windows.get(key);
    if (w) {
      w.pending++;
      w.total++;
      w.lastAt = at;
      return w.total <= this.opts.limit;
    }
    if (this.windows.size >= this.opts.maxSources) await this.flushAll();
    const timer = setTimeout(() => void this.close(key), this.opts.windowMs);
    timer.unref();
    this.windows.set(key, { startedAt: at, lastAt: at, pending: 0, total: 1, timer });
    await this.write({ source, reason, count: 1, firstAt: at, lastAt: at, aggregated: false });
    return true;
  }

  private async close(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    clearTimeout(w.timer);
    if (w.pending === 0) return;
    const [source, reason] = key.split('\u0000') as [string, string];
    await this.write({ source, reason, count: w.pending, firstAt: w.startedAt, lastAt: w.lastAt, aggregated: true });
  }

  /** Writes every open window's count (at shutdown, or when too many sources are tracked). */
  async flushAll(): Promise<void> {
    await Promise.allSettled([...this.windows.keys()].map((k) => this.close(k)));
  }
}
