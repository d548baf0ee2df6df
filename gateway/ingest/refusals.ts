import { randomUUID } from 'node:crypto';
import { writeUnit } from '../store/journal/unit.ts';
import type { UnitWriter } from '../store/journal/writer.ts';
import type { StreamProtocol } from '../store/schema.ts';

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
 * Records a refused publish, as one unit of work through the node's writer: while the database is away the
 * row (and an aggregated window's count) is kept in the local journal, not dropped. Written after the
 * connection was already closed (the gate is synchronous and must not wait for I/O); a failed write is
 * reported, never thrown into the socket handler.
 */
export function recordRefusal(writer: UnitWriter, refusal: Refusal, onError: (err: unknown, context: string) => void): Promise<void> {
  const at = refusal.at ?? Date.now();
  const unit = writeUnit({
    // Drawn once: the journal's replay of this unit is then recognised as the same refusal.
    id: `refusal:${randomUUID()}`,
    at,
    refusals: [
      {
        at,
        protocol: refusal.protocol,
        remote_addr: refusal.remoteAddr,
        account_id: refusal.accountId,
        reason: refusal.reason,
        detail: refusal.detail ?? null,
        server: refusal.server ?? null,
        count: refusal.count ?? 1,
        last_at: refusal.lastAt ?? null,
      },
    ],
  });
  return writer
    .write(unit)
    .then(() => undefined)
    .catch((err) => onError(err, 'recording a publish refusal'));
}
