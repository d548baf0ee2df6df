import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { getAccount, type Actor } from '../identity/accounts.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit, touchGate } from '../store/audit.ts';
import type { Database, Suspension } from '../store/schema.ts';

export function isActive(s: Pick<Suspension, 'starts_at' | 'ends_at' | 'lifted_at'>, now: number): boolean {
  return s.lifted_at === null && s.starts_at <= now && (s.ends_at === null || s.ends_at > now);
}

export interface SuspendInput {
  reason: string;
  /** Omitted: permanent. */
  durationSeconds?: number;
  decisionId?: string | null;
  /** What it was for (a bank or strike category such as `graphic-violence`): its statement of reasons states that ground. */
  category?: string | null;
}

/**
 * Suspends the account's live-streaming rights, and through the identity subject every account of the
 * same verified person. Committed (with its audit record) before any feed is cut, so a crash between the
 * two never loses it.
 */
export async function suspendAccount(db: Kysely<Database>, actor: Actor, handle: string, input: SuspendInput): Promise<Suspension> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const now = Date.now();
    const suspension: Suspension = {
      id: newId('sus', now),
      account_id: account.id,
      identity_subject: account.identity_subject,
      reason: input.reason,
      starts_at: now,
      ends_at: input.durationSeconds === undefined ? null : now + input.durationSeconds * 1000,
      created_by: actor.id,
      decision_id: input.decisionId ?? null,
      lifted_at: null,
      lifted_by: null,
      lift_reason: null,
      category: input.category ?? null,
    };
    await trx.insertInto('suspensions').values(suspension).execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.suspend',
      targetType: 'account',
      targetId: handle,
      reason: input.reason,
      detail: {
        suspensionId: suspension.id,
        endsAt: suspension.ends_at,
        subject: suspension.identity_subject,
        decisionId: suspension.decision_id,
        category: suspension.category,
      },
      at: now,
    });
    await touchGate(trx, account.id, now);
    return suspension;
  });
}

/** Lifts every active suspension of the account (and so of its person, where it was person-wide). */
export async function unsuspendAccount(db: Kysely<Database>, actor: Actor, handle: string, reason: string): Promise<Suspension[]> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const now = Date.now();
    const rows = await activeSuspensionsFor(trx, account.id, account.identity_subject, now);
    if (rows.length === 0) throw new DomainError('conflict', `account '${handle}' has no active suspension`);
    for (const s of rows) {
      await trx.updateTable('suspensions').set({ lifted_at: now, lifted_by: actor.id, lift_reason: reason }).where('id', '=', s.id).execute();
      await touchGate(trx, s.account_id, now);
    }
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.unsuspend',
      targetType: 'account',
      targetId: handle,
      reason,
      detail: { suspensionIds: rows.map((s) => s.id) },
      at: now,
    });
    await touchGate(trx, account.id, now);
    return rows.map((s) => ({ ...s, lifted_at: now, lifted_by: actor.id, lift_reason: reason }));
  });
}

/**
 * Lifts one suspension (an appeal against it overturned), in the caller's transaction if it has one.
 * Refused when it is no longer active (lifted or over): there is nothing to lift.
 */
export async function liftSuspension(db: Kysely<Database>, actor: Actor, id: string, reason: string, now = Date.now()): Promise<Suspension> {
  const run = async (trx: Kysely<Database>) => {
    const s = await trx.selectFrom('suspensions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!s) throw notFound(`suspension '${id}'`);
    if (!isActive(s, now)) throw new DomainError('conflict', `suspension '${id}' is no longer in force`);
    await trx.updateTable('suspensions').set({ lifted_at: now, lifted_by: actor.id, lift_reason: reason }).where('id', '=', id).execute();
    const account = await trx.selectFrom('accounts').select('handle').where('id', '=', s.account_id).executeTakeFirst();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.unsuspend',
      targetType: 'account',
      targetId: account?.handle ?? s.account_id,
      reason,
      detail: { suspensionIds: [id] },
      at: now,
    });
    await touchGate(trx, s.account_id, now);
    return { ...s, lifted_at: now, lifted_by: actor.id, lift_reason: reason };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Active suspensions that bind this account: its own, and any of the same person's. */
export async function activeSuspensionsFor(db: Kysely<Database>, accountId: string, subject: string | null, now: number): Promise<Suspension[]> {
  const rows = await db
    .selectFrom('suspensions')
    .selectAll()
    .where((eb) => (subject ? eb.or([eb('account_id', '=', accountId), eb('identity_subject', '=', subject)]) : eb('account_id', '=', accountId)))
    .where('lifted_at', 'is', null)
    .execute();
  return rows.filter((s) => isActive(s, now));
}

export async function suspensionHistory(db: Kysely<Database>, accountId: string): Promise<Suspension[]> {
  return db.selectFrom('suspensions').selectAll().where('account_id', '=', accountId).orderBy('starts_at', 'desc').execute();
}
