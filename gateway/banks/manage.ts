import type { Kysely } from 'kysely';
import { isPdqHex } from '../../classifiers/pdq.ts';
import { DomainError, notFound } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Bank, BankEntry, Database } from '../store/schema.ts';
import { CreateBankSchema, type CreateBank, type NewEntry } from './schema.ts';
import { insertEntries } from './insert.ts';
import { recordBankChange } from './store.ts';

/**
 * Banks of known violating content: named lists of PDQ hashes with category and severity. Every change is
 * audited and recorded in the change feed (gateway/banks/store.ts) in the same transaction, which each
 * gateway's live index follows, so an insert matches live frames within a second.
 */

export async function createBank(db: Kysely<Database>, actor: string, input: CreateBank): Promise<Bank> {
  const b = CreateBankSchema.parse(input);
  return db.transaction().execute(async (trx) => {
    if (await trx.selectFrom('banks').select('name').where('name', '=', b.name).executeTakeFirst())
      throw new DomainError('conflict', `bank '${b.name}' already exists`);
    const now = Date.now();
    const bank: Bank = {
      name: b.name,
      description: b.description ?? null,
      default_category: b.category,
      default_severity: b.severity,
      radius: b.radius,
      enabled: 1,
      created_at: now,
      created_by: actor,
      kind: b.kind,
      matching_enabled_ratio: b.matchingEnabledRatio,
    };
    await trx.insertInto('banks').values(bank).execute();
    await appendAudit(trx, {
      actor,
      action: 'bank.create',
      targetType: 'bank',
      targetId: b.name,
      detail: { category: b.category, severity: b.severity, radius: b.radius, kind: b.kind, matchingEnabledRatio: b.matchingEnabledRatio },
      at: now,
    });
    await recordBankChange(trx, b.name, null, now);
    return bank;
  });
}

export async function getBank(db: Kysely<Database>, name: string): Promise<Bank> {
  const bank = await db.selectFrom('banks').selectAll().where('name', '=', name).executeTakeFirst();
  if (!bank) throw notFound(`bank '${name}'`);
  return bank;
}

export async function listBanks(db: Kysely<Database>): Promise<Array<Bank & { entries: number; enabledEntries: number }>> {
  const banks = await db.selectFrom('banks').selectAll().orderBy('name').execute();
  const counts = await db
    .selectFrom('bank_entries')
    .select((eb) => ['bank', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('enabled').as('on')])
    .where('derived_from', 'is', null)
    .groupBy('bank')
    .execute();
  const byBank = new Map(counts.map((c) => [c.bank, c]));
  return banks.map((b) => ({ ...b, entries: Number(byBank.get(b.name)?.n ?? 0), enabledEntries: Number(byBank.get(b.name)?.on ?? 0) }));
}

export async function setBankEnabled(db: Kysely<Database>, actor: string, name: string, enabled: boolean, reason: string | null): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await getBank(trx, name);
    const now = Date.now();
    await trx
      .updateTable('banks')
      .set({ enabled: enabled ? 1 : 0 })
      .where('name', '=', name)
      .execute();
    await appendAudit(trx, { actor, action: enabled ? 'bank.enable' : 'bank.disable', targetType: 'bank', targetId: name, reason, at: now });
    await recordBankChange(trx, name, null, now);
  });
}

/** Sets a bank's matching_enabled_ratio (HMA's gradual rollout); audited, applied to live matching through the change feed. */
export async function setBankRatio(db: Kysely<Database>, actor: string, name: string, ratio: number): Promise<Bank> {
  if (!(ratio >= 0 && ratio <= 1)) throw new DomainError('invalid', 'matching_enabled_ratio is between 0 and 1');
  return db.transaction().execute(async (trx) => {
    const before = await getBank(trx, name);
    const now = Date.now();
    await trx.updateTable('banks').set({ matching_enabled_ratio: ratio }).where('name', '=', name).execute();
    await appendAudit(trx, {
      actor,
      action: 'bank.ratio',
      targetType: 'bank',
      targetId: name,
      detail: { from: before.matching_enabled_ratio, to: ratio },
      at: now,
    });
    await recordBankChange(trx, name, null, now);
    return { ...before, matching_enabled_ratio: ratio };
  });
}

/**
 * An entry's stored fields: the hash validated and lowercased, the bank's defaults filled in. `n` numbers
 * the entry (from 1) in errors.
 */
export function entryFields(e: NewEntry, n: number, bank: Bank, source: string | undefined) {
  const hash = e.hash.toLowerCase();
  if (!isPdqHex(hash)) throw new DomainError('invalid', `entry ${n}: not a 64-hex PDQ hash`);
  return {
    hash,
    category: e.category ?? bank.default_category,
    severity: e.severity ?? bank.default_severity,
    source: e.source ?? source ?? null,
    note: e.note ?? null,
  };
}

/**
 * Adds entries in one transaction (all or nothing). Re-adding a hash already in the bank is a no-op, so
 * importing the same list twice is idempotent. Returns how many were new. For hash lists of millions of
 * lines, importEntries (gateway/banks/bulk-import.ts) has the same contract at a fraction of the CPU.
 */
export async function addEntries(
  db: Kysely<Database>,
  actor: string,
  bankName: string,
  entries: readonly NewEntry[],
  opts: { source?: string; onProgress?: (done: number) => void } = {},
): Promise<{ added: number; duplicates: number; ids: string[] }> {
  return db.transaction().execute(async (trx) => {
    const bank = await getBank(trx, bankName);
    const now = Date.now();
    const fields = entries.map((e, i) => entryFields(e, i + 1, bank, opts.source));
    const { inserted: ids } = await insertEntries(trx, bankName, fields, {
      addedBy: actor,
      at: now,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    await recordAdded(trx, { actor, bank: bankName, ids, offered: entries.length, source: opts.source ?? null, at: now });
    return { added: ids.length, duplicates: entries.length - ids.length, ids };
  });
}

/**
 * The audit record and change-feed record of entries just added (call inside the write's transaction):
 * one entry is an entry-level change (cheap to apply), more a bank-level one (the bank is reloaded once).
 */
export async function recordAdded(
  trx: Kysely<Database>,
  a: { actor: string; bank: string; ids: readonly string[]; offered: number; source: string | null; at: number; detail?: Record<string, unknown> },
): Promise<void> {
  const added = a.ids.length;
  await appendAudit(trx, {
    actor: a.actor,
    action: 'bank.entries.add',
    targetType: 'bank',
    targetId: a.bank,
    detail: { added, duplicates: a.offered - added, source: a.source, ...a.detail },
    at: a.at,
  });
  if (added === 1) await recordBankChange(trx, a.bank, a.ids[0]!, a.at);
  else if (added > 1) await recordBankChange(trx, a.bank, null, a.at);
}

export async function setEntryEnabled(
  db: Kysely<Database>,
  actor: string,
  bankName: string,
  entryId: string,
  enabled: boolean,
  reason: string | null,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('bank_entries')
      .set({ enabled: enabled ? 1 : 0 })
      .where('id', '=', entryId)
      .where('bank', '=', bankName)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw notFound(`entry '${entryId}' in bank '${bankName}'`);
    const now = Date.now();
    await appendAudit(trx, {
      actor,
      action: enabled ? 'bank.entry.enable' : 'bank.entry.disable',
      targetType: 'bank',
      targetId: bankName,
      reason,
      detail: { entryId },
      at: now,
    });
    await recordBankChange(trx, bankName, entryId, now);
    // The entry's derived regions (gateway/banks/derive.ts) follow it: a disabled picture matches by no crop either.
    const derived = await trx
      .updateTable('bank_entries')
      .set({ enabled: enabled ? 1 : 0 })
      .where('bank', '=', bankName)
      .where('derived_from', '=', entryId)
      .returning('id')
      .execute();
    for (const d of derived) await recordBankChange(trx, bankName, d.id, now);
  });
}

export async function* exportEntries(db: Kysely<Database>, bankName: string, includeDisabled = false): AsyncGenerator<BankEntry> {
  await getBank(db, bankName);
  let after = '';
  for (;;) {
    // Derived entries (crops of an entry) stay home: an exported list is of the content itself.
    let q = db
      .selectFrom('bank_entries')
      .selectAll()
      .where('bank', '=', bankName)
      .where('derived_from', 'is', null)
      .where('id', '>', after)
      .orderBy('id')
      .limit(5000);
    if (!includeDisabled) q = q.where('enabled', '=', 1);
    const rows = await q.execute();
    for (const r of rows) yield r;
    if (rows.length < 5000) return;
    after = rows[rows.length - 1]!.id;
  }
}
