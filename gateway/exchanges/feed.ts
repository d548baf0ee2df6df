import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { FeedPage } from './feed-format.ts';

/**
 * This gateway's feed for partners, read from the banks' change feed (bank_changes): a checkpoint `S`
 * means every change up to sequence S was delivered; `S.ID` means changes before S were, and change S up
 * to entry ID (a bank-level change larger than a page). An entry-level change is that entry's current
 * state (enabled: an upsert; disabled: a tombstone); a bank-level change (a bulk import, the bank disabled
 * or re-enabled) is the bank's whole current state, paged, which a partner applies idempotently.
 * Derived entries (crops of banked content, gateway/banks/derive.ts) stay home: a partner derives its own.
 *
 * Limitation: on PostgreSQL, sequence numbers do not commit in order; a change committed late with a
 * lower sequence than one already served is missed until the bank's next bank-level change.
 */

const CHANGES_PER_PAGE = 1000;

export function parseCheckpoint(cp: string | undefined): { seq: number; after: string | null } | null {
  if (cp === undefined || cp === '' || cp === '0') return { seq: 0, after: null };
  const m = /^(\d{1,15})(?:\.([A-Za-z0-9_]{1,64}))?$/.exec(cp);
  if (!m) return null;
  return { seq: Number(m[1]), after: m[2] ?? null };
}

export async function latestSeq(db: Kysely<Database>, banks: readonly string[]): Promise<number> {
  if (banks.length === 0) return 0;
  const r = await db
    .selectFrom('bank_changes')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('bank', 'in', banks)
    .executeTakeFirst();
  return Number(r?.seq ?? 0);
}

export async function readFeed(db: Kysely<Database>, banks: readonly string[], from: { seq: number; after: string | null }, limit = 500): Promise<FeedPage> {
  const deltas: FeedPage['deltas'] = [];
  if (banks.length === 0) return { checkpoint: String(from.seq), more: false, deltas };
  const bankRows = await db.selectFrom('banks').select(['name', 'enabled']).where('name', 'in', banks).execute();
  const bankOn = new Map(bankRows.map((b) => [b.name, b.enabled === 1]));

  /** Pages through a bank's entries after `after`; returns the last id when the page filled first. */
  const snapshot = async (bank: string, after: string): Promise<string | null> => {
    let cursor = after;
    for (;;) {
      const room = limit - deltas.length;
      if (room <= 0) return cursor;
      const rows = await db
        .selectFrom('bank_entries')
        .select(['id', 'hash', 'category', 'severity', 'enabled'])
        .where('bank', '=', bank)
        .where('derived_from', 'is', null)
        .where('id', '>', cursor)
        .orderBy('id')
        .limit(room)
        .execute();
      for (const r of rows)
        deltas.push({
          key: `pdq:${r.hash}`,
          signal_type: 'pdq',
          hash: r.hash,
          bank,
          category: r.category,
          severity: r.severity,
          deleted: r.enabled !== 1 || bankOn.get(bank) !== true,
        });
      if (rows.length < room) return null;
      cursor = rows[rows.length - 1]!.id;
      if (deltas.length >= limit) {
        // Full: is there anything after the cursor?
        const more = await db
          .selectFrom('bank_entries')
          .select('id')
          .where('bank', '=', bank)
          .where('derived_from', 'is', null)
          .where('id', '>', cursor)
          .limit(1)
          .executeTakeFirst();
        return more ? cursor : null;
      }
    }
  };

  let seq = from.seq;
  if (from.after !== null) {
    const change = await db.selectFrom('bank_changes').select(['seq', 'bank']).where('seq', '=', from.seq).executeTakeFirst();
    if (change && banks.includes(change.bank)) {
      const stopped = await snapshot(change.bank, from.after);
      if (stopped !== null) return { checkpoint: `${from.seq}.${stopped}`, more: true, deltas };
    }
  }
  const changes = await db
    .selectFrom('bank_changes')
    .select(['seq', 'bank', 'entry_id'])
    .where('seq', '>', seq)
    .where('bank', 'in', banks)
    .orderBy('seq')
    .limit(CHANGES_PER_PAGE)
    .execute();
  // A bank reloaded later in this page makes its earlier entry-level changes redundant.
  const lastReload = new Map<string, number>();
  for (const c of changes) if (c.entry_id === null) lastReload.set(c.bank, Number(c.seq));
  for (const c of changes) {
    const cseq = Number(c.seq);
    const reloadAt = lastReload.get(c.bank);
    if (reloadAt !== undefined && cseq < reloadAt) {
      seq = cseq;
      continue;
    }
    if (c.entry_id === null) {
      const stopped = await snapshot(c.bank, '');
      if (stopped !== null) return { checkpoint: `${cseq}.${stopped}`, more: true, deltas };
    } else {
      const e = await db
        .selectFrom('bank_entries')
        .select(['hash', 'category', 'severity', 'enabled', 'derived_from'])
        .where('id', '=', c.entry_id)
        .executeTakeFirst();
      if (e && e.derived_from === null)
        deltas.push({
          key: `pdq:${e.hash}`,
          signal_type: 'pdq',
          hash: e.hash,
          bank: c.bank,
          category: e.category,
          severity: e.severity,
          deleted: e.enabled !== 1 || bankOn.get(c.bank) !== true,
        });
    }
    seq = cseq;
    if (deltas.length >= limit) return { checkpoint: String(seq), more: true, deltas };
  }
  return { checkpoint: String(seq), more: changes.length === CHANGES_PER_PAGE, deltas };
}
