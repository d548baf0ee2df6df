/**
 * Refusals of unauthenticated callers, audited without letting them fill the append-only log: the first
 * refusal of a (source, reason) in a window is written at once, the rest of that window are counted and
 * written as one row when the window ends (`count`, first and last time). A source past `limit` refusals
 * in a window is told to slow down (the caller answers 429, or drops the connection) and not audited
 * again until the window ends. 1,000 forged webhook posts from one source in a minute are two rows, not
 * 1,000. Used by the identity webhook and by both ingests (gateway/security/source-guard.ts).
 */

export interface RefusalRecord {
  source: string;
  reason: string;
  /** 1 for the immediate row; the number of further refusals in the window for the summary row. */
  count: number;
  firstAt: number;
  lastAt: number;
  aggregated: boolean;
  /** The first refusal's detail (immediate row only). */
  detail?: string;
}

export interface RefusalAuditOptions {
  windowMs: number;
  limit: number;
  maxSources: number;
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
    private readonly opts: RefusalAuditOptions = { windowMs: 60_000, limit: 100, maxSources: 10_000 },
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one refusal; resolves false when the source is over its limit for this window (answer 429). */
  async refuse(source: string, reason: string, detail?: string): Promise<boolean> {
    const r = this.record(source, reason, detail);
    await r.written;
    return r.allowed;
  }

  /**
   * The same, for callers that must decide at once (a socket being accepted): `allowed` now, `written`
   * when the immediate row (if any) is stored.
   */
  record(source: string, reason: string, detail?: string): { allowed: boolean; written: Promise<void> } {
    const key = `${source}\u0000${reason}`;
    const at = this.now();
    let w = this.windows.get(key);
    let flushed: Promise<void> = Promise.resolve();
    // The window also ends on the (injected) clock, not only on its timer.
    if (w && at - w.startedAt >= this.opts.windowMs) {
      flushed = this.close(key);
      w = undefined;
    }
    if (w) {
      w.pending++;
      w.total++;
      w.lastAt = at;
      return { allowed: w.total <= this.opts.limit, written: flushed };
    }
    const full = this.windows.size >= this.opts.maxSources ? this.flushAll() : Promise.resolve();
    const timer = setTimeout(() => void this.close(key), this.opts.windowMs);
    timer.unref();
    this.windows.set(key, { startedAt: at, lastAt: at, pending: 0, total: 1, timer });
    const row = this.write({ source, reason, count: 1, firstAt: at, lastAt: at, aggregated: false, ...(detail !== undefined ? { detail } : {}) });
    return { allowed: true, written: Promise.all([flushed, full, row]).then(() => undefined) };
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

  /** Writes the count of every window that has ended on the (injected) clock; its timer would, later. */
  expire(): Promise<void> {
    const at = this.now();
    const ended = [...this.windows].filter(([, w]) => at - w.startedAt >= this.opts.windowMs).map(([k]) => this.close(k));
    return Promise.allSettled(ended).then(() => undefined);
  }

  /** Writes every open window's count (at shutdown, or when too many sources are tracked). */
  async flushAll(): Promise<void> {
    await Promise.allSettled([...this.windows.keys()].map((k) => this.close(k)));
  }
}
