import { appendFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database, StrikeRow, Suspension } from '../schema.ts';
import { JournalFile } from './file.ts';
import { isTransientDbError, withDeadline } from './transient.ts';
import { applyUnit, markerMayBeGone, WriteUnitSchema, type WriteUnit } from './unit.ts';

/** How a unit reached the database: at once, found already there, or kept in the journal for replay. */
export type WriteOutcome = 'stored' | 'duplicate' | 'journaled';

/** The enforcement write path's one dependency: callers build units, this decides where they go. */
export interface UnitWriter {
  write(unit: WriteUnit): Promise<WriteOutcome>;
  /**
   * Into the local journal now, without trying the database: for a unit that must not be written directly
   * in place of what failed (a stream's row, whose one-live claim could not be checked). Absent: no journal.
   */
  keep?(unit: WriteUnit): WriteOutcome;
  /** Whether new units go to the journal without trying the database (it is known to be away). */
  deferring?(): boolean;
}

/** Straight to the database, no journal (tools, tests, and components started without one). */
export function directWriter(db: Kysely<Database>, nodeId: string | null): UnitWriter {
  return {
    async write(unit) {
      return (await db.transaction().execute((trx) => applyUnit(trx, unit, 'direct', nodeId))) ? 'stored' : 'duplicate';
    },
  };
}

export interface JournalView {
  /** Units in the journal, not yet in the database. */
  depth: number;
  /** Since when (epoch ms) the journal has held units; null while empty. */
  since: number | null;
  /** Units replayed into the database since start (not counting ones found already there). */
  replayed: number;
  /** Units the replay found already in the database (written before a crash or a lost commit answer). */
  duplicates: number;
  /** Units set aside in `<journal>.rejected`: refused by the database for good (a bug or constraint), or past the markers' retention. */
  rejected: number;
  /** At open: a torn last record was dropped / damaged records were set aside. */
  tornTail: boolean;
  corrupt: number;
}

export interface DurableWriterEvents {
  /** A unit is in the database (`via`: written at once, replayed, or found there already). */
  applied: [WriteUnit, 'direct' | 'journal', boolean];
  journaled: [WriteUnit];
  /** The journal emptied: every unit it held is in the database. */
  drained: [];
  rejected: [WriteUnit, Error];
}

interface Pending {
  unit: WriteUnit;
  journaledAt: number;
}

export interface DurableWriterOptions {
  db: Kysely<Database>;
  /** The journal file, in the node's data directory. */
  file: string;
  nodeId: string | null;
  /** Whether the database is believed reachable now (store/health.ts); while not, units go to the journal at once. */
  reachable?: () => boolean;
  log?: Logger;
  /**
   * A direct write that has not committed by then is journaled instead (the cut must not wait on a hung
   * database); should it commit after all, the replay finds its id on record and skips it.
   */
  directTimeoutMs?: number;
  /** First replay retry delay; doubles up to `maxRetryMs` while the database keeps failing. */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * Writes units of work to the database, or, when it is unreachable, to a local append-only journal
 * (fsynced per record) from which they are replayed in order, idempotently, when it answers again. While
 * the journal holds anything, new units queue behind it, so the database sees them in the order they
 * were decided.
 */
export class DurableWriter extends EventEmitter<DurableWriterEvents> implements UnitWriter {
  private readonly pending: Pending[] = [];
  private readonly file: JournalFile;
  private readonly rejectedFile: string;
  private since: number | null = null;
  private replayed = 0;
  private duplicates = 0;
  private rejected = 0;
  private draining: Promise<void> | null = null;
  private drainAgain = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private closed = false;
  private readonly opened: { tornTail: boolean; corrupt: number };

  constructor(private readonly opts: DurableWriterOptions) {
    super();
    const { file, records, tornTail, corrupt } = JournalFile.open(opts.file);
    this.file = file;
    this.rejectedFile = `${opts.file}.rejected`;
    this.opened = { tornTail, corrupt };
    this.retryDelay = opts.retryMs ?? 250;
    for (const r of records) {
      const parsed = RecordSchema.safeParse(r);
      if (!parsed.success) {
        this.reject(r, new Error(`journal record does not parse: ${parsed.error.issues[0]?.message ?? 'invalid'}`));
        continue;
      }
      this.pending.push({ unit: parsed.data.unit, journaledAt: parsed.data.journaledAt });
    }
    if (tornTail) opts.log?.warn({ file: opts.file }, 'the journal ended in a torn record (a crash mid-write): it was dropped');
    if (corrupt > 0) opts.log?.error({ file: opts.file, corrupt }, 'damaged journal records were set aside in the .rejected file');
    if (this.pending.length > 0) {
      this.since = this.pending[0]!.journaledAt;
      opts.log?.warn({ units: this.pending.length }, 'the journal holds units from a previous run: replaying');
    }
  }

  view(): JournalView {
    return {
      depth: this.pending.length,
      since: this.since,
      replayed: this.replayed,
      duplicates: this.duplicates,
      rejected: this.rejected,
      ...this.opened,
    };
  }

  async write(unit: WriteUnit): Promise<WriteOutcome> {
    if (this.pending.length > 0 || this.deferring()) return this.journal(unit);
    try {
      const wrote = await withDeadline(
        this.opts.db.transaction().execute((trx) => applyUnit(trx, unit, 'direct', this.opts.nodeId)),
        this.opts.directTimeoutMs ?? 3_000,
      );
      this.emit('applied', unit, 'direct', wrote);
      return wrote ? 'stored' : 'duplicate';
    } catch (err) {
      if (!isTransientDbError(err)) throw err;
      this.opts.log?.warn({ err: (err as Error).message, unit: unit.id }, 'the database did not take a write: kept in the local journal');
      return this.journal(unit);
    }
  }

  keep(unit: WriteUnit): WriteOutcome {
    return this.journal(unit);
  }

  deferring(): boolean {
    return !(this.opts.reachable?.() ?? true);
  }

  /** The journaled strikes and suspensions of an account or its person (history while the database is away). */
  pendingHistory(accountId: string, subject: string | null): { strikes: StrikeRow[]; suspensions: Suspension[] } {
    const mine = (r: { account_id: string; identity_subject: string | null }) =>
      r.account_id === accountId || (subject !== null && r.identity_subject === subject);
    return {
      strikes: this.pending.flatMap((p) => p.unit.strikes.filter(mine)),
      suspensions: this.pending.flatMap((p) => p.unit.suspensions.filter(mine)),
    };
  }

  /** Replays the journal now (the database answers again); resolves once this pass ends. */
  drain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.draining = this.replay().finally(() => {
      this.draining = null;
      if (this.drainAgain) {
        this.drainAgain = false;
        if (this.pending.length > 0 && !this.retryTimer) void this.drain();
      }
    });
    return this.draining;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.file.close();
  }

  private journal(unit: WriteUnit): WriteOutcome {
    const journaledAt = Date.now();
    this.file.append({ v: 1, journaledAt, unit });
    this.pending.push({ unit, journaledAt });
    if (this.since === null) this.since = journaledAt;
    this.emit('journaled', unit);
    this.scheduleRetry();
    return 'journaled';
  }

  private async replay(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      const { unit, journaledAt } = this.pending[0]!;
      const markerGone = markerMayBeGone(journaledAt, Date.now());
      try {
        // No deadline here (nothing waits on a replay): one slow commit after an outage would otherwise be
        // attempted again while still in flight. The pool's connect and statement timeouts bound it.
        const wrote = await this.opts.db.transaction().execute((trx) => applyUnit(trx, unit, 'journal', this.opts.nodeId, markerGone));
        this.pending.shift();
        if (wrote) this.replayed++;
        else this.duplicates++;
        this.emit('applied', unit, 'journal', wrote);
      } catch (err) {
        if (isTransientDbError(err)) {
          this.scheduleRetry(true);
          return;
        }
        this.pending.shift();
        this.reject({ v: 1, unit }, err as Error);
        this.emit('rejected', unit, err as Error);
      }
    }
    if (this.pending.length === 0 && !this.closed) {
      // Nothing awaits between the check and the reset: no unit can be appended in between.
      this.file.reset();
      if (this.since !== null) this.opts.log?.info({ replayed: this.replayed, duplicates: this.duplicates }, 'journal replayed into the database');
      this.since = null;
      this.retryDelay = this.opts.retryMs ?? 250;
      this.emit('drained');
    }
  }

  private scheduleRetry(backoff = false): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryDelay;
    if (backoff) this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxRetryMs ?? 5_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // While the database is known to be away, wait for its return (server.ts drains on `recovered`) but
      // keep a slow retry: the health probe and the pool can disagree for a moment.
      void this.drain();
    }, delay);
    this.retryTimer.unref();
  }

  private reject(record: unknown, err: Error): void {
    this.rejected++;
    const code = (err as { code?: unknown }).code;
    const why = code === 'unit_past_marker_retention' ? 'is older than its applied-unit marker is kept' : 'was refused by the database for good';
    this.opts.log?.error({ err: err.message, code }, `a journal unit ${why}: set aside in the .rejected file`);
    appendFileSync(this.rejectedFile, `${JSON.stringify({ at: Date.now(), error: err.message, code, record })}\n`);
  }
}

/** One line of the journal file. */
const RecordSchema = z.object({ v: z.literal(1), journaledAt: z.number().finite(), unit: WriteUnitSchema });
