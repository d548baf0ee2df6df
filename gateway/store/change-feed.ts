import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './schema.ts';

/**
 * A gap-free reader of an append-only change table (`gate_changes`, `bank_changes`): every committed row
 * is returned at least once, whatever order the writers commit in.
 *
 * Why not `seq > lastSeq`: on PostgreSQL two transactions that take sequence values 10 and 11 can commit
 * as 11 then 10; a reader that saw 11 never reads 10 (test/nodes/change-feed.test.ts shows the old reader
 * missing changes). So on PostgreSQL each row also records its writer's transaction id (`xid`, default
 * `pg_current_xact_id()`), and the cursor is a *floor*: the oldest transaction still running when the last
 * read began (`pg_snapshot_xmin(pg_current_snapshot())`). Every transaction below the floor had finished
 * before that read, so its rows (if it committed) were visible to it; every row a later commit adds has an
 * xid at or above the floor. A read therefore takes the new floor first, then every row with `xid >= old
 * floor`, and skips the rows it already returned (remembered until the floor passes them). The window is
 * only what committed since the oldest transaction then running: small, and re-read cheaply by an index.
 *
 * On SQLite every write transaction holds the database's one write lock from its first write to its commit
 * (transactions begin IMMEDIATE, see db.ts), so sequence order is commit order and `seq > lastSeq` is exact.
 */

export type FeedTable = 'gate_changes' | 'bank_changes' | 'console_events';

export interface FeedRead<R> {
  /** New rows in sequence order (on PostgreSQL, a late commit can come after a higher seq already returned). */
  rows: R[];
  /** More rows wait (SQLite reads pages); read again after applying these. */
  more: boolean;
  /** Call once the rows are applied: until then, the next read returns them again. */
  ack(): void;
}

export class ChangeFeed<R extends { seq: number }> {
  private lastSeq = 0;
  private floor: bigint | null = null;
  /** Rows returned whose xid is still at or above the floor (PostgreSQL): seq -> xid. */
  private readonly seen = new Map<number, bigint>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly table: FeedTable,
    private readonly columns: readonly (keyof R & string)[],
  ) {}

  /**
   * Positions the feed at "now", before the caller loads the full state: every change committed after this
   * call is returned by a later read, and none committed before it (the load reflects those).
   */
  async start(): Promise<void> {
    if (this.dialect === 'postgres') {
      this.floor = null;
      this.seen.clear();
      const floor = await this.snapshotXmin();
      // Rows in the window that are already committed are part of the state the caller loads next.
      const { rows } = await sql<{
        seq: number;
        xid: string;
      }>`select seq, xid::text as xid from ${sql.table(this.table)} where xid >= ${floor.toString()}::xid8`.execute(this.db);
      for (const r of rows) {
        this.seen.set(Number(r.seq), BigInt(r.xid));
        if (Number(r.seq) > this.lastSeq) this.lastSeq = Number(r.seq);
      }
      this.floor = floor;
      return;
    }
    const last = await this.db
      .selectFrom(this.table)
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    this.lastSeq = Number(last?.seq ?? 0);
  }

  /** The highest sequence value returned so far (a revision to report, not a cursor). */
  get position(): number {
    return this.lastSeq;
  }

  async read(limit = 1000): Promise<FeedRead<R>> {
    if (this.dialect === 'postgres') return this.readPg();
    const rows = (await this.db
      .selectFrom(this.table)
      .select(['seq', ...this.columns] as never[])
      .where('seq', '>', this.lastSeq)
      .orderBy('seq')
      .limit(limit)
      .execute()) as unknown as R[];
    for (const r of rows) r.seq = Number(r.seq);
    const last = rows.length ? rows[rows.length - 1]!.seq : this.lastSeq;
    return {
      rows,
      more: rows.length === limit,
      ack: () => {
        if (last > this.lastSeq) this.lastSeq = last;
      },
    };
  }

  private async snapshotXmin(): Promise<bigint> {
    const { rows } = await sql<{ xmin: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`.execute(this.db);
    return BigInt(rows[0]!.xmin);
  }

  private async readPg(): Promise<FeedRead<R>> {
    if (this.floor === null) await this.start();
    const floor = this.floor!;
    // The new floor is taken before the rows are read: any transaction not yet committed when the rows are
    // read was either running at this point (xid >= xmin) or starts later (a higher xid still).
    const next = await this.snapshotXmin();
    const cols = sql.join(this.columns.map((c) => sql.ref(c)));
    const { rows: raw } = await sql<
      R & { xid: string }
    >`select seq, ${cols}, xid::text as xid from ${sql.table(this.table)} where xid >= ${floor.toString()}::xid8 order by seq`.execute(this.db);
    const fresh: Array<R & { xid: string }> = [];
    for (const r of raw) {
      r.seq = Number(r.seq);
      if (!this.seen.has(r.seq)) fresh.push(r);
    }
    return {
      rows: fresh.map(({ xid: _xid, ...rest }) => rest as unknown as R),
      more: false,
      ack: () => {
        for (const r of fresh) {
          this.seen.set(r.seq, BigInt(r.xid));
          if (r.seq > this.lastSeq) this.lastSeq = r.seq;
        }
        if (this.floor !== null && next > this.floor) {
          this.floor = next;
          for (const [seq, xid] of this.seen) if (xid < next) this.seen.delete(seq);
        }
      },
    };
  }
}
