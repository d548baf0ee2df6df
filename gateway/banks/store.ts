import type { Kysely } from 'kysely';
import { type BankDelta, type BankEntryRecord, type BankSettings, type BankStore } from '../../classifiers/bank-store.ts';
import { ChangeFeed, type FeedRead } from '../store/change-feed.ts';
import type { Bank, Database, Dialect } from '../store/schema.ts';

/**
 * The banks' change feed over the database (SQLite or PostgreSQL), and the BankStore each gateway's live
 * index reads. Every write to a bank records a change in `bank_changes` in its own transaction: `entry_id`
 * set for a single entry (cheap to apply), null for the bank itself (created, enabled, disabled, a bulk
 * import), which readers reload whole.
 */

/** Records that a bank (entryId null) or one of its entries changed; call inside the write's transaction. */
export async function recordBankChange(trx: Kysely<Database>, bank: string, entryId: string | null, at: number): Promise<void> {
  await trx.insertInto('bank_changes').values({ bank, entry_id: entryId, at }).execute();
}

const PAGE = 20_000;
/** Entry ids per `in (…)` lookup: far below SQLite's and PostgreSQL's bound-parameter limits. */
const ID_CHUNK = 1_000;

const settingsOf = (b: Pick<Bank, 'name' | 'enabled' | 'radius' | 'kind' | 'matching_enabled_ratio'>): BankSettings => ({
  name: b.name,
  enabled: b.enabled === 1,
  radius: b.radius,
  kind: b.kind === 'negative' ? 'negative' : 'positive',
  matchingEnabledRatio: Number(b.matching_enabled_ratio),
});
const BANK_COLUMNS = ['name', 'enabled', 'radius', 'kind', 'matching_enabled_ratio'] as const;
const ENTRY_COLUMNS = ['id', 'bank', 'signal_type', 'hash', 'category', 'severity', 'derived_from', 'region', 'quarantined', 'flood_exempt', 'frames'] as const;

/** An entry as the live indexes read it; each index keeps the signal types it understands (PDQ, copy descriptors). */
const recordOf = (r: {
  id: string;
  bank: string;
  signal_type: string;
  hash: string;
  category: string;
  severity: BankEntryRecord['severity'];
  derived_from: string | null;
  region: string | null;
  quarantined: number;
  flood_exempt: number;
  frames: string | null;
}): BankEntryRecord => ({
  id: r.id,
  bank: r.bank,
  signalType: r.signal_type,
  hash: r.hash,
  category: r.category,
  severity: r.severity,
  ...(r.derived_from !== null ? { derivedFrom: r.derived_from, region: r.region } : {}),
  ...(r.quarantined ? { quarantined: true } : {}),
  ...(r.flood_exempt ? { floodExempt: true } : {}),
  ...(r.frames !== null ? { frames: r.frames } : {}),
});

type BankChangeRow = { seq: number; bank: string; entry_id: string | null };

/**
 * On SQLite the feed is read by sequence number (`changesSince(from)` from any revision). On PostgreSQL
 * sequence numbers do not commit in order, so the store keeps one gap-free cursor (store/change-feed.ts)
 * for the one index it feeds: `revision()` positions it at "now", and each `changesSince` continues from
 * where the last one the index applied (its `from` equals the revision it was handed) ended.
 */
export class SqlBankStore implements BankStore {
  private readonly feed: ChangeFeed<BankChangeRow> | null;
  private handed: { revision: number; read: FeedRead<BankChangeRow> } | null = null;
  private lastRevision = 0;

  constructor(
    private readonly db: Kysely<Database>,
    dialect: Dialect,
  ) {
    this.feed = dialect === 'postgres' ? new ChangeFeed<BankChangeRow>(db, dialect, 'bank_changes', ['bank', 'entry_id']) : null;
  }

  async revision(): Promise<number> {
    const last = await this.db
      .selectFrom('bank_changes')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    const revision = Number(last?.seq ?? 0);
    if (this.feed) {
      await this.feed.start();
      this.handed = null;
      this.lastRevision = revision;
    }
    return revision;
  }

  async banks(): Promise<BankSettings[]> {
    const rows = await this.db.selectFrom('banks').select(BANK_COLUMNS).orderBy('name').execute();
    return rows.map(settingsOf);
  }

  async bank(name: string): Promise<BankSettings | null> {
    const row = await this.db.selectFrom('banks').select(BANK_COLUMNS).where('name', '=', name).executeTakeFirst();
    return row ? settingsOf(row) : null;
  }

  async *entries(bank: string): AsyncGenerator<BankEntryRecord[]> {
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('bank_entries')
        .select(ENTRY_COLUMNS)
        .where('bank', '=', bank)
        .where('enabled', '=', 1)
        .where('id', '>', after)
        .orderBy('id')
        .limit(PAGE)
        .execute();
      if (rows.length) yield rows.map(recordOf);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /**
   * Reads the changes after `from` and resolves them to their current state: a bank-level change becomes a
   * reload, an entry-level one an upsert (the entry is enabled) or a tombstone (disabled or gone). Entries
   * of a reloaded bank are left to the reload.
   */
  async changesSince(from: number, limit = 10_000): Promise<BankDelta> {
    if (this.feed) return this.changesFromFeed(this.feed, from);
    const rows = await this.db.selectFrom('bank_changes').select(['seq', 'bank', 'entry_id']).where('seq', '>', from).orderBy('seq').limit(limit).execute();
    if (rows.length === 0) return { revision: from, reload: [], upserts: [], tombstones: [], more: false };
    const delta = await this.resolve(rows);
    return { ...delta, revision: Number(rows[rows.length - 1]!.seq), more: rows.length === limit };
  }

  private async changesFromFeed(feed: ChangeFeed<BankChangeRow>, from: number): Promise<BankDelta> {
    // The index asks from the revision it last applied: if that is the one handed out last, those rows are
    // applied and the cursor moves past them; otherwise (the apply failed) they are read again.
    if (this.handed && from === this.handed.revision) {
      this.handed.read.ack();
      this.lastRevision = this.handed.revision;
    }
    this.handed = null;
    const read = await feed.read();
    if (read.rows.length === 0) {
      read.ack();
      return { revision: from, reload: [], upserts: [], tombstones: [], more: false };
    }
    // Revisions only grow, and stay close to the highest sequence value applied (a late commit of a lower
    // one still moves the revision on, so the index's next call tells an applied delta from a failed one).
    const revision = Math.max(this.lastRevision + 1, from + 1, ...read.rows.map((r) => r.seq));
    this.handed = { revision, read };
    return { ...(await this.resolve(read.rows)), revision, more: false };
  }

  private async resolve(rows: BankChangeRow[]): Promise<Omit<BankDelta, 'revision' | 'more'>> {
    const reload = new Set<string>();
    for (const r of rows) if (r.entry_id === null) reload.add(r.bank);
    const changed = new Map<string, string>();
    for (const r of rows) if (r.entry_id !== null && !reload.has(r.bank)) changed.set(r.entry_id, r.bank);
    const upserts: BankEntryRecord[] = [];
    const ids = [...changed.keys()];
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      const found = await this.db
        .selectFrom('bank_entries')
        .select([...ENTRY_COLUMNS, 'enabled'])
        .where('id', 'in', ids.slice(i, i + ID_CHUNK))
        .execute();
      for (const r of found) if (r.enabled === 1) upserts.push(recordOf(r));
    }
    const live = new Set(upserts.map((u) => u.id));
    const tombstones = [...changed].filter(([id]) => !live.has(id)).map(([id, bank]) => ({ bank, id }));
    return { reload: [...reload], upserts, tombstones };
  }
}
