import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Integer content ids for HMA-compatible routes (`bank_content_id`), one per entry, handed out on first use. */
export async function contentIds(db: Kysely<Database>, entryIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (entryIds.length === 0) return out;
  const unique = [...new Set(entryIds)];
  await db
    .insertInto('hma_content_ids')
    .values(unique.map((entry_id) => ({ entry_id })))
    .onConflict((oc) => oc.column('entry_id').doNothing())
    .execute();
  const rows = await db.selectFrom('hma_content_ids').select(['id', 'entry_id']).where('entry_id', 'in', unique).execute();
  for (const r of rows) out.set(r.entry_id, Number(r.id));
  return out;
}
