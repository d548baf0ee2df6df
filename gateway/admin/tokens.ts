import type { Kysely } from 'kysely';
import { notFound } from '../errors.ts';
import { newAdminToken, newId, safeEqualHex, sha256Hex } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { AdminToken, Database } from '../store/schema.ts';

/**
 * `authority`: a competent authority's token (a Member State's TCO authority, Europol's IRU): it may only
 * submit and read its own removal orders (gateway/accountability/orders).
 */
export type Role = 'moderator' | 'operator' | 'authority';

/** Operators can do everything moderators can (they run the platform); moderators cannot change policy or accounts' identity. */
export function roleAllows(held: Role, needed: Role): boolean {
  return held === 'operator' || held === needed;
}

export async function issueToken(db: Kysely<Database>, actor: string, name: string, role: Role): Promise<{ token: string; record: AdminToken }> {
  const token = newAdminToken();
  const now = Date.now();
  const record: AdminToken = { id: newId('tok', now), name, role, token_hash: sha256Hex(token), created_at: now, revoked_at: null, last_used_at: null };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('admin_tokens').values(record).execute();
    await appendAudit(trx, { actor, action: 'token.issue', targetType: 'token', targetId: record.id, detail: { name, role }, at: now });
  });
  return { token, record };
}

export async function revokeToken(db: Kysely<Database>, actor: string, idOrName: string): Promise<AdminToken[]> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('admin_tokens')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .where('revoked_at', 'is', null)
      .execute();
    if (rows.length === 0) throw notFound(`live token '${idOrName}'`);
    const now = Date.now();
    for (const r of rows) {
      await trx.updateTable('admin_tokens').set({ revoked_at: now }).where('id', '=', r.id).execute();
      await appendAudit(trx, { actor, action: 'token.revoke', targetType: 'token', targetId: r.id, detail: { name: r.name }, at: now });
    }
    return rows;
  });
}

/**
 * Looks a presented bearer token up by its hash. The lookup is by hash, so timing reveals nothing about the
 * secret; the final comparison is constant-time anyway.
 */
export async function authenticateToken(db: Kysely<Database>, presented: string): Promise<AdminToken | null> {
  if (!/^mg_[A-Za-z0-9_-]{43}$/.test(presented)) return null;
  const hash = sha256Hex(presented);
  const row = await db.selectFrom('admin_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  if (!row || row.revoked_at !== null || !safeEqualHex(row.token_hash, hash)) return null;
  return row;
}

export async function listTokens(db: Kysely<Database>): Promise<AdminToken[]> {
  return db.selectFrom('admin_tokens').selectAll().orderBy('created_at').execute();
}
