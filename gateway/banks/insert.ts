import type { Kysely } from 'kysely';
import { newId } from '../security/secrets.ts';
import type { BankEntry, Database, NewBankEntry } from '../store/schema.ts';

/**
 * The one batch insert of base bank entries (not derived crops), shared by operators' adds
 * (gateway/banks/manage.ts) and exchange pages (gateway/exchanges/apply.ts). Call inside the write's
 * transaction; the caller audits and records the bank change (one entry: entry-level; more: bank-level).
 */

export interface EntryFields {
  hash: string;
  category: string;
  severity: BankEntry['severity'];
  source: string | null;
  note: string | null;
}

/** Rows per multi-row insert: far below SQLite's and PostgreSQL's bound-parameter limits (12 columns). */
export const INSERT_BATCH = 500;

export interface InsertOptions {
  addedBy: string;
  at: number;
  /** Re-enable a base entry of the same hash that was disabled (an exchange lists a deleted hash again). */
  revive?: boolean;
  /** Called after each batch with how many of `entries` are done. */
  onProgress?: (done: number) => void;
}

/**
 * Inserts `entries` into `bank`; a hash already there is left as it is (or re-enabled with `revive`).
 * Returns the ids of new entries and of revived ones, in batch order.
 */
export async function insertEntries(
  trx: Kysely<Database>,
  bank: string,
  entries: readonly EntryFields[],
  opts: InsertOptions,
): Promise<{ inserted: string[]; revived: string[] }> {
  const inserted: string[] = [];
  const revived: string[] = [];
  for (let i = 0; i < entries.length; i += INSERT_BATCH) {
    const slice = entries.slice(i, i + INSERT_BATCH);
    const rows: NewBankEntry[] = slice.map((e) => ({
      id: newId('bke', opts.at),
      bank,
      hash: e.hash,
      category: e.category,
      severity: e.severity,
      source: e.source,
      note: e.note,
      added_by: opts.addedBy,
      added_at: opts.at,
      enabled: 1,
      derived_from: null,
      region: null,
      signal_type: 'pdq',
    }));
    const fresh = await trx
      .insertInto('bank_entries')
      .values(rows)
      .onConflict((oc) => oc.columns(['bank', 'hash']).doNothing())
      .returning('id')
      .execute();
    for (const r of fresh) inserted.push(r.id);
    if (opts.revive) {
      const back = await trx
        .updateTable('bank_entries')
        .set({ enabled: 1 })
        .where('bank', '=', bank)
        .where('derived_from', 'is', null)
        .where('enabled', '=', 0)
        // A hash our moderators deconfirmed stays off whatever its exchange lists.
        .where((eb) => eb.or([eb('opinion', 'is', null), eb('opinion', '!=', 'deconfirmed')]))
        .where(
          'hash',
          'in',
          slice.map((e) => e.hash),
        )
        .returning('id')
        .execute();
      for (const r of back) revived.push(r.id);
    }
    opts.onProgress?.(Math.min(i + INSERT_BATCH, entries.length));
  }
  return { inserted, revived };
}
