import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Account, AppealRow, Database, DecisionRow } from '../store/schema.ts';
import { overturnDecision } from './review.ts';

/**
 * Streamer appeals: one per enforced decision, filed by the account the decision was taken against, decided
 * once by a moderator. Overturning goes through `overturnDecision` (voids the strike, lifts the suspension);
 * upholding keeps both and confirms the decision if its review was still pending.
 */

export type AppealStatus = AppealRow['status'];
export type AppealOutcome = 'uphold' | 'overturn';

export const STATEMENT_MAX = 2000;

/** Actor recorded for what a streamer does with their account token. */
export const accountActor = (account: Pick<Account, 'handle'>) => `account:${account.handle}`;

/** Why a decision cannot be appealed (null: it can). Shared by the status view and `fileAppeal`. */
export function appealBlocker(decision: Pick<DecisionRow, 'shadow' | 'review_status'>, existing: Pick<AppealRow, 'id'> | null | undefined): string | null {
  if (decision.shadow) return 'this decision was never enforced';
  if (existing) return 'this decision has been appealed already (one appeal per decision)';
  if (decision.review_status === 'overturned') return 'this decision has been overturned already';
  return null;
}

/**
 * Files the account's appeal against one of its own enforced decisions. Someone else's decision, a shadow
 * decision or an unknown id are all "not found", so nothing about other accounts leaks.
 */
export async function fileAppeal(db: Kysely<Database>, account: Account, input: { decisionId: string; statement: string }): Promise<AppealRow> {
  const actor = accountActor(account);
  try {
    return await db.transaction().execute(async (trx) => {
      const decision = await trx
        .selectFrom('decisions')
        .selectAll()
        .where('id', '=', input.decisionId)
        .where('account_id', '=', account.id)
        .where('shadow', '=', 0)
        .executeTakeFirst();
      if (!decision) throw notFound(`decision '${input.decisionId}'`);
      const existing = await trx.selectFrom('appeals').select('id').where('decision_id', '=', decision.id).executeTakeFirst();
      const blocker = appealBlocker(decision, existing);
      if (blocker) throw new DomainError('conflict', blocker);
      const now = Date.now();
      const appeal: AppealRow = {
        id: newId('apl', now),
        decision_id: decision.id,
        account_id: account.id,
        statement: input.statement,
        created_at: now,
        status: 'open',
        decided_by: null,
        decided_at: null,
        outcome_reason: null,
      };
      await trx.insertInto('appeals').values(appeal).execute();
      await appendAudit(trx, {
        actor,
        action: 'appeal.create',
        targetType: 'appeal',
        targetId: appeal.id,
        detail: { decisionId: decision.id, account: account.handle, ruleId: decision.rule_id, statementLength: input.statement.length },
        at: now,
      });
      return appeal;
    });
  } catch (err) {
    if (err instanceof DomainError) throw err;
    // Two concurrent appeals on one decision: the unique index on decision_id lets one through.
    const raced = await db.selectFrom('appeals').select('id').where('decision_id', '=', input.decisionId).executeTakeFirst();
    if (raced) throw new DomainError('conflict', 'this decision has been appealed already (one appeal per decision)');
    throw err;
  }
}

export async function getAppeal(db: Kysely<Database>, id: string): Promise<AppealRow> {
  const row = await db.selectFrom('appeals').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`appeal '${id}'`);
  return row;
}

export async function listAppeals(db: Kysely<Database>, q: { status?: AppealStatus; accountId?: string; limit?: number }): Promise<AppealRow[]> {
  let query = db.selectFrom('appeals').selectAll();
  if (q.status) query = query.where('status', '=', q.status);
  if (q.accountId) query = query.where('account_id', '=', q.accountId);
  // Open appeals are a queue (oldest first); decided ones are history (newest first).
  const dir = q.status === 'open' ? 'asc' : 'desc';
  return query
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(Math.min(q.limit ?? 100, 1000))
    .execute();
}

export interface AppealDecision {
  appeal: AppealRow;
  decision: DecisionRow;
  strikesVoided: number;
  suspensionsLifted: number;
  /** Uphold: whether a pending review of the decision was marked confirmed. */
  decisionConfirmed: boolean;
}

/**
 * A moderator decides an open appeal. Overturn: the decision is overturned through `overturnDecision` (its
 * own transaction: strike voided, suspension lifted, gate touched, `decision.overturn` audited), then the
 * appeal is closed with `appeal.overturn`. If the decision was overturned already (directly in the review
 * queue, or by an earlier attempt that stopped in between) the appeal is simply closed as overturned.
 * Uphold: the appeal is closed with `appeal.upheld` and a pending review confirmed, in one transaction.
 * The caller refreshes the publish gate after an overturn.
 */
export async function decideAppeal(
  db: Kysely<Database>,
  actor: string,
  appealId: string,
  input: { outcome: AppealOutcome; reason: string },
): Promise<AppealDecision> {
  const appeal = await getAppeal(db, appealId);
  if (appeal.status !== 'open') throw new DomainError('conflict', `this appeal was ${appeal.status} already`);
  const decision = await db.selectFrom('decisions').selectAll().where('id', '=', appeal.decision_id).executeTakeFirst();
  if (!decision) throw notFound(`decision '${appeal.decision_id}'`);

  if (input.outcome === 'overturn') {
    let strikesVoided = 0;
    let suspensionsLifted = 0;
    let current = decision;
    const alreadyOverturned = decision.review_status === 'overturned';
    if (!alreadyOverturned) {
      const res = await overturnDecision(db, actor, decision.id, `appeal ${appeal.id} overturned: ${input.reason}`);
      ({ strikesVoided, suspensionsLifted } = res);
      current = res.decision;
    }
    const closed = await closeAppeal(db, actor, appeal, 'overturned', input.reason, {
      decisionId: decision.id,
      strikesVoided,
      suspensionsLifted,
      decisionAlreadyOverturned: alreadyOverturned,
    });
    return { appeal: closed, decision: current, strikesVoided, suspensionsLifted, decisionConfirmed: false };
  }

  return db.transaction().execute(async (trx) => {
    const fresh = await trx.selectFrom('decisions').selectAll().where('id', '=', appeal.decision_id).executeTakeFirstOrThrow();
    if (fresh.review_status === 'overturned') {
      throw new DomainError('conflict', "the decision has been overturned already: decide the appeal with outcome 'overturn' to close it");
    }
    const now = Date.now();
    let current = fresh;
    const confirm = fresh.review_status === 'pending';
    if (confirm) {
      const reviewReason = `appeal ${appeal.id} upheld: ${input.reason}`;
      await trx
        .updateTable('decisions')
        .set({ review_status: 'confirmed', reviewed_by: actor, reviewed_at: now, review_reason: reviewReason })
        .where('id', '=', fresh.id)
        .execute();
      await appendAudit(trx, {
        actor,
        action: 'decision.confirm',
        targetType: 'decision',
        targetId: fresh.id,
        reason: reviewReason,
        detail: { via: 'appeal', appealId: appeal.id },
        at: now,
      });
      current = { ...fresh, review_status: 'confirmed', reviewed_by: actor, reviewed_at: now, review_reason: reviewReason };
    }
    const closed = await closeAppeal(trx, actor, appeal, 'upheld', input.reason, { decisionId: fresh.id, decisionConfirmed: confirm }, now);
    return { appeal: closed, decision: current, strikesVoided: 0, suspensionsLifted: 0, decisionConfirmed: confirm };
  });
}

/** Closes an open appeal (refusing if someone else decided it meanwhile) and audits it, in one transaction. */
async function closeAppeal(
  db: Kysely<Database>,
  actor: string,
  appeal: AppealRow,
  status: 'upheld' | 'overturned',
  reason: string,
  detail: Record<string, unknown>,
  now = Date.now(),
): Promise<AppealRow> {
  const run = async (trx: Kysely<Database>) => {
    const res = await trx
      .updateTable('appeals')
      .set({ status, decided_by: actor, decided_at: now, outcome_reason: reason })
      .where('id', '=', appeal.id)
      .where('status', '=', 'open')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new DomainError('conflict', 'this appeal was decided meanwhile');
    await appendAudit(trx, {
      actor,
      action: status === 'upheld' ? 'appeal.uphold' : 'appeal.overturn',
      targetType: 'appeal',
      targetId: appeal.id,
      reason,
      detail,
      at: now,
    });
    return { ...appeal, status, decided_by: actor, decided_at: now, outcome_reason: reason };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
