import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * What a bank entry was hashed from, as a small JPEG (0060_bank_entry_pictures): the picture banked with
 * `bank add-picture`, or the evidence frame of a decision a moderator confirmed into the `confirmed` bank.
 * Entries imported from hash lists have none: the list carries hashes only, as hash-sharing lists do.
 */

export const PICTURE_MAX_WIDTH = 320;

export interface EntryPicture {
  jpeg: Buffer;
  width: number;
  height: number;
  origin: string;
}

/** Keeps the picture of an entry; a second one for the same entry is ignored (the first is what was banked). */
export async function saveEntryPicture(db: Kysely<Database>, entryId: string, p: EntryPicture, now = Date.now()): Promise<void> {
  await db
    .insertInto('bank_entry_pictures')
    .values({ entry_id: entryId, jpeg: p.jpeg, width: p.width, height: p.height, origin: p.origin, created_at: now })
    .onConflict((oc) => oc.column('entry_id').doNothing())
    .execute();
}

export async function entryPicture(db: Kysely<Database>, entryId: string): Promise<EntryPicture | null> {
  const row = await db.selectFrom('bank_entry_pictures').select(['jpeg', 'width', 'height', 'origin']).where('entry_id', '=', entryId).executeTakeFirst();
  return row ? { ...row, jpeg: Buffer.from(row.jpeg) } : null;
}

/** Which of these entries have a picture (for a page of entries). */
export async function entriesWithPictures(db: Kysely<Database>, entryIds: readonly string[]): Promise<Set<string>> {
  if (entryIds.length === 0) return new Set();
  const rows = await db.selectFrom('bank_entry_pictures').select('entry_id').where('entry_id', 'in', entryIds).execute();
  return new Set(rows.map((r) => r.entry_id));
}

/** Width and height from a baseline or progressive JPEG's frame header; null when the bytes are not a JPEG. */
export function jpegSize(b: Buffer): { width: number; height: number } | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    const len = b.readUInt16BE(i + 2);
    // SOF0..SOF15 carry the size, except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  return null;
}

/**
 * After a confirmation added a decision's evidence hashes to a bank: each new entry gets the evidence frame
 * it was hashed from as its picture (matched by the frame's PDQ hash in the evidence facts).
 */
export async function pictureConfirmedEntries(
  db: Kysely<Database>,
  bank: string,
  decisionId: string,
  refs: readonly string[],
  read: (ref: string) => Promise<{ jpeg: Buffer; facts: unknown } | null>,
): Promise<number> {
  const entries = await db.selectFrom('bank_entries').select(['id', 'hash']).where('bank', '=', bank).where('source', '=', `decision:${decisionId}`).execute();
  const byHash = new Map(entries.map((e) => [e.hash, e.id]));
  let saved = 0;
  for (const ref of refs) {
    const found = await read(ref);
    const hash = (found?.facts as { pdq?: { hash?: string } | null } | undefined)?.pdq?.hash;
    const id = hash ? byHash.get(hash) : undefined;
    const size = found ? jpegSize(found.jpeg) : null;
    if (!found || !id || !size) continue;
    await saveEntryPicture(db, id, { jpeg: found.jpeg, ...size, origin: `decision:${decisionId}` });
    byHash.delete(hash!);
    saved++;
  }
  return saved;
}
