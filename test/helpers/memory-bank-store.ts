import type { BankDelta, BankEntryRecord, BankSettings, BankStore } from '../../classifiers/bank-store.ts';

type Change = { seq: number } & ({ kind: 'bank'; bank: string } | { kind: 'entry'; bank: string; id: string });

/**
 * A BankStore over plain maps, with the same feed semantics as the database one (gateway/banks/store.ts):
 * changes resolve to their current state, entries of a reloaded bank are left to the reload. `gate` holds
 * the next entries page until released, to observe an index in the middle of a reload; `failNextLoad` makes
 * the next page read fail, as a database fault would.
 */
export class MemoryBankStore implements BankStore {
  private readonly settings = new Map<string, BankSettings>();
  private readonly rows = new Map<string, BankEntryRecord & { enabled: boolean }>();
  private readonly log: Change[] = [];
  pageSize = 2;
  /** Caps every delta at this many changes, to exercise readers of a capped feed. */
  maxChanges = Infinity;
  gate: Promise<void> | null = null;
  failNextLoad = false;

  putBank(s: BankSettings): void {
    this.settings.set(s.name, s);
    this.log.push({ seq: this.log.length + 1, kind: 'bank', bank: s.name });
  }

  dropBank(name: string): void {
    this.settings.delete(name);
    for (const [id, r] of this.rows) if (r.bank === name) this.rows.delete(id);
    this.log.push({ seq: this.log.length + 1, kind: 'bank', bank: name });
  }

  /** Adds or replaces an entry as a single-entry change (`enabled: false` disables it). */
  putEntry(e: BankEntryRecord, enabled = true): void {
    this.rows.set(e.id, { ...e, enabled });
    this.log.push({ seq: this.log.length + 1, kind: 'entry', bank: e.bank, id: e.id });
  }

  /** Adds entries as one bank-level change, as a bulk import does. */
  importEntries(entries: readonly BankEntryRecord[]): void {
    for (const e of entries) this.rows.set(e.id, { ...e, enabled: true });
    const bank = entries[0]?.bank;
    if (bank) this.log.push({ seq: this.log.length + 1, kind: 'bank', bank });
  }

  async revision(): Promise<number> {
    return this.log.length;
  }

  async banks(): Promise<BankSettings[]> {
    return [...this.settings.values()];
  }

  async bank(name: string): Promise<BankSettings | null> {
    return this.settings.get(name) ?? null;
  }

  async *entries(bank: string): AsyncGenerator<BankEntryRecord[]> {
    const all = [...this.rows.values()].filter((r) => r.bank === bank && r.enabled).map(({ enabled: _, ...r }) => r);
    for (let i = 0; i < all.length; i += this.pageSize) {
      if (this.gate) await this.gate;
      if (this.failNextLoad) {
        this.failNextLoad = false;
        throw new Error('simulated database fault while reading a bank');
      }
      yield all.slice(i, i + this.pageSize);
    }
  }

  async changesSince(from: number, limit = 10_000): Promise<BankDelta> {
    const rows = this.log.slice(from, from + Math.min(limit, this.maxChanges));
    const reload = new Set(rows.flatMap((r) => (r.kind === 'bank' ? [r.bank] : [])));
    const changed = new Map(rows.flatMap((r) => (r.kind === 'entry' && !reload.has(r.bank) ? [[r.id, r.bank] as const] : [])));
    const upserts: BankEntryRecord[] = [];
    const tombstones: Array<{ bank: string; id: string }> = [];
    for (const [id, bank] of changed) {
      const row = this.rows.get(id);
      if (row?.enabled) {
        const { enabled: _, ...rec } = row;
        upserts.push(rec);
      } else tombstones.push({ bank, id });
    }
    return { revision: from + rows.length, reload: [...reload], upserts, tombstones, more: from + rows.length < this.log.length };
  }
}
