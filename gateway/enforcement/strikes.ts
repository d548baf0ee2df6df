import type { Kysely } from 'kysely';
import { getAccount, type Actor } from '../identity/accounts.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, Severity, StrikeRow } from '../store/schema.ts';

/**
 * A moderator records a strike by hand (e.g. a violation found in a report, not by a classifier). It binds
 * the person like a policy strike, so it counts toward the escalation ladder of every account of theirs.
 */
export async function addManualStrike(
  db: Kysely<Database>,
  actor: Actor,
  handle: string,
  input: { category: string; severity: Severity; reason: string; expiresInDays: number; streamId?: string | null },
): Promise<StrikeRow> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const now = Date.now();
    const strike: StrikeRow = {
      id: newId('stk', now),
      account_id: account.id,
      identity_subject: account.identity_subject,
      stream_id: input.streamId ?? null,
      decision_id: null,
      category: input.category,
      severity: input.severity,
      rule_id: 'manual',
      at: now,
      expires_at: now + input.expiresInDays * 86_400_000,
      voided_at: null,
      voided_by: null,
      void_reason: null,
    };
    await trx.insertInto('strikes').values(strike).execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'strike.add',
      targetType: 'account',
      targetId: handle,
      reason: input.reason,
      detail: { strikeId: strike.id, category: strike.category, severity: strike.severity, expiresAt: strike.expires_at },
      at: now,
    });
    return strike;
  });
}

/** Voids a strike (e.g. added in error); it no longer counts toward escalation. */
export async function voidStrike(db: Kysely<Database>, actor: Actor, strikeId: string, reason: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const now = Date.now();
    const res = await trx
      .updateTable('strikes')
      .set({ voided_at: now, voided_by: actor.id, void_reason: reason })
      .where('id', '=', strikeId)
      .where('voided_at', 'is', null)
      .executeTakeFirst();
    const n = Number(res.numUpdatedRows);
    if (n > 0) await appendAudit(trx, { actor: actor.id, action: 'strike.void', targetType: 'strike', targetId: strikeId, reason, at: now });
    return n;
  });
}

export async function strikesOf(db: Kysely<Database>, accountId: string): Promise<StrikeRow[]> {
  return db.selectFrom('strikes').selectAll().where('account_id', '=', accountId).orderBy('at', 'desc').execute();
}
