import { COPY_SIGNAL_TYPE, type BankEntryRecord, type BankSeverity, type BankStore } from '../bank-store.ts';
import { BankMirror } from '../bank-mirror.ts';
import { CopyIndex } from './index.ts';
import { parseDescriptorText } from './whitening.ts';

export interface CopyEntryMeta {
  /** The banked content (the PDQ entry the descriptor was computed beside). */
  entryId: string;
  /** The descriptor's own stored entry. */
  descriptorEntryId: string;
  bank: string;
  category: string;
  severity: BankSeverity;
  /** Which view of the content the descriptor is of (`copy`: the whole picture; `copy-centre-70`…). */
  region: string;
}

export interface CopyMatch extends CopyEntryMeta {
  similarity: number;
}

/** What the copy matcher needs of the index. */
export interface CopyLookup {
  readonly revision: number;
  readonly whiteningId: string;
  /** Descriptors indexed. */
  readonly size: number;
  /** The best match per banked content with similarity ≥ floor, in enabled banks, best first; at most `limit`. */
  match(descriptor: Float32Array, floor: number, limit?: number): CopyMatch[];
}

/**
 * The in-memory mirror of every enabled copy descriptor (bank entries of signal type `copy` made with the
 * loaded whitening), fed by the same BankStore as the PDQ index (classifiers/bank-index.ts) and kept in
 * step the same way (BankMirror: a snapshot, then deltas after the last applied revision, one job at a time).
 * Descriptors made with another whitening are counted as `stale` and never compared.
 */
export class CopyBankIndex extends BankMirror implements CopyLookup {
  private readonly index: CopyIndex;
  private readonly meta: Array<CopyEntryMeta | null> = [];
  private readonly slotByEntry = new Map<string, number>();
  private readonly banks = new Map<string, { enabled: boolean; slots: Set<number> }>();
  readonly stats = { stale: 0 };

  constructor(
    store: BankStore,
    readonly whiteningId: string,
    readonly dim: number,
  ) {
    super(store);
    this.index = new CopyIndex(dim);
  }

  get size(): number {
    return this.index.size;
  }

  private descriptorOf(e: BankEntryRecord): Float32Array | null {
    if (e.signalType !== COPY_SIGNAL_TYPE) return null;
    const d = parseDescriptorText(e.hash, this.whiteningId, this.dim);
    if (!d) this.stats.stale++;
    return d;
  }

  /** Loads beside the current rows and swaps at the end, as the PDQ index does. */
  protected async reloadBank(name: string): Promise<void> {
    const settings = await this.store.bank(name);
    const old = this.banks.get(name);
    if (!settings) {
      for (const slot of old?.slots ?? []) this.dropSlot(slot);
      this.banks.delete(name);
      return;
    }
    const fresh = { enabled: settings.enabled, slots: new Set<number>() };
    try {
      for await (const page of this.store.entries(name)) {
        for (const e of page) {
          const d = this.descriptorOf(e);
          if (!d) continue;
          const slot = this.index.add(d);
          this.meta[slot] = metaOf(e);
          fresh.slots.add(slot);
        }
      }
    } catch (err) {
      for (const slot of fresh.slots) this.dropSlot(slot);
      throw err;
    }
    for (const slot of old?.slots ?? []) this.dropSlot(slot);
    for (const slot of fresh.slots) this.slotByEntry.set(this.meta[slot]!.descriptorEntryId, slot);
    this.banks.set(name, fresh);
  }

  protected upsert(e: BankEntryRecord): void {
    this.dropEntry(e.id);
    const bank = this.banks.get(e.bank);
    if (!bank) return;
    const d = this.descriptorOf(e);
    if (!d) return;
    const slot = this.index.add(d);
    this.meta[slot] = metaOf(e);
    this.slotByEntry.set(e.id, slot);
    bank.slots.add(slot);
  }

  protected dropEntry(id: string): void {
    const slot = this.slotByEntry.get(id);
    if (slot !== undefined) this.dropSlot(slot);
  }

  private dropSlot(slot: number): void {
    const meta = this.meta[slot];
    if (!meta) return;
    this.index.remove(slot);
    this.meta[slot] = null;
    if (this.slotByEntry.get(meta.descriptorEntryId) === slot) this.slotByEntry.delete(meta.descriptorEntryId);
    this.banks.get(meta.bank)?.slots.delete(slot);
  }

  match(descriptor: Float32Array, floor: number, limit = 8): CopyMatch[] {
    if (this.index.size === 0) return [];
    // A few more hits than asked: several views of one content, or rows of a disabled bank, may lead.
    const hits = this.index.search(descriptor, Math.max(limit * 4, 16), floor);
    const best = new Map<string, CopyMatch>();
    for (const h of hits) {
      const meta = this.meta[h.slot];
      if (!meta || this.banks.get(meta.bank)?.enabled !== true) continue;
      const key = `${meta.bank}\u0000${meta.entryId}`;
      const prev = best.get(key);
      if (!prev || h.similarity > prev.similarity) best.set(key, { ...meta, similarity: h.similarity });
    }
    return [...best.values()].sort((a, b) => b.similarity - a.similarity).slice(0, limit);
  }
}

function metaOf(e: BankEntryRecord): CopyEntryMeta {
  return {
    entryId: e.derivedFrom ?? e.id,
    descriptorEntryId: e.id,
    bank: e.bank,
    category: e.category,
    severity: e.severity,
    region: e.region ?? COPY_SIGNAL_TYPE,
  };
}
