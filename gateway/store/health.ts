import { EventEmitter } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

export type DbState = 'ok' | 'unreachable';

export interface DbHealthView {
  state: DbState;
  /** Since when (epoch ms) the database has been in this state. */
  since: number;
  /** The last failure's message, while unreachable. */
  error: string | null;
  /** Round trip of the last successful probe (ms); null before the first. */
  lastProbeMs: number | null;
  /** How long the last outage that ended lasted (ms); null before any. */
  lastOutageMs: number | null;
}

export interface DbHealthEvents {
  /** The database answered again after being unreachable: catch up on what was missed. */
  recovered: [];
  lost: [Error];
}

/**
 * Whether the database answers, from a periodic `select 1` and from connection errors the pool reports.
 * The gateway keeps relaying and gating from memory while it is unreachable; `/readyz` reports this state
 * and `recovered` tells the feeds to reconcile.
 */
export class DbHealth extends EventEmitter<DbHealthEvents> {
  private current: DbHealthView = { state: 'ok', since: Date.now(), error: null, lastProbeMs: null, lastOutageMs: null };
  private timer: NodeJS.Timeout | null = null;
  private probing: Promise<boolean> | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly timeoutMs = 3_000,
  ) {
    super();
  }

  view(): DbHealthView {
    return { ...this.current };
  }

  get ok(): boolean {
    return this.current.state === 'ok';
  }

  /** A connection failed: mark unreachable and probe at once (a dropped connection is often replaced at once). */
  connectionError(err: Error): void {
    void this.probe().then((ok) => {
      if (!ok) this.mark('unreachable', err);
    });
  }

  /** One `select 1` under a deadline; updates the state. */
  probe(): Promise<boolean> {
    if (this.probing) return this.probing;
    this.probing = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const started = performance.now();
      try {
        await Promise.race([
          sql`select 1`.execute(this.db),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`the database did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
          }),
        ]);
        this.current.lastProbeMs = performance.now() - started;
        this.mark('ok', null);
        return true;
      } catch (err) {
        this.mark('unreachable', err as Error);
        return false;
      } finally {
        clearTimeout(timer);
        this.probing = null;
      }
    })();
    return this.probing;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.probe(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private mark(state: DbState, err: Error | null): void {
    const was = this.current.state;
    if (state === was) {
      if (err) this.current.error = err.message;
      return;
    }
    const now = Date.now();
    const lastOutageMs = state === 'ok' ? now - this.current.since : this.current.lastOutageMs;
    this.current = { state, since: now, error: err ? err.message || String(err) : null, lastProbeMs: this.current.lastProbeMs, lastOutageMs };
    if (state === 'ok') this.emit('recovered');
    else this.emit('lost', err ?? new Error('unreachable'));
  }
}
