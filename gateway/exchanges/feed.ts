import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from '../store/schema.ts';
import type { FeedPage } from './feed-format.ts';

/**
 * This gateway's feed for partners, read from the banks' change feed (bank_changes): a checkpoint `S`
 * means every change up to sequence S was delivered; `S.ID` means changes before S were, and change S up
 * to entry ID (a bank-level change larger than a page). An entry-level change is that entry's current
 * state (enabled: an upsert; disabled: a tombstone); a bank-level change (a bulk import, the bank disabled
 * or re-enabled) is the bank's whole current state, paged, which a partner applies idempotently.
 * Derived entries (crops of banked content, gateway/banks/derive.ts) stay home: a partner derives its own.
 *
 * On PostgreSQL sequence numbers do not commit in order (a change committed late can carry a lower
 * sequence than one already served), so there the checkpoint is the gap-free xid floor of
 * gateway/store/change-feed.ts carried by the partner (see PgCursor below): no confirmed entry is skipped.
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

/** Pages through a bank's entries after `after` into `deltas`; returns the last id when the page filled first. */
async function snapshot(
  db: Kysely<Database>,
  deltas: FeedPage['deltas'],
  limit: number,
  bankOn: Map<string, boolean>,
  bank: string,
  after: string,
): Promise<string | null> {
  let cursor = after;
  for (;;) {
    const room = limit - deltas.length;
    if (room <= 0) return cursor;
    const rows = await db
      .selectFrom('bank_entries')
      .select(['id', 'hash', 'category', 'severity', 'enabled'])
      .where('bank', '=', bank)
      .where('derived_from', 'is', null)
      // PDQ only: a vPDQ video is no single hash, and partners read every delta as `pdq`.
      .where('signal_type', '=', 'pdq')
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
        .where('signal_type', '=', 'pdq')
        .where('id', '>', cursor)
        .limit(1)
        .executeTakeFirst();
      return more ? cursor : null;
    }
  }
}

/** One entry-level change as its entry's current state (nothing for a derived entry or one gone). */
async function entryDelta(db: Kysely<Database>, bankOn: Map<string, boolean>, bank: string, entryId: string): Promise<FeedPage['deltas'][number] | null> {
  const e = await db
    .selectFrom('bank_entries')
    .select(['hash', 'category', 'severity', 'enabled', 'derived_from', 'signal_type'])
    .where('id', '=', entryId)
    .executeTakeFirst();
  if (!e || e.derived_from !== null || e.signal_type !== 'pdq') return null;
  return {
    key: `pdq:${e.hash}`,
    signal_type: 'pdq',
    hash: e.hash,
    bank,
    category: e.category,
    severity: e.severity,
    deleted: e.enabled !== 1 || bankOn.get(bank) !== true,
  };
}

async function bankStates(db: Kysely<Database>, banks: readonly string[]): Promise<Map<string, boolean>> {
  const rows = await db.selectFrom('banks').select(['name', 'enabled']).where('name', 'in', banks).execute();
  return new Map(rows.map((b) => [b.name, b.enabled === 1]));
}

/** Reads the feed after `checkpoint` in the server's dialect; null when the checkpoint is not one it hands out. */
export async function readFeedAt(
  db: Kysely<Database>,
  dialect: Dialect,
  banks: readonly string[],
  checkpoint: string | undefined,
  limit = 500,
): Promise<FeedPage | null> {
  if (dialect === 'postgres') {
    const cursor = parsePgCursor(checkpoint);
    return cursor ? readFeedPg(db, banks, cursor, limit) : null;
  }
  const from = parseCheckpoint(checkpoint);
  return from ? readFeed(db, banks, from, limit) : null;
}

/** The sequence-ordered feed (SQLite, where sequence order is commit order). */
export async function readFeed(db: Kysely<Database>, banks: readonly string[], from: { seq: number; after: string | null }, limit = 500): Promise<FeedPage> {
  const deltas: FeedPage['deltas'] = [];
  if (banks.length === 0) return { checkpoint: String(from.seq), more: false, deltas };
  const bankOn = await bankStates(db, banks);
  let seq = from.seq;
  if (from.after !== null) {
    const change = await db.selectFrom('bank_changes').select(['seq', 'bank']).where('seq', '=', from.seq).executeTakeFirst();
    if (change && banks.includes(change.bank)) {
      const stopped = await snapshot(db, deltas, limit, bankOn, change.bank, from.after);
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
      const stopped = await snapshot(db, deltas, limit, bankOn, c.bank, '');
      if (stopped !== null) return { checkpoint: `${cseq}.${stopped}`, more: true, deltas };
    } else {
      const d = await entryDelta(db, bankOn, c.bank, c.entry_id);
      if (d) deltas.push(d);
    }
    seq = cseq;
    if (deltas.length >= limit) return { checkpoint: String(seq), more: true, deltas };
  }
  return { checkpoint: String(seq), more: changes.length === CHANGES_PER_PAGE, deltas };
}

/**
 * A partner's place in the feed on PostgreSQL, carried in its checkpoint (the server keeps nothing per
 * partner): delivered are the changes with `xid < floor` and `seq <= upTo` (`upTo` null: every change below
 * the floor), plus those in `seen`. A change not yet committed when a page was read belongs to a
 * transaction that was running then or started later, so its xid is at or above the floor taken before
 * that read, and a later read finds it. `resume`: the bank-level change `seq` is being paged, up to entry
 * `after`. A numeric checkpoint (SQLite's form, or one handed out before this reader) reads `seq > upTo`
 * once and moves to a floor from then on.
 *
 * Text form: `g<floor>[s<upTo>][~<seen: a-b,c,…>][.<seq>.<after>]`.
 */
export interface PgCursor {
  floor: bigint | null;
  upTo: number | null;
  seen: Set<number>;
  resume: { seq: number; after: string } | null;
}

export function parsePgCursor(cp: string | undefined): PgCursor | null {
  const legacy = parseCheckpoint(cp);
  if (legacy) return { floor: null, upTo: legacy.seq, seen: new Set(), resume: legacy.after !== null ? { seq: legacy.seq, after: legacy.after } : null };
  const m = /^g(\d{1,20})(?:s(\d{1,15}))?(?:~([\d,-]{1,7000}))?(?:\.(\d{1,15})\.([A-Za-z0-9_]{1,64}))?$/.exec(cp ?? '');
  if (!m) return null;
  const seen = new Set<number>();
  for (const part of m[3] ? m[3].split(',') : []) {
    const r = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
    if (!r) return null;
    const lo = Number(r[1]);
    const hi = r[2] ? Number(r[2]) : lo;
    if (hi < lo || hi - lo > 100_000) return null;
    for (let s = lo; s <= hi; s++) seen.add(s);
  }
  return { floor: BigInt(m[1]!), upTo: m[2] ? Number(m[2]) : null, seen, resume: m[4] ? { seq: Number(m[4]), after: m[5]! } : null };
}

export function formatPgCursor(c: PgCursor): string {
  if (c.floor === null) return c.resume ? `${c.upTo ?? 0}.${c.resume.after}` : String(c.upTo ?? 0);
  let out = `g${c.floor}`;
  if (c.upTo !== null) out += `s${c.upTo}`;
  const seqs = [...c.seen].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < seqs.length;) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    ranges.push(i === j ? String(seqs[i]) : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  if (ranges.length) out += `~${ranges.join(',')}`;
  if (c.resume) out += `.${c.resume.seq}.${c.resume.after}`;
  return out;
}

type WindowRow = { seq: number; bank: string; entry_id: string | null; xid: bigint | null };

/** The gap-free feed on PostgreSQL (see PgCursor). */
export async function readFeedPg(db: Kysely<Database>, banks: readonly string[], cursor: PgCursor, limit = 500): Promise<FeedPage> {
  const deltas: FeedPage['deltas'] = [];
  // Taken before anything is read: every transaction below it had ended before the reads below began.
  const { rows: x } = await sql<{ xmin: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(db);
  const next = BigInt(x[0]!.xmin);
  if (banks.length === 0) return { checkpoint: formatPgCursor({ floor: next, upTo: null, seen: new Set(), resume: null }), more: false, deltas };
  const bankOn = await bankStates(db, banks);
  // A numeric checkpoint reads everything after its sequence, and from now on the floor taken above.
  const floor = cursor.floor ?? next;
  const upTo = cursor.upTo;
  const bankList = sql.join(banks.map((b) => sql`${b}`));
  const { rows: byXid } = await sql<{
    seq: string;
    bank: string;
    entry_id: string | null;
    xid: string | null;
  }>`select seq, bank, entry_id, xid::text as xid from bank_changes where xid >= ${floor.toString()}::xid8 and bank in (${bankList})`.execute(db);
  const { rows: bySeq } =
    upTo === null
      ? { rows: [] as typeof byXid }
      : await sql<{
          seq: string;
          bank: string;
          entry_id: string | null;
          xid: string | null;
        }>`select seq, bank, entry_id, xid::text as xid from bank_changes where seq > ${upTo} and bank in (${bankList}) order by seq limit ${CHANGES_PER_PAGE + cursor.seen.size + 1}`.execute(
          db,
        );
  const all = new Map<number, WindowRow>();
  for (const r of [...byXid, ...bySeq])
    all.set(Number(r.seq), { seq: Number(r.seq), bank: r.bank, entry_id: r.entry_id, xid: r.xid === null ? null : BigInt(r.xid) });
  // The seq-ordered read was capped: nothing past its last row is known to be complete.
  const seqCap = bySeq.length > CHANGES_PER_PAGE + cursor.seen.size ? Number(bySeq[bySeq.length - 1]!.seq) : null;
  const candidates = [...all.values()].sort((a, b) => a.seq - b.seq);
  const inWindow = (r: WindowRow) => r.xid !== null && r.xid >= floor;
  const seen = new Set<number>();
  for (const r of candidates) if (cursor.seen.has(r.seq) && inWindow(r)) seen.add(r.seq);

  /** Stopped before the end: the floor stays, what was delivered joins `seen` or `upTo`. */
  const partial = (last: WindowRow, resume: PgCursor['resume']): FeedPage => {
    for (const r of candidates) {
      if (r.seq > last.seq) break;
      if (inWindow(r)) seen.add(r.seq);
    }
    const nextUpTo = upTo === null ? null : Math.max(upTo, last.seq);
    return { checkpoint: formatPgCursor({ floor, upTo: nextUpTo, seen, resume }), more: true, deltas };
  };

  if (cursor.resume) {
    const change = await db.selectFrom('bank_changes').select(['seq', 'bank']).where('seq', '=', cursor.resume.seq).executeTakeFirst();
    if (change && banks.includes(change.bank)) {
      const stopped = await snapshot(db, deltas, limit, bankOn, change.bank, cursor.resume.after);
      if (stopped !== null)
        return {
          checkpoint: formatPgCursor({ ...cursor, floor, upTo, seen: cursor.seen, resume: { seq: cursor.resume.seq, after: stopped } }),
          more: true,
          deltas,
        };
    }
  }
  const fresh = candidates.filter((r) => !cursor.seen.has(r.seq) && r.seq !== cursor.resume?.seq && (seqCap === null || r.seq <= seqCap));
  const page = fresh.slice(0, CHANGES_PER_PAGE);
  const lastReload = new Map<string, number>();
  for (const c of page) if (c.entry_id === null) lastReload.set(c.bank, c.seq);
  for (const c of page) {
    const reloadAt = lastReload.get(c.bank);
    if (reloadAt !== undefined && c.seq < reloadAt) continue;
    if (c.entry_id === null) {
      const stopped = await snapshot(db, deltas, limit, bankOn, c.bank, '');
      if (stopped !== null) return partial(c, { seq: c.seq, after: stopped });
    } else {
      const d = await entryDelta(db, bankOn, c.bank, c.entry_id);
      if (d) deltas.push(d);
    }
    if (deltas.length >= limit && c !== page[page.length - 1]) return partial(c, null);
  }
  if (page.length < fresh.length || seqCap !== null) return partial(page[page.length - 1] ?? all.get(seqCap!)!, null);
  // Everything committed is delivered: every change below the new floor, and those above it kept in `seen`.
  const nextSeen = new Set<number>();
  for (const r of candidates) if (r.xid !== null && r.xid >= next) nextSeen.add(r.seq);
  return { checkpoint: formatPgCursor({ floor: next, upTo: null, seen: nextSeen, resume: null }), more: false, deltas };
}
