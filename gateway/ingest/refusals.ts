import type { Kysely } from 'kysely';
import type { Database, StreamProtocol } from '../store/schema.ts';

export interface Refusal {
  protocol: StreamProtocol;
  /** The upstream media server whose publish hook was refused (gateway/hooks/); absent for native ingest. */
  server?: string | null;
  remoteAddr: string | null;
  /** The caller's address without the port (the abuse limits' key); native ingest only. */
  source?: string;
  accountId: string | null;
  reason: string;
  detail?: string | null;
  /** Refusals this row stands for (gateway/security/refusal-audit.ts aggregates a source's repeated ones); 1 by default. */
  count?: number;
  /** The last of them (aggregated rows); `at` is the first. */
  at?: number;
  lastAt?: number;
}

/**
 * Records a refused publish. Written after the connection was already closed (the gate is synchronous and
 * must not wait for I/O); a failed write is reported, never thrown into the socket handler.
 */
export function recordRefusal(db: Kysely<Database>, refusal: Refusal, onError: (err: unknown, context: string) => void): Promise<void> {
  return db
    .insertInto('publish_refusals')
    .values({
      at: refusal.at ?? Date.now(),
      protocol: refusal.protocol,
      remote_addr: refusal.remoteAddr,
      account_id: refusal.accountId,
      reason: refusal.reason,
      detail: refusal.detail ?? null,
      server: refusal.server ?? null,
      count: refusal.count ?? 1,
      last_at: refusal.lastAt ?? null,
    })
    .execute()
    .then(() => undefined)
    .catch((err) => onError(err, 'recording a publish refusal'));
}
