import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import type { Database } from '../store/schema.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { LiveRegistry } from '../live/registry.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import { OrderService } from './orders/service.ts';
import { ReportService } from './reports/service.ts';
import { StatementOutbox } from './statements/outbox.ts';
import { StatementService } from './statements/service.ts';

/** The gateway's accountability parts (statements of reasons and their outbox), started from config. */
export interface Accountability {
  statements: StatementService;
  /** null: no `accountability.transparencyDb` configured; statements are kept and shown, not submitted. */
  outbox: StatementOutbox | null;
  reports: ReportService;
  orders: OrderService;
  /** Marks overdue removal orders and updates the overdue gauge (every 30 s; tests call it). */
  checkOrders(): Promise<void>;
  /** Makes missing statements, then submits what is due (tests and `POST /api/v1/statements/flush`). */
  syncNow(): Promise<void>;
  stop(): Promise<void>;
}

export interface AccountabilityDeps {
  db: Kysely<Database>;
  config: Config;
  policies: PolicyStore;
  log: Logger;
  registry: LiveRegistry;
  /** Feeds a signal to the policy runner. */
  signal: (s: Signal) => void;
  /** Puts a stream on full-rate sampling (the watcher, when sampling runs). */
  escalate: (streamId: string, reason: string) => void;
  /** The gateway's metrics registry (overdue removal orders are reported there). */
  metrics?: Registry;
  now?: () => number;
}

export function startAccountability(deps: AccountabilityDeps): Accountability {
  const { db, config, log } = deps;
  const a = config.accountability;
  const statements = new StatementService(
    db,
    { territorialScope: a.territorialScope, contentLanguage: a.contentLanguage, termsUrl: a.termsUrl, suspensionAs: a.suspensionAs, categories: a.categories },
    () => deps.policies.effective(),
  );
  const outbox = a.transparencyDb
    ? new StatementOutbox(
        db,
        {
          url: a.transparencyDb.url,
          token: a.transparencyDb.token,
          batchSize: a.transparencyDb.batchSize,
          backoffMs: a.transparencyDb.backoffMs,
          maxBackoffMs: a.transparencyDb.maxBackoffMs,
        },
        log.child({ component: 'statements-outbox' }),
      )
    : null;
  const now = deps.now ?? Date.now;
  const reports = new ReportService({ db, registry: deps.registry, signal: deps.signal, escalate: deps.escalate }, a.reports, now);
  const overdueTotal = new Counter({
    name: 'modgate_removal_orders_overdue_total',
    help: 'Removal orders that passed their one-hour deadline unexecuted',
    registers: deps.metrics ? [deps.metrics] : [],
  });
  let overdueNow = 0;
  new Gauge({
    name: 'modgate_removal_orders_overdue',
    help: 'Removal orders open past their one-hour deadline (Regulation (EU) 2021/784, Art. 3(3)); alert on > 0',
    registers: deps.metrics ? [deps.metrics] : [],
    collect() {
      this.set(overdueNow);
    },
  });
  const orders = new OrderService(db, deps.registry, now, (o) => {
    overdueTotal.inc();
    log.error(
      { order: o.id, authority: o.authority, reference: o.reference, deadline: new Date(o.deadline_at).toISOString() },
      'removal order overdue: not executed within one hour of receipt',
    );
  });
  const checkOrders = async () => {
    overdueNow = (await orders.checkOverdue()).overdue;
  };
  const orderTimer = setInterval(() => void checkOrders().catch((err) => log.error({ err }, 'removal order check failed; will retry')), 30_000);
  orderTimer.unref();
  let syncing: Promise<void> | null = null;
  const syncNow = (): Promise<void> => {
    syncing ??= (async () => {
      await statements.sync();
      await outbox?.flush();
    })().finally(() => (syncing = null));
    return syncing;
  };
  const timer = setInterval(
    () => void syncNow().catch((err) => log.error({ err }, 'statement sync failed; will retry')),
    Math.max(config.syncIntervalMs * 2, a.transparencyDb?.intervalMs ?? 0, 1000),
  );
  timer.unref();
  return {
    statements,
    outbox,
    reports,
    orders,
    checkOrders,
    syncNow,
    async stop() {
      clearInterval(timer);
      clearInterval(orderTimer);
      reports.stop();
      await syncing?.catch(() => undefined);
      await outbox?.stop();
    },
  };
}
