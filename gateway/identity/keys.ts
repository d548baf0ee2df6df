import type { Kysely } from 'kysely';
import { notFound } from '../errors.ts';
import { newId, newStreamKey, sha256Hex } from '../security/secrets.ts';
import { appendAudit, touchGate } from '../store/audit.ts';
import type { Database, StreamKey } from '../store/schema.ts';
import { getAccount, type Actor } from './accounts.ts';

/** Issues a new stream key; the plaintext is returned once and only its hash is stored. */
export async function issueKey(db: Kysely<Database>, actor: Actor, handle: string): Promise<{ key: string; record: StreamKey }> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    const key = newStreamKey();
    const now = Date.now();
    const record: StreamKey = {
      id: newId('key', now),
      account_id: account.id,
      key_hash: sha256Hex(key),
      key_prefix: key.slice(0, 8),
      created_at: now,
      revoked_at: null,
      last_used_at: null,
    };
    await trx.insertInto('stream_keys').values(record).execute();
    await appendAudit(trx, {
      actor: actor.id,
      action: 'key.issue',
      targetType: 'account',
      targetId: handle,
      detail: { keyId: record.id, prefix: record.key_prefix },
      at: now,
    });
    await touchGate(trx, account.id, now);
    return { key, record };
  });
}

/** Revokes one key by id, or every live key of the account when no id is given. */
export async function revokeKeys(
  db: Kysely<Database>,
  actor: Actor,
  handle: string,
  opts: { keyId?: string; reason?: string | null } = {},
): Promise<StreamKey[]> {
  return db.transaction().execute(async (trx) => {
    const account = await getAccount(trx, handle);
    let q = trx.selectFrom('stream_keys').selectAll().where('account_id', '=', account.id).where('revoked_at', 'is', null);
    if (opts.keyId) q = q.where('id', '=', opts.keyId);
    const keys = await q.execute();
    if (opts.keyId && keys.length === 0) throw notFound(`live key '${opts.keyId}' of '${handle}'`);
    const now = Date.now();
    for (const k of keys) {
      await trx.updateTable('stream_keys').set({ revoked_at: now }).where('id', '=', k.id).execute();
    }
    await appendAudit(trx, {
      actor: actor.id,
      action: 'key.revoke',
      targetType: 'account',
      targetId: handle,
      reason: opts.reason ?? null,
      detail: { keyIds: keys.map((k) => k.id) },
      at: now,
    });
    await touchGate(trx, account.id, now);
    return keys.map((k) => ({ ...k, revoked_at: now }));
  });
}

export async function listKeys(db: Kysely<Database>, handle: string): Promise<StreamKey[]> {
  const account = await getAccount(db, handle);
  return db.selectFrom('stream_keys').selectAll().where('account_id', '=', account.id).orderBy('created_at').execute();
}
