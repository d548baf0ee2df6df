import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit, touchGate } from '../store/audit.ts';
import type { Database, PersonBan } from '../store/schema.ts';
import { getAccount, type Actor } from './accounts.ts';
import type { GateBan } from './gate.ts';

/**
 * Bans of a person from live streaming: a court order (France's SREN law lets a judge ban a person from a
 * platform for up to six months) or the platform's own decision. A ban is bound to the verified identity
 * subject, not to an account: it refuses every account of that person, including accounts created or
 * verified after the ban, because the gate loads the bans of each account's subject whenever the account
 * changes (verification appends to the gate change feed like every other gate write).
 */

export interface BanInput {
  /** The person: an identity subject, or an account handle whose subject is taken. */
  subject?: string;
  handle?: string;
  kind: 'court_order' | 'platform';
  legalReference?: string | null;
  authority?: string | null;
  reason: string;
  /** What the person was banned for (a bank or strike category such as `violent-extremism`), for the statements of reasons. */
  category?: string | null;
  /** Omitted: until lifted. */
  endsAt?: number | null;
  startsAt?: number;
}

export function isBanActive(b: Pick<PersonBan, 'starts_at' | 'ends_at' | 'lifted_at'>, now: number): boolean {
  return b.lifted_at === null && b.starts_at <= now && (b.ends_at === null || b.ends_at > now);
}

/** Every account of the person, touched in the gate change feed so each node reloads their bans. */
async function touchPerson(trx: Kysely<Database>, subject: string, now: number): Promise<string[]> {
  const accounts = await trx.selectFrom('accounts').select('id').where('identity_subject', '=', subject).execute();
  for (const a of accounts) await touchGate(trx, a.id, now);
  return accounts.map((a) => a.id);
}

export async function addBan(db: Kysely<Database>, actor: Actor, input: BanInput, now = Date.now()): Promise<{ ban: PersonBan; accountIds: string[] }> {
  if (input.kind === 'court_order' && !input.legalReference) throw new DomainError('invalid', 'a court-ordered ban needs its legal reference');
  if (input.endsAt != null && input.endsAt <= (input.startsAt ?? now)) throw new DomainError('invalid', 'a ban must end after it starts');
  return db.transaction().execute(async (trx) => {
    let subject = input.subject ?? null;
    if (!subject) {
      if (!input.handle) throw new DomainError('invalid', 'name the person: subject or handle');
      const account = await getAccount(trx, input.handle);
      if (!account.identity_subject) throw new DomainError('invalid', `account '${input.handle}' has no verified identity subject to ban`);
      subject = account.identity_subject;
    }
    const ban: PersonBan = {
      id: newId('ban', now),
      identity_subject: subject,
      kind: input.kind,
      legal_reference: input.legalReference ?? null,
      authority: input.authority ?? null,
      reason: input.reason,
      starts_at: input.startsAt ?? now,
      ends_at: input.endsAt ?? null,
      created_by: actor.id,
      created_at: now,
      lifted_at: null,
      lifted_by: null,
      lift_reason: null,
      category: input.category ?? null,
    };
    await trx.insertInto('person_bans').values(ban).execute();
    const accountIds = await touchPerson(trx, subject, now);
    await appendAudit(trx, {
      actor: actor.id,
      action: 'person.ban',
      targetType: 'person',
      targetId: subject,
      reason: input.reason,
      detail: {
        banId: ban.id,
        kind: ban.kind,
        legalReference: ban.legal_reference,
        authority: ban.authority,
        category: ban.category,
        endsAt: ban.ends_at,
        accounts: accountIds.length,
      },
      at: now,
    });
    return { ban, accountIds };
  });
}

export async function liftBan(
  db: Kysely<Database>,
  actor: Actor,
  id: string,
  reason: string,
  now = Date.now(),
): Promise<{ ban: PersonBan; accountIds: string[] }> {
  // Inside a caller's transaction too (an appeal overturned lifts the ban and closes the appeal in one).
  const run = async (trx: Kysely<Database>) => {
    const ban = await trx.selectFrom('person_bans').selectAll().where('id', '=', id).executeTakeFirst();
    if (!ban) throw notFound(`ban '${id}'`);
    if (ban.lifted_at !== null) throw new DomainError('conflict', `ban '${id}' was already lifted`);
    await trx.updateTable('person_bans').set({ lifted_at: now, lifted_by: actor.id, lift_reason: reason }).where('id', '=', id).execute();
    const accountIds = await touchPerson(trx, ban.identity_subject, now);
    await appendAudit(trx, {
      actor: actor.id,
      action: 'person.ban.lift',
      targetType: 'person',
      targetId: ban.identity_subject,
      reason,
      detail: { banId: id },
      at: now,
    });
    return { ban: { ...ban, lifted_at: now, lifted_by: actor.id, lift_reason: reason }, accountIds };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

export async function listBans(db: Kysely<Database>, q: { subject?: string; includeLifted?: boolean } = {}): Promise<PersonBan[]> {
  let query = db.selectFrom('person_bans').selectAll();
  if (q.subject) query = query.where('identity_subject', '=', q.subject);
  if (!q.includeLifted) query = query.where('lifted_at', 'is', null);
  return query.orderBy('created_at', 'desc').limit(1000).execute();
}

/** The unlifted bans of these people, as the gate holds them. */
export async function loadBans(db: Kysely<Database>, subjects: readonly string[]): Promise<GateBan[]> {
  if (subjects.length === 0) return [];
  const rows = await db.selectFrom('person_bans').selectAll().where('identity_subject', 'in', subjects).where('lifted_at', 'is', null).execute();
  return rows.map((b) => ({
    id: b.id,
    subject: b.identity_subject,
    kind: b.kind,
    legalReference: b.legal_reference,
    startsAt: b.starts_at,
    endsAt: b.ends_at,
    reason: b.reason,
  }));
}
