import type { Kysely } from 'kysely';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, EntryQuarantine } from '../store/schema.ts';
import { recordBankChange } from './store.ts';

/**
 * Quarantined bank entries and the moderators' queue of them. A quarantined entry still matches and its
 * matches are stored (as `hash_suppressed` signals, classifiers/hash-matcher.ts) but cut nothing, until a
 * moderator clears it (matching again; a cleared flood is exempt from the flood guard from then on) or
 * removes it (the entry disabled). Reasons: `flood` (the flood guard, gateway/banks/flood-guard.ts) and
 * `partner_opinion` (a partner deconfirmed an entry we served it, gateway/exchanges/opinions.ts).
 */

export type QuarantineReason = 'flood' | 'partner_opinion';

/** Marks the entry and its derived crops, and records the change for every live index. */
async function markEntry(
  trx: Kysely<Database>,
  bank: string,
  entryId: string,
  set: { quarantined?: number; flood_exempt?: number; enabled?: number },
  now: number,
) {
  const rows = await trx
    .updateTable('bank_entries')
    .set(set)
    .where((eb) => eb.or([eb('id', '=', entryId), eb('derived_from', '=', entryId)]))
    .where('bank', '=', bank)
    .returning('id')
    .execute();
  for (const r of rows) await recordBankChange(trx, bank, r.id, now);
  return rows.length;
}

/** Opens a quarantine of the entry (one open at a time: a second reason joins the open one's audit only). */
export async function quarantineEntry(
  db: Kysely<Database>,
  q: { entryId: string; reason: QuarantineReason; detail: Record<string, unknown>; actor: string },
  now = Date.now(),
): Promise<{ quarantine: EntryQuarantine; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const entry = await trx.selectFrom('bank_entries').select(['id', 'bank', 'derived_from']).where('id', '=', q.entryId).executeTakeFirst();
    if (!entry) throw notFound(`entry '${q.entryId}'`);
    if (entry.derived_from !== null) throw new DomainError('invalid', 'a derived entry is quarantined with the entry it was cut from');
    const open = await trx.selectFrom('entry_quarantines').selectAll().where('entry_id', '=', q.entryId).where('status', '=', 'open').executeTakeFirst();
    await appendAudit(trx, {
      actor: q.actor,
      action: 'bank.entry.quarantine',
      targetType: 'bank',
      targetId: entry.bank,
      detail: { entryId: q.entryId, reason: q.reason, ...q.detail, ...(open ? { alreadyOpen: open.id } : {}) },
      at: now,
    });
    if (open) return { quarantine: open, created: false };
    const row: EntryQuarantine = {
      id: newId('qtn', now),
      entry_id: q.entryId,
      bank: entry.bank,
      reason: q.reason,
      detail: JSON.stringify(q.detail),
      at: now,
      status: 'open',
      handled_by: null,
      handled_at: null,
      handle_reason: null,
    };
    await trx.insertInto('entry_quarantines').values(row).execute();
    await markEntry(trx, entry.bank, q.entryId, { quarantined: 1 }, now);
    return { quarantine: row, created: true };
  });
}

export async function listQuarantines(db: Kysely<Database>, status: 'open' | 'cleared' | 'removed' | 'all' = 'open', limit = 200): Promise<EntryQuarantine[]> {
  let q = db.selectFrom('entry_quarantines').selectAll().orderBy('at', 'desc').limit(limit);
  if (status !== 'all') q = q.where('status', '=', status);
  return q.execute();
}

/**
 * A moderator's verdict on an open quarantine: `clear` (a false alarm: the entry matches and acts again, and
 * a cleared flood is not quarantined by the flood guard again) or `remove` (the entry is disabled).
 */
export async function resolveQuarantine(
  db: Kysely<Database>,
  actor: string,
  id: string,
  verdict: 'clear' | 'remove',
  reason: string | null,
  now = Date.now(),
): Promise<EntryQuarantine> {
  return db.transaction().execute(async (trx) => {
    const q = await trx.selectFrom('entry_quarantines').selectAll().where('id', '=', id).executeTakeFirst();
    if (!q) throw notFound(`quarantine '${id}'`);
    if (q.status !== 'open') throw new DomainError('conflict', `quarantine '${id}' is already ${q.status}`);
    const status = verdict === 'clear' ? 'cleared' : 'removed';
    await trx.updateTable('entry_quarantines').set({ status, handled_by: actor, handled_at: now, handle_reason: reason }).where('id', '=', id).execute();
    if (verdict === 'clear') await markEntry(trx, q.bank, q.entry_id, { quarantined: 0, ...(q.reason === 'flood' ? { flood_exempt: 1 } : {}) }, now);
    else await markEntry(trx, q.bank, q.entry_id, { enabled: 0, quarantined: 0 }, now);
    await appendAudit(trx, {
      actor,
      action: verdict === 'clear' ? 'bank.entry.quarantine.clear' : 'bank.entry.quarantine.remove',
      targetType: 'bank',
      targetId: q.bank,
      reason,
      detail: { entryId: q.entry_id, quarantine: id, quarantineReason: q.reason },
      at: now,
    });
    return { ...q, status, handled_by: actor, handled_at: now, handle_reason: reason };
  });
}
