import { z } from 'zod';
import type { AppealRow, DecisionRow } from '../../store/schema.ts';
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

/** An appeal as the streamer who filed it sees it. */
export const StreamerAppealView = z
  .object({ id: z.string(), decisionId: z.string(), status: AppealStatus, statement: z.string(), createdAt: IsoTime, outcome: AppealOutcome })
  .meta({ id: 'StreamerAppeal' });

export function streamerAppealView(a: AppealRow): z.infer<typeof StreamerAppealView> {
  return { id: a.id, decisionId: a.decision_id, status: a.status, statement: a.statement, createdAt: iso(a.created_at), outcome: appealOutcome(a) };
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
    decision: DecisionView.nullable(),
  })
  .meta({ id: 'Appeal' });

export function moderatorAppealView(a: AppealRow, handle: string | null, d: DecisionRow | null): z.infer<typeof ModeratorAppealView> {
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
    decision: d ? decisionView(d, handle) : null,
  };
}
