import type { Kysely } from 'kysely';
import type { EnforcedDecision } from '../../policy/engine.ts';
import type { Database } from '../store/schema.ts';
import { recordDecision, type RecordedDecision } from './decisions.ts';

/** Rule ids of decisions people take (never a policy rule's: those are checked against RuleIdSchema, and these hold a ':'-free word). */
export const MANUAL_CUT_RULE = 'moderator-cut';
export const ORDER_CUT_RULE = 'removal-order';
/** The policy a manual decision names: none (the schema wants a version on every decision). */
const MANUAL_POLICY = { name: 'manual', version: '1' };

/** Where a person's cut came from, for the statement of reasons' source_type. */
export type ManualOrigin =
  | { kind: 'moderator' }
  /** The stream had open viewer reports when the moderator cut it: a notice (DSA Art. 16). */
  | { kind: 'viewer_reports'; reports: number }
  | { kind: 'removal_order'; orderId: string };

export interface ManualCut {
  streamId: string;
  accountId: string;
  subject: string | null;
  /** Who decided: a moderator's actor, or `order:<id>` for a removal order's execution. */
  actor: string;
  reason: string;
  /** What the content was (a bank or strike category such as `graphic-violence`), for the statement's ground. */
  category?: string | undefined;
  origin: ManualOrigin;
  at: number;
}

/**
 * Records a person's cut as a decision, as the policy's are: the streamer sees it (and can appeal it), a
 * statement of reasons follows from it (automated_detection No, AUTOMATED_DECISION_NOT_AUTOMATED), and an
 * overturn updates that statement. No review item: a person already decided it.
 */
export async function recordManualCut(db: Kysely<Database>, cut: ManualCut): Promise<RecordedDecision> {
  const decision: EnforcedDecision = {
    ruleId: cut.origin.kind === 'removal_order' ? ORDER_CUT_RULE : MANUAL_CUT_RULE,
    kind: 'rule',
    policy: MANUAL_POLICY,
    streamId: cut.streamId,
    accountId: cut.accountId,
    personId: cut.subject,
    severity: null,
    reason: cut.reason,
    evidenceRefs: [],
    signalRefs: [],
    decidedAt: cut.at,
    escalation: null,
    shadow: false,
    actions: { cut: true },
  };
  return recordDecision(db, decision, {
    evidence: { manual: { origin: cut.origin, ...(cut.category ? { category: cut.category } : {}) } },
    decidedBy: cut.actor,
  });
}

/** The manual facts a decision's evidence holds, when a person took it. */
export function manualFacts(evidence: string): { origin: ManualOrigin; category?: string } | null {
  try {
    const e = JSON.parse(evidence) as { manual?: { origin?: ManualOrigin; category?: string } };
    return e.manual?.origin ? { origin: e.manual.origin, ...(e.manual.category ? { category: e.manual.category } : {}) } : null;
  } catch {
    return null;
  }
}
