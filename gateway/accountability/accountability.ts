import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import type { Database } from '../store/schema.ts';
import { StatementOutbox } from './statements/outbox.ts';
import { StatementService } from './statements/service.ts';

/** The gateway's accountability parts (statements of reasons and their outbox), started from config. */
export interface Accountability {
  statements: StatementService;
  /** null: no `accountability.transparencyDb` configured; statements are kept and shown, not submitted. */
  outbox: StatementOutbox | null;
  /** Makes missing statements, then submits what is due (tests and `POST /api/v1/statements/flush`). */
  syncNow(): Promise<void>;
  stop(): Promise<void>;
}

export function startAccountability(deps: { db: Kysely<Database>; config: Config; policies: PolicyStore; log: Logger }): Accountability {
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
    syncNow,
    async stop() {
      clearInterval(timer);
      await syncing?.catch(() => undefined);
      await outbox?.stop();
    },
  };
}
