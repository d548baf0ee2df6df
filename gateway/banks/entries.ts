import { sql, type Kysely } from 'kysely';
import { notFound } from '../errors.ts';
import { likeText } from '../store/like.ts';
import type { BankEntry, Database } from '../store/schema.ts';
import { getBank } from './manage.ts';

/**
 * Reading a bank's entries a page at a time (the console's bank screen, the review screen's matched entry).
 * Derived entries (crops of an entry, gateway/banks/derive.ts) are counted with their entry, not listed.
 */

export interface EntryQuery {
  /** Entries with an id after this one (the previous page's `next`). */
  after?: string;
  limit: number;
  /** A hash prefix (hex), or text found in the note or source (case-insensitive). */
  q?: string;
  enabled?: boolean;
}

export type EntryRow = BankEntry & { derived: number };

export async function listEntries(db: Kysely<Database>, bank: string, q: EntryQuery): Promise<{ entries: EntryRow[]; next: string | null }> {
  await getBank(db, bank);
  let query = db.selectFrom('bank_entries').selectAll().where('bank', '=', bank).where('derived_from', 'is', null);
  if (q.after) query = query.where('id', '>', q.after);
  if (q.enabled !== undefined) query = query.where('enabled', '=', q.enabled ? 1 : 0);
  const text = q.q?.trim();
  if (text) {
    const contains = `%${likeText(text.toLowerCase())}%`;
    const hex = /^[0-9a-fA-F]{1,64}$/.test(text) ? `${text.toLowerCase()}%` : null;
    query = query.where((eb) =>
      eb.or([
        ...(hex ? [eb('hash', 'like', hex)] : []),
        eb(sql<string>`lower(coalesce(note, ''))`, 'like', sql<string>`${contains} escape '\\'`),
        eb(sql<string>`lower(coalesce(source, ''))`, 'like', sql<string>`${contains} escape '\\'`),
      ]),
    );
  }
  const rows = await query
    .orderBy('id')
    .limit(q.limit + 1)
    .execute();
  const page = rows.slice(0, q.limit);
  const derived = await derivedCounts(
    db,
    page.map((r) => r.id),
  );
  return { entries: page.map((r) => ({ ...r, derived: derived.get(r.id) ?? 0 })), next: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

export async function getEntry(db: Kysely<Database>, bank: string, id: string): Promise<EntryRow> {
  const row = await db.selectFrom('bank_entries').selectAll().where('bank', '=', bank).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`entry '${id}' in bank '${bank}'`);
  return { ...row, derived: (await derivedCounts(db, [id])).get(id) ?? 0 };
}

async function derivedCounts(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('bank_entries')
    .select((eb) => ['derived_from', eb.fn.countAll<number>().as('n')])
    .where('derived_from', 'in', ids)
    .groupBy('derived_from')
    .execute();
  return new Map(rows.map((r) => [r.derived_from!, Number(r.n)]));
}
