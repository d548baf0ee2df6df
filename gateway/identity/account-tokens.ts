import type { Kysely, Selectable } from 'kysely';
import { newAccountToken, newId, safeEqualHex, sha256Hex } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Account, AccountTokensTable, Database } from '../store/schema.ts';
import { getAccount, type Actor } from './accounts.ts';

/**
 * Streamer-facing tokens (`at_…`): they let an account read its own status and file appeals, nothing else.
 * One live token per account: issuing a new one revokes the old. Shown once, stored as a SHA-256 hash like
 * stream keys and admin tokens.
 */

export type AccountToken = Selectable<AccountTokensTable>;

export const ACCOUNT_TOKEN_RE = /^at_[A-Za-z0-9_-]{43}$/;

export async function issueAccountToken(
  db: Kysely<Database>,
  actor: Actor,
  handle: string,
): Promise<{ token: string; record: AccountToken; revoked: string[] }> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const now = Date.now();
    const live = await trx.selectFrom('account_tokens').select('id').where('account_id', '=', account.id).where('revoked_at', 'is', null).execute();
    if (live.length)
      await trx.updateTable('account_tokens').set({ revoked_at: now }).where('account_id', '=', account.id).where('revoked_at', 'is', null).execute();
    const token = newAccountToken();
    const record: AccountToken = { id: newId('atk', now), account_id: account.id, token_hash: sha256Hex(token), created_at: now, revoked_at: null };
    await trx.insertInto('account_tokens').values(record).execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.token.issue',
      targetType: 'account',
      targetId: handle,
      detail: { tokenId: record.id, revoked: live.map((t) => t.id) },
      at: now,
    });
    return { token, record, revoked: live.map((t) => t.id) };
  });
}

/** Revokes the account's live streamer token(s); returns the ids revoked (none is not an error). */
export async function revokeAccountTokens(db: Kysely<Database>, actor: Actor, handle: string, reason: string | null = null): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const now = Date.now();
    const live = await trx.selectFrom('account_tokens').select('id').where('account_id', '=', account.id).where('revoked_at', 'is', null).execute();
    if (live.length) {
      await trx.updateTable('account_tokens').set({ revoked_at: now }).where('account_id', '=', account.id).where('revoked_at', 'is', null).execute();
    }
    await appendAudit(trx, {
      actor: actor.id,
      action: 'account.token.revoke',
      targetType: 'account',
      targetId: handle,
      reason,
      detail: { revoked: live.map((t) => t.id) },
      at: now,
    });
    return live.map((t) => t.id);
  });
}

/**
 * The account a presented streamer token belongs to, or null (malformed, unknown or revoked). Looked up by
 * hash, so timing says nothing about the secret; the final comparison is constant-time anyway.
 */
export async function authenticateAccountToken(db: Kysely<Database>, presented: string): Promise<{ token: AccountToken; account: Account } | null> {
  if (!ACCOUNT_TOKEN_RE.test(presented)) return null;
  const hash = sha256Hex(presented);
  const token = await db.selectFrom('account_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  if (!token || token.revoked_at !== null || !safeEqualHex(token.token_hash, hash)) return null;
  const account = await db.selectFrom('accounts').selectAll().where('id', '=', token.account_id).executeTakeFirst();
  return account ? { token, account } : null;
}
