import type { Kysely } from 'kysely';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../store/schema.ts';
import { feedDeltasServed } from './serve-feed.ts';

/**
 * Exchange status in /metrics: per exchange the last successful fetch, consecutive failures and the
 * running totals kept in the table (so they survive restarts and agree across nodes), fetches by outcome,
 * and the deltas this gateway served to partners.
 */
export function exchangeMetrics(registry: Registry, db: Kysely<Database>): { fetched: (exchange: string, outcome: string) => void } {
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
  return { fetched: (exchange, outcome) => fetches.inc({ exchange, outcome }) };
}
