import type { Kysely } from 'kysely';
import type { AuditRecord, Database } from './schema.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  reason?: string | null;
  detail?: Record<string, unknown>;
  at?: number;
}

/** Appends one audit record. Call it inside the same transaction as the change it records. */
export async function appendAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at: entry.at ?? Date.now(),
      actor: entry.actor,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      reason: entry.reason ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    })
    .execute();
}

/** Marks an account as changed for the publish gate of every running gateway (see gateway/identity/gate-sync.ts). */
export async function touchGate(db: Kysely<Database>, accountId: string, at = Date.now()): Promise<void> {
  await db.insertInto('gate_changes').values({ account_id: accountId, at }).execute();
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  since?: number;
  until?: number;
  limit?: number;
  /** Return records with id < before (paging backwards). */
  before?: number;
}

export interface AuditView {
  id: number;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  reason: string | null;
  detail: Record<string, unknown> | null;
}

export function auditView(r: AuditRecord): AuditView {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    reason: r.reason,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
  };
}

export async function queryAudit(db: Kysely<Database>, q: AuditQuery): Promise<AuditView[]> {
  let query = db.selectFrom('audit_log').selectAll();
  if (q.actor) query = query.where('actor', '=', q.actor);
  if (q.action) query = query.where('action', '=', q.action);
  if (q.targetType) query = query.where('target_type', '=', q.targetType);
  if (q.targetId) query = query.where('target_id', '=', q.targetId);
  if (q.since !== undefined) query = query.where('at', '>=', q.since);
  if (q.until !== undefined) query = query.where('at', '<', q.until);
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(Math.min(q.limit ?? 100, 1000))
    .execute();
  return rows.map(auditView);
}
