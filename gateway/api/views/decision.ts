import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, DecisionRow } from '../../store/schema.ts';
import { iso, IsoTime, IsoTimeOrNull, isoOrNull, Severity } from '../schemas.ts';

/** The engine's actions as recorded (policy/engine.ts `Actions`; for a shadow decision, what it would have done). */
export const ActionsView = z
  .object({
    cut: z.boolean(),
    suspend: z.object({ untilMs: z.number().nullable(), durationMs: z.number().nullable() }).optional().describe('both null: permanent'),
    strike: z.object({ category: z.string(), severity: Severity, expiresAt: z.number() }).optional(),
    review: z.object({ priority: z.enum(['low', 'normal', 'high', 'urgent']) }).optional(),
    warn: z.object({ message: z.string() }).optional(),
  })
  .meta({ id: 'Actions' });

/** A decision as moderators see it: rule, actions, review state and links to its evidence. */
export const DecisionView = z
  .object({
    id: z.string().describe('dec_…'),
    streamId: z.string(),
    accountId: z.string(),
    account: z.object({ id: z.string(), handle: z.string().nullable().describe('null: the account is gone') }).describe('The account the decision is about'),
    ruleId: z.string(),
    policyVersion: z.string().describe('`name@version` of the policy that decided'),
    shadow: z.boolean().describe('recorded only ("would have"), never enforced'),
    actions: ActionsView,
    reason: z.string(),
    decidedAt: IsoTime,
    decidedBy: z.string().describe('`policy:<rule>` or `token:<moderator>`'),
    review: z.object({
      status: z.enum(['none', 'pending', 'confirmed', 'overturned']),
      priority: z.string().nullable(),
      by: z.string().nullable(),
      at: IsoTimeOrNull,
      reason: z.string().nullable(),
    }),
    evidence: z.array(z.object({ ref: z.string(), image: z.string().describe('URL of the JPEG thumbnail') })),
    detail: z.string().describe('URL of the decision with its evidence facts'),
  })
  .meta({ id: 'Decision' });

/** The evidence refs a decision cites (its pinned copies when it has them). */
export function evidenceRefs(d: DecisionRow): string[] {
  const evidence = JSON.parse(d.evidence) as { refs?: string[]; pinned?: string[] };
  return evidence.pinned ?? evidence.refs ?? [];
}

/** `handle`: the account's handle (decisionViews looks them up for a list). */
export function decisionView(d: DecisionRow, handle: string | null): z.infer<typeof DecisionView> {
  return {
    id: d.id,
    streamId: d.stream_id,
    accountId: d.account_id,
    account: { id: d.account_id, handle },
    ruleId: d.rule_id,
    policyVersion: d.policy_version,
    shadow: d.shadow === 1,
    actions: JSON.parse(d.actions) as z.infer<typeof ActionsView>,
    reason: d.reason,
    decidedAt: iso(d.decided_at),
    decidedBy: d.decided_by,
    review: { status: d.review_status, priority: d.review_priority, by: d.reviewed_by, at: isoOrNull(d.reviewed_at), reason: d.review_reason },
    evidence: evidenceRefs(d).map((ref) => ({ ref, image: `/api/v1/evidence/${ref}` })),
    detail: `/api/v1/decisions/${d.id}`,
  };
}

/** Views of several decisions with their accounts' handles, in one query. */
export async function decisionViews(db: Kysely<Database>, rows: readonly DecisionRow[]): Promise<Array<z.infer<typeof DecisionView>>> {
  const ids = [...new Set(rows.map((r) => r.account_id))];
  const handles = ids.length ? await db.selectFrom('accounts').select(['id', 'handle']).where('id', 'in', ids).execute() : [];
  const byId = new Map(handles.map((h) => [h.id, h.handle]));
  return rows.map((r) => decisionView(r, byId.get(r.account_id) ?? null));
}
