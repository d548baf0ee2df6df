import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { openSecret } from '../security/secrets.ts';
import { systemTimers, type TimerHandle, type Timers } from '../sampler/timers.ts';
import type { Database, ExchangeRow } from '../store/schema.ts';
import { applyPage, recordFailure, type ApplyResult } from './apply.ts';
import { ExchangeFetchError, type SignalExchange, type SignalOpinion } from './exchange.ts';
import type { FetchLike } from './http.ts';
import { createExchange, EXCHANGE_KINDS, type ExchangeKind } from './kinds.ts';
import { OpinionOutbox, type OpinionSender } from './opinion-outbox.ts';

export interface ExchangeRunnerOptions {
  db: Kysely<Database>;
  /** The gateway's secret key: opens the stored credentials. */
  key: Buffer;
  log: Logger;
  timers?: Timers;
  random?: () => number;
  fetch?: FetchLike;
  /** How often the table is read for due fetches and new exchanges (ms). */
  pollMs?: number;
  /** Pages per run before yielding to the schedule (a first fetch of a big list takes several runs). */
  maxPagesPerRun?: number;
  /** First retry after a failed fetch; doubles per consecutive failure up to maxBackoffMs. */
  retryBaseMs?: number;
  maxBackoffMs?: number;
  /** Called after each applied page (metrics, events, the flood guard's baseline). */
  onApplied?: (exchange: string, result: ApplyResult) => void;
  onFetch?: (exchange: string, outcome: 'ok' | ExchangeFetchError['code'] | 'error') => void;
  /** Our opinions' delivery to the exchanges (opinion-outbox.ts): first retry after a failure, doubling up to the cap. */
  opinionRetryBaseMs?: number;
  opinionMaxBackoffMs?: number;
  onOpinionAttempt?: (exchange: string, outcome: string) => void;
}

export interface RunOutcome {
  pages: number;
  upserts: number;
  deletes: number;
  quarantined: number;
  error: string | null;
}

/**
 * Fetches every enabled exchange on its schedule: at its interval with ±10 % jitter (so gateways that
 * start together do not hit an exchange in step), again at once while pages say more wait or the exchange
 * long-polls, and after a failure with exponential back-off (retryBaseMs · 2^(failures-1), capped, ±25 %
 * jitter). The schedule lives in the table (`next_fetch_at`), so a restart keeps it; on several nodes
 * each node fetches on its own, and the page's entries apply idempotently.
 */
export class ExchangeRunner implements OpinionSender {
  /** Our opinions waiting for (or given to) their exchanges; started and stopped with the runner. */
  readonly opinions: OpinionOutbox;
  private readonly timers: Timers;
  private readonly random: () => number;
  private tick: TimerHandle | null = null;
  private readonly running = new Map<string, Promise<RunOutcome>>();
  private readonly instances = new Map<string, { fingerprint: string; exchange: SignalExchange }>();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(private readonly o: ExchangeRunnerOptions) {
    this.timers = o.timers ?? systemTimers;
    this.random = o.random ?? Math.random;
    this.opinions = new OpinionOutbox({
      db: o.db,
      sender: this,
      log: o.log,
      timers: this.timers,
      random: this.random,
      pollMs: o.pollMs ?? 5_000,
      ...(o.opinionRetryBaseMs !== undefined ? { retryBaseMs: o.opinionRetryBaseMs } : {}),
      ...(o.opinionMaxBackoffMs !== undefined ? { maxBackoffMs: o.opinionMaxBackoffMs } : {}),
      ...(o.onOpinionAttempt ? { onAttempt: o.onOpinionAttempt } : {}),
    });
  }

  start(): void {
    this.tick = this.timers.setInterval(() => void this.runDue(), this.o.pollMs ?? 5_000);
    void this.runDue();
    this.opinions.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearInterval(this.tick);
    const opinions = this.opinions.stop();
    this.abort.abort();
    await Promise.allSettled([...this.running.values(), opinions]);
  }

  /** Starts every due exchange that is not already running. */
  async runDue(): Promise<void> {
    if (this.stopped) return;
    let rows: ExchangeRow[];
    try {
      rows = await this.o.db.selectFrom('exchanges').selectAll().where('enabled', '=', 1).execute();
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'exchange schedule unreadable; will retry');
      return;
    }
    const now = this.timers.now();
    for (const row of rows) if (!this.running.has(row.name) && (row.next_fetch_at ?? 0) <= now) void this.run(row.name);
  }

  /** Fetches one exchange now (the CLI's and API's `fetch`), or joins the fetch already running. */
  run(name: string): Promise<RunOutcome> {
    const current = this.running.get(name);
    if (current) return current;
    const p = this.fetchPages(name).finally(() => this.running.delete(name));
    this.running.set(name, p);
    return p;
  }

  /**
   * Sends our opinion of one of the exchange's signals back to it. Resolves false when its kind takes no
   * opinions (python-threatexchange's NotImplementedError); throws when sending failed.
   */
  async reportOpinion(name: string, signalType: string, hash: string, opinion: SignalOpinion, idempotencyKey: string): Promise<boolean> {
    const row = await this.o.db.selectFrom('exchanges').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) return false;
    const exchange = this.exchangeFor(row);
    if (!exchange.reportOpinion) return false;
    await exchange.reportOpinion(signalType, hash, opinion, { signal: this.abort.signal, idempotencyKey });
    return true;
  }

  private exchangeFor(row: ExchangeRow): SignalExchange {
    const fingerprint = `${row.kind}\n${row.url}\n${row.credential ?? ''}`;
    const known = this.instances.get(row.name);
    if (known && known.fingerprint === fingerprint) return known.exchange;
    if (!(EXCHANGE_KINDS as readonly string[]).includes(row.kind)) throw new ExchangeFetchError('http_error', `unknown exchange kind '${row.kind}'`);
    let credential: string | null = null;
    if (row.credential !== null) {
      try {
        credential = openSecret(this.o.key, row.credential);
      } catch {
        throw new ExchangeFetchError(
          'unauthorized',
          'the stored credential was sealed under another secret key (set MODGATE_SECRET_KEY as on the node that stored it, or add the credential again)',
        );
      }
    }
    const exchange = createExchange({ kind: row.kind as ExchangeKind, url: row.url, credential }, this.o.fetch);
    this.instances.set(row.name, { fingerprint, exchange });
    return exchange;
  }

  private jitter(ms: number, fraction: number): number {
    return Math.round(ms * (1 - fraction + this.random() * 2 * fraction));
  }

  private async fetchPages(name: string): Promise<RunOutcome> {
    const out: RunOutcome = { pages: 0, upserts: 0, deletes: 0, quarantined: 0, error: null };
    const maxPages = this.o.maxPagesPerRun ?? 50;
    let row = await this.o.db.selectFrom('exchanges').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) return { ...out, error: 'no such exchange' };
    let exchange: SignalExchange | null = null;
    try {
      exchange = this.exchangeFor(row);
      for (;;) {
        const from: string | null = row.checkpoint;
        const page = await exchange.fetchDeltas(from, this.abort.signal);
        const result = await applyPage(this.o.db, row, from, page, this.timers.now());
        out.pages++;
        out.upserts += result.upserts;
        out.deletes += result.deletes;
        out.quarantined += result.quarantined;
        this.o.onFetch?.(name, 'ok');
        this.o.onApplied?.(name, result);
        if (result.upserts || result.deletes || result.quarantined)
          this.o.log.info({ exchange: name, ...result, checkpoint: page.checkpoint }, 'exchange page applied');
        row = { ...row, checkpoint: page.checkpoint };
        if (this.stopped || page.done || out.pages >= maxPages) {
          // More pages wait (the run's cap): come back at once; otherwise at the interval, or at once for a long-poll feed.
          const again = !page.done || exchange.longPoll === true;
          const next = this.timers.now() + (again ? 0 : this.jitter(row.interval_ms, 0.1));
          await this.o.db.updateTable('exchanges').set({ next_fetch_at: next }).where('name', '=', name).execute();
          if (again && !this.stopped) this.timers.setTimeout(() => void this.runDue(), 0, { unref: true });
          return out;
        }
      }
    } catch (err) {
      if (this.stopped) return { ...out, error: 'stopped' };
      const e = err instanceof ExchangeFetchError ? err : null;
      const code = e?.code ?? 'error';
      const message = (err as Error).message;
      const failures = (await this.o.db.selectFrom('exchanges').select('failures').where('name', '=', name).executeTakeFirst())?.failures ?? 0;
      const base = this.o.retryBaseMs ?? 5_000;
      const delayMs = this.jitter(Math.min(this.o.maxBackoffMs ?? 3_600_000, base * 2 ** failures), 0.25);
      const now = this.timers.now();
      try {
        await recordFailure(this.o.db, name, row.checkpoint, { code, message, raw: e?.raw }, now, now + delayMs);
      } catch (dbErr) {
        this.o.log.error({ err: (dbErr as Error).message, exchange: name }, 'could not record the exchange failure');
      }
      this.o.onFetch?.(name, code);
      this.o.log.warn({ exchange: name, code, err: message, retryInMs: delayMs }, 'exchange fetch failed');
      this.timers.setTimeout(() => void this.runDue(), delayMs + 1, { unref: true });
      return { ...out, error: `${code}: ${message}` };
    }
  }

  /** The exchange instance for opinions (deconfirmations sent back); null when unknown or disabled. */
  async exchange(name: string): Promise<SignalExchange | null> {
    const row = await this.o.db.selectFrom('exchanges').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? this.exchangeFor(row) : null;
  }
}
