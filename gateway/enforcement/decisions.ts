import type { Kysely } from 'kysely';
import { effectOf, type Decision, type EnforcedDecision } from '../../policy/engine.ts';
import type { AccountHistory } from '../../policy/history.ts';
import { newId } from '../security/secrets.ts';
import { applyUnit, writeUnit, type UnitAudit, type WriteUnit } from '../store/journal/unit.ts';
import type { Database, DecisionRow, StrikeRow, Suspension } from '../store/schema.ts';
import { automatedReason, isAutomated } from './streamer-words.ts';

export interface RecordedDecision {
  row: DecisionRow;
  strike: StrikeRow | null;
  suspension: Suspension | null;
}

/**
 * A policy decision with everything it implies (strike, suspension, review item, audit) as one unit of
 * work, with stable ids: committed in one transaction, directly or from the local journal while the
 * database is away (gateway/store/journal/). Enforcement (the cut) happens only once the unit is durable
 * (in the database or the journal), so a crash in between leaves the suspension in force.
 */
export function decisionUnit(
  decision: Decision,
  opts: { evidence: Record<string, unknown>; decidedBy?: string },
): { unit: WriteUnit; recorded: RecordedDecision } {
  const actions = effectOf(decision);
  const now = decision.decidedAt;
  const id = newId('dec', now);
  const actor = opts.decidedBy ?? `policy:${decision.ruleId}`;
  const row: DecisionRow = {
    id,
    stream_id: decision.streamId,
    account_id: decision.accountId,
    identity_subject: decision.personId,
    rule_id: decision.ruleId,
    policy_version: `${decision.policy.name}@${decision.policy.version}`,
    shadow: decision.shadow ? 1 : 0,
    actions: JSON.stringify(actions),
    reason: decision.reason,
    evidence: JSON.stringify({ refs: decision.evidenceRefs, signals: decision.signalRefs, escalation: decision.escalation, ...opts.evidence }),
    decided_at: now,
    decided_by: actor,
    review_status: !decision.shadow && actions.review ? 'pending' : 'none',
    review_priority: actions.review?.priority ?? null,
    reviewed_by: null,
    reviewed_at: null,
    review_reason: null,
  };
  if (decision.shadow) {
    const audit: UnitAudit = {
      actor,
      action: 'decision.shadow',
      targetType: 'stream',
      targetId: decision.streamId,
      reason: decision.reason,
      detail: { decisionId: id, ruleId: decision.ruleId, wouldHave: actions },
      at: now,
    };
    return { unit: writeUnit({ id: `decision:${id}`, at: now, decisions: [row], audits: [audit] }), recorded: { row, strike: null, suspension: null } };
  }
  const { strike, suspension, audit } = enforcedRows(decision, id, actor, now);
  const unit = writeUnit({
    id: `decision:${id}`,
    at: now,
    decisions: [row],
    strikes: strike ? [strike] : [],
    suspensions: suspension ? [suspension] : [],
    audits: [audit],
    gateTouches: suspension ? [{ accountId: decision.accountId, at: now }] : [],
  });
  return { unit, recorded: { row, strike, suspension } };
}

/** Commits a decision's unit straight to the database (backtests, tools; the gateway goes through its journaling writer). */
export async function recordDecision(
  db: Kysely<Database>,
  decision: Decision,
  opts: { evidence: Record<string, unknown>; decidedBy?: string },
): Promise<RecordedDecision> {
  const { unit, recorded } = decisionUnit(decision, opts);
  await db.transaction().execute((trx) => applyUnit(trx, unit, 'direct', null));
  return recorded;
}

function enforcedRows(decision: EnforcedDecision, decisionId: string, actor: string, now: number) {
  const a = decision.actions;
  let strike: StrikeRow | null = null;
  let suspension: Suspension | null = null;
  if (a.strike) {
    strike = {
      id: newId('stk', now),
      account_id: decision.accountId,
      identity_subject: decision.personId,
      stream_id: decision.streamId,
      decision_id: decisionId,
      category: a.strike.category,
      severity: a.strike.severity,
      rule_id: decision.ruleId,
      at: now,
      expires_at: a.strike.expiresAt,
      voided_at: null,
      voided_by: null,
      void_reason: null,
    };
  }
  if (a.suspend) {
    suspension = {
      id: newId('sus', now),
      account_id: decision.accountId,
      identity_subject: decision.personId,
      // Streamers read a suspension's reason (GET /me, the refusal of their next publish): plain words,
      // never the engine's distances and limits (the decision keeps those for moderators).
      reason: isAutomated(actor) ? automatedReason(a.strike?.category ?? null) : decision.reason,
      starts_at: now,
      ends_at: a.suspend.untilMs,
      created_by: actor,
      decision_id: decisionId,
      lifted_at: null,
      lifted_by: null,
      lift_reason: null,
      category: a.strike?.category ?? null,
    };
  }
  const audit: UnitAudit = {
    actor,
    action: 'decision.enforce',
    targetType: 'stream',
    targetId: decision.streamId,
    reason: decision.reason,
    detail: {
      decisionId,
      ruleId: decision.ruleId,
      actions: a,
      strikeId: strike?.id ?? null,
      suspensionId: suspension?.id ?? null,
      escalation: decision.escalation,
    },
    at: now,
  };
  return { strike, suspension, audit };
}

/** The account's and its person's strikes and suspensions, in the engine's terms. */
export async function loadHistory(db: Kysely<Database>, accountId: string, subject: string | null): Promise<AccountHistory> {
  const [strikes, suspensions] = await Promise.all([
    db
      .selectFrom('strikes')
      .selectAll()
      .where((eb) => (subject ? eb.or([eb('account_id', '=', accountId), eb('identity_subject', '=', subject)]) : eb('account_id', '=', accountId)))
      .execute(),
    db
      .selectFrom('suspensions')
      .selectAll()
      .where((eb) => (subject ? eb.or([eb('account_id', '=', accountId), eb('identity_subject', '=', subject)]) : eb('account_id', '=', accountId)))
      .execute(),
  ]);
  return historyAsOf(strikes, suspensions, Number.POSITIVE_INFINITY);
}

/**
 * Strike and suspension rows in the engine's terms, as they stood at `at`: later strikes and suspensions
 * are left out, and a void or lift counts only once it happened (backtests replay old streams this way).
 */
export function historyAsOf(strikes: readonly StrikeRow[], suspensions: readonly Suspension[], at: number): AccountHistory {
  return {
    strikes: strikes
      .filter((s) => Number(s.at) <= at)
      .map((s) => ({
        id: s.id,
        accountId: s.account_id,
        personId: s.identity_subject,
        streamId: s.stream_id,
        category: s.category,
        severity: s.severity,
        ruleId: s.rule_id,
        at: Number(s.at),
        expiresAt: Number(s.expires_at),
        voided: s.voided_at !== null && Number(s.voided_at) <= at,
      })),
    suspensions: suspensions
      .filter((s) => Number(s.starts_at) <= at)
      .map((s) => ({
        id: s.id,
        accountId: s.account_id,
        personId: s.identity_subject,
        ruleId: null,
        startsAt: Number(s.starts_at),
        endsAt: s.ends_at === null ? null : Number(s.ends_at),
        liftedAt: s.lifted_at !== null && Number(s.lifted_at) <= at ? Number(s.lifted_at) : null,
      })),
  };
}
