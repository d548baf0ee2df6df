import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import type { Database } from '../store/schema.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { LiveRegistry } from '../live/registry.ts';
import { ReportService } from './reports/service.ts';
import { StatementOutbox } from './statements/outbox.ts';
import { StatementService } from './statements/service.ts';

/** The gateway's accountability parts (statements of reasons and their outbox), started from config. */
export interface Accountability {
  statements: StatementService;
  /** null: no `accountability.transparencyDb` configured; statements are kept and shown, not submitted. */
  outbox: StatementOutbox | null;
  reports: ReportService;
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
}

export function startAccountability(deps: AccountabilityDeps): Accountability {
  const { db, config, log } = deps;
  const a = config.accountability;
  const statements = new StatementService(
    db,
    { territorialScope: a.territorialScope, contentLanguage: a.contentLanguage, termsUrl: a.termsUrl, suspensionAs: a.suspensionAs, categories: a.categories },
    () => deps.policies.current().policy,
  );
  const outbox = a.transparencyDb
    ? new StatementOutbox(db, { url: a.transparencyDb.url, token: a.transparencyDb.token, batchSize: a.transparencyDb.batchSize, backoffMs: a.transparencyDb.backoffMs, maxBackoffMs: a.transparencyDb.maxBackoffMs }, log.child({ component: 'statements-outbox' }))
    : null;
  const reports = new ReportService({ db, registry: deps.registry, signal: deps.signal, escalate: deps.escalate }, a.reports);
  let syncing: Promise<void> | null = null;
  const syncNow = (): Promise<void> => {
    syncing ??= (async () => {
      await statements.sync();
      await outbox?.flush();
    })().finally(() => (syncing = null));
    return syncing;
  };
  const timer = setInterval(() => void syncNow().catch((err) => log.error({ err }, 'statement sync failed; will retry')), Math.max(config.syncIntervalMs * 2, a.transparencyDb?.intervalMs ?? 0, 1000));
  timer.unref();
  return {
    statements,
    outbox,
    reports,
    syncNow,
    async stop() {
      clearInterval(timer);
      reports.stop();
      await syncing?.catch(() => undefined);
      await outbox?.stop();
    },
  };
}
