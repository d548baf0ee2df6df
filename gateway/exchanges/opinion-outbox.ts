import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { systemTimers, type TimerHandle, type Timers } from '../sampler/timers.ts';
import type { Database, EntryOpinion } from '../store/schema.ts';
import { ExchangeFetchError, type OpinionCategory, type SignalOpinion } from './exchange.ts';
import { refusedForGood, truncate } from './http.ts';

/**
 * Delivery of our opinions to the exchange that fed the entry (a deconfirmation sent back to the partner
 * whose hash it was). An opinion row is its own outbox entry (`delivery` pending → delivered | not_taken |
 * rejected): it is written with the opinion, in the same transaction, so a partner that is down, answers
 * 5xx, 408 or 429 or times out only delays it, and a restart loses nothing. A partner that refuses the
 * opinion itself (any other 4xx: 400, 404, 422…) settles it as `rejected` with its answer recorded, since
 * a retry gets the same answer and would hold back every later opinion to that exchange. Each attempt claims the row for `leaseMs`
 * (several nodes, one sender), carries the row's Idempotency-Key (a partner that recorded an attempt whose
 * answer we lost records the retry once), and a failure backs off exponentially (retryBaseMs · 2^(n-1),
 * capped at maxBackoffMs, ±25 % jitter).
 *
 * Order holds per exchange: only the oldest pending opinion of an exchange is tried, and the next waits
 * until it is settled, so a confirm-then-deconfirm of one hash never arrives the other way round.
 */

export const DELIVERIES = ['pending', 'delivered', 'not_taken', 'rejected'] as const;
export type Delivery = (typeof DELIVERIES)[number];

export interface OpinionSender {
  /**
   * Sends one opinion to the named exchange. Resolves false when it takes none (the exchange was removed,
   * or its kind takes no opinions); throws when sending failed (retried, unless the exchange refused it for good: see refusedForGood).
   */
  reportOpinion(exchange: string, signalType: string, hash: string, opinion: SignalOpinion, idempotencyKey: string): Promise<boolean>;
}

export interface OpinionOutboxOptions {
  db: Kysely<Database>;
  sender: OpinionSender;
  log: Logger;
  timers?: Timers;
  random?: () => number;
  /** How often due opinions are looked for (ms). */
  pollMs?: number;
  retryBaseMs?: number;
  maxBackoffMs?: number;
  /** How long an attempt holds its row before another node (or a restart) may try it again. */
  leaseMs?: number;
  /** Each attempt's outcome: delivered, not_taken, rejected, or the error's code of one to retry (metrics). */
  onAttempt?: (exchange: string, outcome: string) => void;
}

export interface AttemptResult {
  delivery: Delivery;
  error: string | null;
}

const DEFAULT_LEASE_MS = 60_000;
const OUTBOX_PAGE = 100;

/** One exchange's pending opinions in a delivery pass, oldest first. */
interface OutboxQueue {
  exchange: string | null;
  rows: EntryOpinion[];
  afterId: number;
  exhausted: boolean;
}

export class OpinionOutbox {
  private readonly timers: Timers;
  private readonly random: () => number;
  private tick: TimerHandle | null = null;
  private pass: Promise<number> | null = null;
  private stopped = false;

  constructor(private readonly o: OpinionOutboxOptions) {
    this.timers = o.timers ?? systemTimers;
    this.random = o.random ?? Math.random;
  }

  get leaseMs(): number {
    return this.o.leaseMs ?? DEFAULT_LEASE_MS;
  }

  start(): void {
    this.tick = this.timers.setInterval(() => void this.deliverDue(), this.o.pollMs ?? 5_000);
    void this.deliverDue();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearInterval(this.tick);
    await this.pass?.catch(() => undefined);
  }

  /** Sends what is due, each exchange's opinions in order, the exchanges in turn; concurrent calls share one pass. */
  deliverDue(): Promise<number> {
    if (!this.pass) this.pass = this.deliverPass().finally(() => (this.pass = null));
    return this.pass;
  }

  /**
   * Round-robin over the exchanges with pending opinions: each round tries the head of every exchange's
   * queue, and an exchange drops out of the pass at its first opinion that is not due or not taken, so a
   * dead partner costs one attempt a pass and its backlog cannot hold back another exchange's opinions (a
   * single `LIMIT 500` over all pending rows, oldest first, once held nothing but a dead partner's).
   */
  private async deliverPass(): Promise<number> {
    if (this.stopped) return 0;
    let queues: OutboxQueue[];
    try {
      const heads = await this.o.db.selectFrom('entry_opinions').select('exchange').where('delivery', '=', 'pending').groupBy('exchange').execute();
      queues = heads.map((h) => ({ exchange: h.exchange, rows: [], afterId: 0, exhausted: false }));
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'opinion outbox unreadable; will retry');
      return 0;
    }
    let delivered = 0;
    while (queues.length > 0) {
      const next: OutboxQueue[] = [];
      for (const q of queues) {
        if (this.stopped) return delivered;
        const row = await this.head(q);
        if (!row) continue;
        const claimed = await this.claim(row);
        if (!claimed) continue; // not due (backing off, or another attempt holds it): the rest of this exchange waits
        const r = await this.attempt(claimed);
        if (r.delivery === 'pending') continue;
        if (r.delivery === 'delivered') delivered++;
        next.push(q);
      }
      queues = next;
    }
    return delivered;
  }

  /** The oldest pending opinion of a queue not yet tried this pass, read a page at a time; null when none is left or unreadable. */
  private async head(q: OutboxQueue): Promise<EntryOpinion | null> {
    if (q.rows.length === 0 && !q.exhausted) {
      try {
        let query = this.o.db.selectFrom('entry_opinions').selectAll().where('delivery', '=', 'pending').where('id', '>', q.afterId);
        query = q.exchange === null ? query.where('exchange', 'is', null) : query.where('exchange', '=', q.exchange);
        q.rows = await query.orderBy('id').limit(OUTBOX_PAGE).execute();
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message, exchange: q.exchange }, 'opinion outbox unreadable; will retry');
        return null;
      }
      q.exhausted = q.rows.length < OUTBOX_PAGE;
    }
    const row = q.rows.shift() ?? null;
    if (row) q.afterId = row.id;
    return row;
  }

  /** Takes a due pending row for one attempt; null when it is not due or another attempt holds it. */
  private async claim(row: EntryOpinion): Promise<EntryOpinion | null> {
    const now = this.timers.now();
    if ((row.next_attempt_at ?? 0) > now) return null;
    try {
      const taken = await this.o.db
        .updateTable('entry_opinions')
        .set({ next_attempt_at: now + this.leaseMs })
        .where('id', '=', row.id)
        .where('delivery', '=', 'pending')
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
        .returning('id')
        .executeTakeFirst();
      return taken ? { ...row, next_attempt_at: now + this.leaseMs } : null;
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, opinion: row.id }, 'could not claim an opinion for delivery');
      return null;
    }
  }

  /** One delivery attempt of a row this caller holds (claimed, or just written with its claim). */
  async attempt(row: EntryOpinion): Promise<AttemptResult> {
    const exchange = row.exchange;
    if (!exchange || !row.idempotency_key) return this.settle(row, 'not_taken', null);
    const opinion: SignalOpinion = {
      isMine: true,
      category: row.category as OpinionCategory,
      tags: z.array(z.string()).catch([]).parse(JSON.parse(row.tags)),
    };
    let taken: boolean;
    try {
      taken = await this.o.sender.reportOpinion(exchange, row.signal_type, row.hash, opinion, row.idempotency_key);
    } catch (err) {
      // Stopping aborted it: not an attempt; the claim is let go so the next start sends it at once.
      if (this.stopped) {
        await this.mark(row.id, { next_attempt_at: this.timers.now() });
        return { delivery: 'pending', error: 'stopped' };
      }
      const code = err instanceof ExchangeFetchError ? err.code : ((err as { code?: string }).code ?? 'error');
      const error = truncate(`${code}: ${(err as Error).message}`, 500);
      if (refusedForGood(err)) {
        this.o.log.warn({ exchange, opinion: row.id, code, err: (err as Error).message }, 'opinion refused by its exchange; not retried');
        return this.settle(row, 'rejected', error);
      }
      const attempts = row.attempts + 1;
      const base = Math.min(this.o.maxBackoffMs ?? 3_600_000, (this.o.retryBaseMs ?? 5_000) * 2 ** (attempts - 1));
      const delayMs = Math.round(base * (0.75 + this.random() * 0.5));
      this.o.onAttempt?.(exchange, code);
      this.o.log.warn({ exchange, opinion: row.id, attempts, code, err: (err as Error).message, retryInMs: delayMs }, 'opinion not delivered; will retry');
      await this.mark(row.id, { attempts, next_attempt_at: this.timers.now() + delayMs, report_error: error });
      return { delivery: 'pending', error };
    }
    if (!taken) return this.settle(row, 'not_taken', null);
    return this.settle(row, 'delivered', null);
  }

  private async settle(row: EntryOpinion, delivery: Exclude<Delivery, 'pending'>, error: string | null): Promise<AttemptResult> {
    if (row.exchange) this.o.onAttempt?.(row.exchange, delivery);
    await this.mark(row.id, {
      delivery,
      attempts: row.attempts + 1,
      next_attempt_at: null,
      reported_at: delivery === 'delivered' ? this.timers.now() : null,
      report_error: error,
    });
    return { delivery, error };
  }

  private async mark(
    id: number,
    set: Partial<Pick<EntryOpinion, 'delivery' | 'attempts' | 'next_attempt_at' | 'reported_at' | 'report_error'>>,
  ): Promise<void> {
    try {
      await this.o.db.updateTable('entry_opinions').set(set).where('id', '=', id).where('delivery', '=', 'pending').execute();
    } catch (err) {
      // The attempt's claim runs out and it is tried again: the partner records the repeat once (its key).
      this.o.log.warn({ err: (err as Error).message, opinion: id }, 'could not record an opinion delivery attempt');
    }
  }
}
