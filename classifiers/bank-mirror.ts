import type { BankEntryRecord, BankStore } from './bank-store.ts';

/** Changes read per round trip; a refresh keeps reading until the feed is drained. */
const DELTA_LIMIT = 10_000;

/**
 * Keeps an in-memory index in step with a BankStore: a snapshot at start, then the deltas after the last
 * applied revision. Loads and refreshes run one at a time: a refresh asked for while one runs waits for a
 * fresh one, so a caller that has just written a change sees it applied when its refresh resolves (and two
 * callers never apply a bank twice). The PDQ index (bank-index.ts) and the copy index (copy/bank-index.ts)
 * differ only in what they index; how they follow the store is this.
 */
export abstract class BankMirror {
  private lastRevision = 0;
  private running: Promise<unknown> | null = null;
  private queued: Promise<number> | null = null;

  constructor(protected readonly store: BankStore) {}

  /** Revision of the index (the last applied change). */
  get revision(): number {
    return this.lastRevision;
  }

  /** Rows indexed. */
  abstract get size(): number;

  /** Replaces the bank's rows with the store's (drops them when the bank is gone). */
  protected abstract reloadBank(name: string): Promise<void>;
  protected abstract dropEntry(id: string): void;
  /** Applies one changed entry (replacing any row indexed for its id). */
  protected abstract upsert(entry: BankEntryRecord): void;

  /** Loads every bank; the revision is read first, so a change that lands during the load is applied again by the next refresh. */
  loadAll(): Promise<number> {
    return this.serially(async () => {
      const revision = await this.store.revision();
      for (const b of await this.store.banks()) await this.reloadBank(b.name);
      this.lastRevision = revision;
      return this.size;
    });
  }

  /** Applies the changes after the last applied revision; returns how many banks and entries they touched. */
  refresh(): Promise<number> {
    return this.serially(async () => {
      let touched = 0;
      for (;;) {
        const delta = await this.store.changesSince(this.lastRevision, DELTA_LIMIT);
        for (const bank of delta.reload) await this.reloadBank(bank);
        for (const t of delta.tombstones) this.dropEntry(t.id);
        for (const e of delta.upserts) this.upsert(e);
        touched += delta.reload.length + delta.tombstones.length + delta.upserts.length;
        this.lastRevision = delta.revision;
        if (!delta.more) return touched;
      }
    });
  }

  /** Runs `fn` after the running job; callers that arrive while one is already waiting share it. */
  private serially(fn: () => Promise<number>): Promise<number> {
    if (!this.running) {
      const job = fn().finally(() => {
        if (this.running === job) this.running = null;
      });
      this.running = job;
      return job;
    }
    if (!this.queued) {
      const after = () => {
        this.queued = null;
        return this.serially(fn);
      };
      this.queued = this.running.then(after, after);
    }
    return this.queued;
  }
}
