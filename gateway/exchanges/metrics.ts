import type { Kysely } from 'kysely';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../store/schema.ts';
import { feedDeltasServed } from './serve-feed.ts';

/**
 * Exchange status in /metrics: per exchange the last successful fetch, consecutive failures and the
 * running totals kept in the table (so they survive restarts and agree across nodes), fetches by outcome,
 * the deltas this gateway served to partners, and our opinions' delivery (how many wait, the oldest's
 * age: an exchange that stopped taking them shows here before anyone asks).
 */
export function exchangeMetrics(
  registry: Registry,
  db: Kysely<Database>,
): { fetched: (exchange: string, outcome: string) => void; opinionAttempt: (exchange: string, outcome: string) => void } {
  const opinionAttempts = new Counter({
    name: 'modgate_exchange_opinion_attempts_total',
    help: 'Attempts to deliver our opinions to exchanges by outcome (delivered, not_taken, rejected; retried: unreachable, http_error, unauthorized, error)',
    labelNames: ['exchange', 'outcome'],
    registers: [registry],
  });
  // One read of the opinions per scrape serves both gauges (a registry collects its metrics concurrently).
  let opinionRead: { at: number; rows: Promise<Array<{ exchange: string | null; delivery: string | null; n: number; oldest: number | null }> | null> } | null =
    null;
  const opinionRows = () => {
    const now = Date.now();
    if (!opinionRead || now - opinionRead.at > 1_000)
      opinionRead = {
        at: now,
        rows: db
          .selectFrom('entry_opinions')
          .select((eb) => ['exchange', 'delivery', eb.fn.countAll<number>().as('n'), eb.fn.min<number>('at').as('oldest')])
          .where('delivery', 'is not', null)
          .groupBy(['exchange', 'delivery'])
          .execute()
          .catch(() => null), // the database is away: /metrics still answers with the rest
      };
    return opinionRead.rows;
  };
  new Gauge({
    name: 'modgate_exchange_opinions_oldest_pending_seconds',
    help: 'Age of the oldest of our opinions still waiting for each exchange',
    labelNames: ['exchange'],
    registers: [registry],
    async collect() {
      const rows = await opinionRows();
      if (!rows) return;
      this.reset();
      for (const r of rows)
        if (r.delivery === 'pending' && r.oldest !== null) this.set({ exchange: r.exchange ?? '' }, Math.max(0, (Date.now() - Number(r.oldest)) / 1000));
    },
  });
  new Gauge({
    name: 'modgate_exchange_opinions',
    help: 'Our opinions given to exchanges, by delivery (pending, delivered, not_taken, rejected)',
    labelNames: ['exchange', 'delivery'],
    registers: [registry],
    async collect() {
      const rows = await opinionRows();
      if (!rows) return;
      this.reset();
      for (const r of rows) this.set({ exchange: r.exchange ?? '', delivery: r.delivery ?? '' }, Number(r.n));
    },
  });
  const fetches = new Counter({
    name: 'modgate_exchange_fetches_total',
    help: 'Exchange fetches by outcome (ok, unreachable, http_error, unauthorized, malformed_page, error)',
    labelNames: ['exchange', 'outcome'],
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: 'modgate_exchange_last_success_timestamp_seconds',
    help: 'When each exchange last fetched successfully',
    labelNames: ['exchange'],
    registers: [registry],
  });
  const failures = new Gauge({
    name: 'modgate_exchange_consecutive_failures',
    help: 'Consecutive failed fetches per exchange',
    labelNames: ['exchange'],
    registers: [registry],
  });
  const entries = new Gauge({
    name: 'modgate_exchange_entries',
    help: 'Entries applied per exchange, all time, by op (upsert, delete, quarantined)',
    labelNames: ['exchange', 'op'],
    registers: [registry],
  });
  new Gauge({
    name: 'modgate_exchange_feed_deltas_served_total',
    help: 'Deltas served to partners from this gateway\u2019s feed since start',
    registers: [registry],
    collect() {
      this.set(feedDeltasServed());
    },
  });
  // One read of the table per scrape fills the per-exchange gauges.
  new Gauge({
    name: 'modgate_exchanges',
    help: 'Exchanges configured, by enabled',
    labelNames: ['enabled'],
    registers: [registry],
    async collect() {
      let rows;
      try {
        rows = await db.selectFrom('exchanges').select(['name', 'enabled', 'last_success_at', 'failures', 'upserts', 'deletes', 'quarantined']).execute();
      } catch {
        return; // the database is away: /metrics still answers with the rest
      }
      this.reset();
      lastSuccess.reset();
      failures.reset();
      entries.reset();
      this.set({ enabled: 'true' }, rows.filter((r) => r.enabled === 1).length);
      this.set({ enabled: 'false' }, rows.filter((r) => r.enabled !== 1).length);
      for (const r of rows) {
        if (r.last_success_at !== null) lastSuccess.set({ exchange: r.name }, Number(r.last_success_at) / 1000);
        failures.set({ exchange: r.name }, r.failures);
        entries.set({ exchange: r.name, op: 'upsert' }, Number(r.upserts));
        entries.set({ exchange: r.name, op: 'delete' }, Number(r.deletes));
        entries.set({ exchange: r.name, op: 'quarantined' }, Number(r.quarantined));
      }
    },
  });
  return {
    fetched: (exchange, outcome) => fetches.inc({ exchange, outcome }),
    opinionAttempt: (exchange, outcome) => opinionAttempts.inc({ exchange, outcome }),
  };
}
