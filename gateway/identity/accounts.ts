import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit, touchGate } from '../store/audit.ts';
import type { Account, Database, IdentityStatus } from '../store/schema.ts';
import { HandleSchema } from './handle.ts';

/** Re-exported: the routes that validate handles import it from here. */
export { HandleSchema };

/** An age-assurance claim: the person is at least `over` years old (never a birth date), how and when it was established. */
export interface AgeClaim {
  over: number;
  source: string;
  checkedAt: number;
}

export interface Actor {
  /** `cli`, `token:<name>`, `webhook:<provider>`, `policy:<rule>`, `system`. */
  id: string;
}

export async function findAccount(db: Kysely<Database>, handle: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('handle', '=', handle).executeTakeFirst();
}

export async function getAccount(db: Kysely<Database>, handle: string): Promise<Account> {
  const account = await findAccount(db, handle);
  if (!account) throw notFound(`account '${handle}'`);
  return account;
}

export async function addAccount(
  db: Kysely<Database>,
  actor: Actor,
  input: { handle: string; verified?: boolean; subject?: string | null; reason?: string },
): Promise<Account> {
  const handle = HandleSchema.parse(input.handle);
  return db.transaction().execute(async (trx) => {
    if (await findAccount(trx, handle)) throw new DomainError('conflict', `account '${handle}' already exists`);
    const now = Date.now();
    const account: Account = {
      id: newId('acc', now),
      handle,
      identity_status: input.verified ? 'verified' : 'unverified',
      identity_subject: input.verified ? (input.subject ?? `local:${handle}`) : null,
      identity_method: input.verified ? methodOf(actor) : null,
      identity_changed_at: input.verified ? now : null,
      created_at: now,
      age_over: null,
      age_source: null,
      age_checked_at: null,
    };
    await trx.insertInto('accounts').values(account).execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.create',
      targetType: 'account',
      targetId: handle,
      reason: input.reason ?? null,
      detail: { verified: !!input.verified },
      at: now,
    });
    await touchGate(trx, account.id, now);
    return account;
  });
}

function methodOf(actor: Actor): string {
  return actor.id.startsWith('webhook:') ? actor.id : actor.id === 'demo' ? 'demo' : 'operator';
}

/**
 * Sets an account's identity status. Verification records the provider's subject (the person); revocation
 * keeps the subject on record so suspensions of that person still bind.
 */
export async function setIdentity(
  db: Kysely<Database>,
  actor: Actor,
  handle: string,
  change: { status: IdentityStatus; subject?: string | null; reason?: string | null; age?: AgeClaim },
): Promise<{ before: Account; after: Account }> {
  return db.transaction().execute(async (trx) => {
    const before = await getAccount(trx, handle);
    const now = Date.now();
    const subject =
      change.subject !== undefined && change.subject !== null
        ? change.subject
        : (before.identity_subject ?? (change.status === 'verified' ? `local:${handle}` : null));
    // A new age claim replaces the old one; an event without one keeps what is on record.
    const age = change.age ? { age_over: change.age.over, age_source: change.age.source, age_checked_at: change.age.checkedAt } : {};
    await trx
      .updateTable('accounts')
      .set({ identity_status: change.status, identity_subject: subject, identity_method: methodOf(actor), identity_changed_at: now, ...age })
      .where('id', '=', before.id)
      .execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: `account.identity.${change.status}`,
      targetType: 'account',
      targetId: handle,
      reason: change.reason ?? null,
      detail: {
        from: before.identity_status,
        to: change.status,
        subject,
        ...(change.age ? { ageOver: change.age.over, ageSource: change.age.source, ageCheckedAt: change.age.checkedAt } : {}),
      },
      at: now,
    });
    await touchGate(trx, before.id, now);
    const after = { ...before, identity_status: change.status, identity_subject: subject, identity_method: methodOf(actor), identity_changed_at: now, ...age };
    return { before, after };
  });
}

export async function listAccounts(db: Kysely<Database>): Promise<Account[]> {
  return db.selectFrom('accounts').selectAll().orderBy('handle').execute();
}
