import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import { isBanActive, liftBan } from '../identity/bans.ts';
import type { Account, AppealRow, AppealTargetKind, Database, DecisionRow, PersonBan, Suspension } from '../store/schema.ts';
import { overturnDecision } from './review.ts';
import { isActive, liftSuspension } from './suspensions.ts';

/**
 * Streamer appeals: one per restriction, filed by the account it was taken against, decided once by a
 * moderator. A restriction is an enforced decision, or one with no decision behind it (DSA Art. 20 lets a
 * person complain against a suspension of their account as against a removal): a suspension a moderator or
 * an operator set from the account, or a platform ban of the person. Overturning a decision goes through
 * `overturnDecision` (voids the strike, lifts the suspension); overturning a suspension or a ban lifts it.
 * Upholding keeps them, and confirms the decision if its review was still pending.
 */

export interface AppealTarget {
  kind: AppealTargetKind;
  id: string;
}

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
 * Why a suspension cannot be appealed on its own (null: it can). One that came with a decision is appealed
 * through that decision (overturning it lifts the suspension); one that executes a removal order is the
 * authority's, contested with it.
 */
export function suspensionAppealBlocker(
  s: Pick<Suspension, 'decision_id' | 'created_by' | 'starts_at' | 'ends_at' | 'lifted_at'>,
  existing: Pick<AppealRow, 'id'> | null | undefined,
  now: number,
): string | null {
  if (s.decision_id) return `this suspension came with decision ${s.decision_id}: appeal that decision`;
  if (s.created_by.startsWith('order:')) return 'this suspension executes a removal order: contest it with the authority that issued the order';
  if (existing) return 'this suspension has been appealed already (one appeal per suspension)';
  if (!isActive(s, now)) return 'this suspension is no longer in force';
  return null;
}

/** Why a ban of the person cannot be appealed here (null: it can). A court's ban is contested before the courts. */
export function banAppealBlocker(
  b: Pick<PersonBan, 'kind' | 'starts_at' | 'ends_at' | 'lifted_at'>,
  existing: Pick<AppealRow, 'id'> | null | undefined,
  now: number,
): string | null {
  if (b.kind === 'court_order') return 'a court ordered this ban: it can be challenged before the courts, not by an appeal here';
  if (existing) return 'this ban has been appealed already (one appeal per ban)';
  if (!isBanActive(b, now)) return 'this ban is no longer in force';
  return null;
}

/** The restriction an account may appeal: its own decision or suspension, or a ban of its person. */
async function appealable(trx: Kysely<Database>, account: Account, target: AppealTarget, now: number): Promise<{ ruleId: string | null }> {
  const existing = await trx.selectFrom('appeals').select('id').where('target_id', '=', target.id).executeTakeFirst();
  let blocker: string | null;
  let ruleId: string | null = null;
  if (target.kind === 'decision') {
    const decision = await trx
      .selectFrom('decisions')
      .selectAll()
      .where('id', '=', target.id)
      .where('account_id', '=', account.id)
      .where('shadow', '=', 0)
      .executeTakeFirst();
    if (!decision) throw notFound(`decision '${target.id}'`);
    blocker = appealBlocker(decision, existing);
    ruleId = decision.rule_id;
  } else if (target.kind === 'suspension') {
    const s = await trx.selectFrom('suspensions').selectAll().where('id', '=', target.id).where('account_id', '=', account.id).executeTakeFirst();
    if (!s) throw notFound(`suspension '${target.id}'`);
    blocker = suspensionAppealBlocker(s, existing, now);
  } else {
    const b = account.identity_subject
      ? await trx.selectFrom('person_bans').selectAll().where('id', '=', target.id).where('identity_subject', '=', account.identity_subject).executeTakeFirst()
      : undefined;
    if (!b) throw notFound(`ban '${target.id}'`);
    blocker = banAppealBlocker(b, existing, now);
  }
  if (blocker) throw new DomainError('conflict', blocker);
  return { ruleId };
}

/**
 * Files the account's appeal against one of its own restrictions. Someone else's, a shadow decision or an
 * unknown id are all "not found", so nothing about other accounts leaks.
 */
export async function fileAppeal(db: Kysely<Database>, account: Account, input: { target: AppealTarget; statement: string }): Promise<AppealRow> {
  const actor = accountActor(account);
  const { target } = input;
  try {
    return await db.transaction().execute(async (trx) => {
      const now = Date.now();
      const { ruleId } = await appealable(trx, account, target, now);
      const appeal: AppealRow = {
        id: newId('apl', now),
        target_kind: target.kind,
        target_id: target.id,
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
        detail: {
          target: target.kind,
          ...(target.kind === 'decision'
            ? { decisionId: target.id, ruleId }
            : target.kind === 'suspension'
              ? { suspensionId: target.id }
              : { banId: target.id }),
          account: account.handle,
          statementLength: input.statement.length,
        },
        at: now,
      });
      return appeal;
    });
  } catch (err) {
    if (err instanceof DomainError) throw err;
    // Two concurrent appeals on one restriction: the unique index on target_id lets one through.
    const raced = await db.selectFrom('appeals').select('id').where('target_id', '=', target.id).executeTakeFirst();
    if (raced) throw new DomainError('conflict', `this ${target.kind} has been appealed already (one appeal per ${target.kind})`);
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
  /** The appealed decision; null when the appeal was against a suspension or a ban. */
  decision: DecisionRow | null;
  strikesVoided: number;
  suspensionsLifted: number;
  bansLifted: number;
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
  if (appeal.target_kind !== 'decision') return decideRestrictionAppeal(db, actor, appeal, input);
  const decision = await db.selectFrom('decisions').selectAll().where('id', '=', appeal.target_id).executeTakeFirst();
  if (!decision) throw notFound(`decision '${appeal.target_id}'`);

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
    return { appeal: closed, decision: current, strikesVoided, suspensionsLifted, bansLifted: 0, decisionConfirmed: false };
  }

  return db.transaction().execute(async (trx) => {
    const fresh = await trx.selectFrom('decisions').selectAll().where('id', '=', appeal.target_id).executeTakeFirstOrThrow();
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
    return { appeal: closed, decision: current, strikesVoided: 0, suspensionsLifted: 0, bansLifted: 0, decisionConfirmed: confirm };
  });
}

/**
 * An appeal against a suspension or a ban with no decision behind it. Overturn lifts it and closes the appeal
 * in one transaction (the statement of reasons follows the lift); one lifted meanwhile by other means is
 * simply closed as overturned. Uphold closes the appeal and leaves it in force.
 */
async function decideRestrictionAppeal(
  db: Kysely<Database>,
  actor: string,
  appeal: AppealRow,
  input: { outcome: AppealOutcome; reason: string },
): Promise<AppealDecision> {
  const kind = appeal.target_kind;
  return db.transaction().execute(async (trx) => {
    const now = Date.now();
    if (input.outcome === 'uphold') {
      const closed = await closeAppeal(trx, actor, appeal, 'upheld', input.reason, { [kind === 'ban' ? 'banId' : 'suspensionId']: appeal.target_id }, now);
      return { appeal: closed, decision: null, strikesVoided: 0, suspensionsLifted: 0, bansLifted: 0, decisionConfirmed: false };
    }
    const liftReason = `appeal ${appeal.id} overturned: ${input.reason}`;
    let lifted = 0;
    if (kind === 'ban') {
      const ban = await trx.selectFrom('person_bans').selectAll().where('id', '=', appeal.target_id).executeTakeFirst();
      if (!ban) throw notFound(`ban '${appeal.target_id}'`);
      if (ban.lifted_at === null) {
        await liftBan(trx, { id: actor }, ban.id, liftReason, now);
        lifted = 1;
      }
    } else {
      const s = await trx.selectFrom('suspensions').selectAll().where('id', '=', appeal.target_id).executeTakeFirst();
      if (!s) throw notFound(`suspension '${appeal.target_id}'`);
      if (isActive(s, now)) {
        await liftSuspension(trx, { id: actor }, s.id, liftReason, now);
        lifted = 1;
      }
    }
    const closed = await closeAppeal(
      trx,
      actor,
      appeal,
      'overturned',
      input.reason,
      { [kind === 'ban' ? 'banId' : 'suspensionId']: appeal.target_id, lifted: lifted === 1 },
      now,
    );
    return {
      appeal: closed,
      decision: null,
      strikesVoided: 0,
      suspensionsLifted: kind === 'suspension' ? lifted : 0,
      bansLifted: kind === 'ban' ? lifted : 0,
      decisionConfirmed: false,
    };
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
