import { z } from 'zod';
import type { AppealRow, DecisionRow, PersonBan, Suspension } from '../../store/schema.ts';
import { iso, IsoTime, IsoTimeOrNull, isoOrNull } from '../schemas.ts';
import { decisionView, DecisionView } from './decision.ts';

const AppealStatus = z.enum(['open', 'upheld', 'overturned']);

/** Who decided, as a streamer may see it: the rule, or "a moderator" (never which one). */
export function deciderKind(decidedBy: string): 'rule' | 'moderator' {
  return decidedBy.startsWith('policy:') ? 'rule' : 'moderator';
}

/** An appeal's outcome as the streamer reads it (no moderator identity); null while open. */
export const AppealOutcome = z.object({ result: z.enum(['upheld', 'overturned']), reason: z.string().nullable(), decidedAt: IsoTimeOrNull }).nullable();

export function appealOutcome(a: AppealRow): z.infer<typeof AppealOutcome> {
  return a.status === 'open' ? null : { result: a.status, reason: a.outcome_reason, decidedAt: isoOrNull(a.decided_at) };
}

/** What an appeal contests: a decision, or a suspension or platform ban with no decision behind it. */
export const AppealTargetView = z.object({ kind: z.enum(['decision', 'suspension', 'ban']), id: z.string() });

/** An appeal as the streamer who filed it sees it. */
export const StreamerAppealView = z
  .object({
    id: z.string(),
    target: AppealTargetView,
    decisionId: z.string().nullable().describe('The appealed decision; null for an appeal against a suspension or a ban'),
    status: AppealStatus,
    statement: z.string(),
    createdAt: IsoTime,
    outcome: AppealOutcome,
  })
  .meta({ id: 'StreamerAppeal' });

export function appealTarget(a: Pick<AppealRow, 'target_kind' | 'target_id'>): z.infer<typeof AppealTargetView> {
  return { kind: a.target_kind, id: a.target_id };
}

export function streamerAppealView(a: AppealRow): z.infer<typeof StreamerAppealView> {
  return {
    id: a.id,
    target: appealTarget(a),
    decisionId: a.target_kind === 'decision' ? a.target_id : null,
    status: a.status,
    statement: a.statement,
    createdAt: iso(a.created_at),
    outcome: appealOutcome(a),
  };
}

/** A suspension or a ban as the moderator deciding an appeal against it sees it. */
export const AppealedRestrictionView = z.object({
  kind: z.enum(['suspension', 'ban']),
  id: z.string(),
  reason: z.string(),
  by: z.string(),
  startsAt: IsoTime,
  endsAt: IsoTimeOrNull,
  liftedAt: IsoTimeOrNull,
  liftReason: z.string().nullable(),
  category: z.string().nullable(),
});

export function appealedRestrictionView(r: { kind: 'suspension'; row: Suspension } | { kind: 'ban'; row: PersonBan }): z.infer<typeof AppealedRestrictionView> {
  const x = r.row;
  return {
    kind: r.kind,
    id: x.id,
    reason: x.reason,
    by: x.created_by,
    startsAt: iso(x.starts_at),
    endsAt: isoOrNull(x.ends_at),
    liftedAt: isoOrNull(x.lifted_at),
    liftReason: x.lift_reason,
    category: x.category ?? null,
  };
}

/** An appeal as moderators see it, with the account and the decision appealed. */
export const ModeratorAppealView = z
  .object({
    id: z.string(),
    status: AppealStatus,
    account: z.string().nullable().describe("The account's handle"),
    accountId: z.string(),
    statement: z.string(),
    createdAt: IsoTime,
    decidedBy: z.string().nullable(),
    decidedAt: IsoTimeOrNull,
    outcomeReason: z.string().nullable(),
    target: AppealTargetView,
    decision: DecisionView.nullable().describe('The appealed decision (target.kind decision)'),
    restriction: AppealedRestrictionView.nullable().describe('The appealed suspension or ban (target.kind suspension or ban)'),
  })
  .meta({ id: 'Appeal' });

export function moderatorAppealView(
  a: AppealRow,
  handle: string | null,
  d: DecisionRow | null,
  restriction: z.infer<typeof AppealedRestrictionView> | null = null,
): z.infer<typeof ModeratorAppealView> {
  return {
    id: a.id,
    status: a.status,
    account: handle,
    accountId: a.account_id,
    statement: a.statement,
    createdAt: iso(a.created_at),
    decidedBy: a.decided_by,
    decidedAt: isoOrNull(a.decided_at),
    outcomeReason: a.outcome_reason,
    target: appealTarget(a),
    decision: d ? decisionView(d, handle) : null,
    restriction,
  };
}
