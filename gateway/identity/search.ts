import { sql, type Kysely } from 'kysely';
import { likeText } from '../store/like.ts';
import type { Database, IdentityStatus } from '../store/schema.ts';

/**
 * Finding accounts for the console: by handle prefix or identity subject (all accounts of one person),
 * by identity status, suspended or not; a page at a time in handle order. One query, the same SQL on
 * SQLite and PostgreSQL (`lower`, `LIKE … ESCAPE`, `CASE WHEN EXISTS`).
 */

export interface AccountSearch {
  /** Handle prefix (case-insensitive), or an exact identity subject. */
  q?: string;
  /** Exact identity subject. */
  subject?: string;
  status?: IdentityStatus;
  suspended?: boolean;
  live?: boolean;
  /** Handles after this one (the previous page's `next`). */
  after?: string;
  limit: number;
  now: number;
}

export interface AccountHit {
  id: string;
  handle: string;
  identity_status: IdentityStatus;
  identity_subject: string | null;
  created_at: number;
  suspended: boolean;
  live: boolean;
}

export async function searchAccounts(db: Kysely<Database>, s: AccountSearch): Promise<{ accounts: AccountHit[]; next: string | null }> {
  // Suspended: an active suspension of the account, or of the person behind it (suspensions bind the person).
  const suspended = sql<number>`case when exists (
    select 1 from suspensions s
    where s.lifted_at is null and s.starts_at <= ${s.now} and (s.ends_at is null or s.ends_at > ${s.now})
      and (s.account_id = accounts.id or (accounts.identity_subject is not null and s.identity_subject = accounts.identity_subject))
  ) then 1 else 0 end`;
  const live = sql<number>`case when exists (select 1 from streams t where t.account_id = accounts.id and t.ended_at is null) then 1 else 0 end`;
  let q = db.selectFrom('accounts').select(['id', 'handle', 'identity_status', 'identity_subject', 'created_at', suspended.as('suspended'), live.as('live')]);
  const text = s.q?.trim();
  if (text) {
    const prefix = `${likeText(text.toLowerCase())}%`;
    q = q.where((eb) => eb.or([eb(sql<string>`lower(handle)`, 'like', sql<string>`${prefix} escape '\\'`), eb('identity_subject', '=', text)]));
  }
  if (s.subject) q = q.where('identity_subject', '=', s.subject);
  if (s.status) q = q.where('identity_status', '=', s.status);
  if (s.suspended !== undefined) q = q.where(suspended, '=', s.suspended ? 1 : 0);
  if (s.live !== undefined) q = q.where(live, '=', s.live ? 1 : 0);
  if (s.after) q = q.where('handle', '>', s.after);
  const rows = await q
    .orderBy('handle')
    .limit(s.limit + 1)
    .execute();
  const page = rows.slice(0, s.limit).map((r) => ({ ...r, suspended: Number(r.suspended) === 1, live: Number(r.live) === 1 }));
  return { accounts: page, next: rows.length > s.limit ? page[page.length - 1]!.handle : null };
}
