import { PDQ_SIGNAL_TYPE, type BankEntryRecord, type BankSeverity } from './bank-store.ts';
import { BankMirror } from './bank-mirror.ts';
import { type HashIndexLayout, PdqHashIndex } from './hash-index.ts';
import { PDQ_WORDS, fromHex, isPdqHex, type DihedralVariant, type PdqHash } from './pdq.ts';

export interface EntryMeta {
  /** The banked content: for a derived entry, the entry it was cut from. */
  entryId: string;
  bank: string;
  category: string;
  severity: BankSeverity;
  /** Set when a derived entry (a crop of the content) is what is indexed. */
  derivedEntryId?: string;
  entryRegion?: string;
  quarantined?: boolean;
  floodExempt?: boolean;
}

export interface BankMatch extends EntryMeta {
  distance: number;
  variant: DihedralVariant;
  /** The entry is in a negative bank: it suppresses, never acts. */
  negative?: boolean;
  /** Outside its bank's matching_enabled_ratio (gradual rollout). */
  outsideRollout?: boolean;
}

/** What a matcher needs of the index: lookups and the revision they reflect. */
export interface BankLookup {
  readonly revision: number;
  match(variants: ReadonlyArray<{ variant: DihedralVariant; hash: PdqHash }>): BankMatch[];
}

interface BankMeta {
  radius: number;
  enabled: boolean;
  negative: boolean;
  ratio: number;
  slots: Set<number>;
}

/**
 * Where a content id falls in [0, 1) for its bank's gradual rollout (HMA's matching_enabled_ratio): FNV-1a
 * of the id, so the same content is in or out on every node and every lookup, and raising the ratio only
 * adds content.
 */
export function rolloutPoint(contentId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < contentId.length; i++) {
    h ^= contentId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

/**
 * The in-memory mirror of every enabled PDQ bank entry: one multi-index (classifiers/hash-index.ts) kept in
 * step with a BankStore by BankMirror (a snapshot, then deltas, one job at a time).
 */
export class HashBankIndex extends BankMirror implements BankLookup {
  private readonly index = new PdqHashIndex();
  private readonly meta: Array<EntryMeta | null> = [];
  private readonly slotByEntry = new Map<string, number>();
  private readonly banks = new Map<string, BankMeta>();
  private maxRadius = 0;
  /** Entries quarantined here before the store says so (the flood guard trips at once; the write follows). */
  private readonly held = new Set<string>();
  private readonly addedListeners = new Set<(entry: BankEntryRecord) => void>();

  /**
   * Called with each entry a refresh adds or replaces one by one (an entry banked since the last refresh;
   * not a whole bank's reload): crisis mode's retroactive scan starts here (gateway/crisis/).
   */
  onEntryAdded(cb: (entry: BankEntryRecord) => void): () => void {
    this.addedListeners.add(cb);
    return () => this.addedListeners.delete(cb);
  }

  get size(): number {
    return this.index.size;
  }

  /** Where the indexed hashes are: built into the multi-index (base, mid) or in its linearly scanned tail. */
  get layout(): HashIndexLayout {
    return this.index.layout;
  }

  /**
   * Reports the entry's matches as quarantined from now on, before its quarantine is stored (the flood guard
   * acts on the frame that tripped it). Released when the store reports the entry quarantined, exempt or gone.
   */
  hold(entryId: string): void {
    this.held.add(entryId);
  }

  /** The indexed entry (a base entry's own record), or undefined. */
  entry(entryId: string): EntryMeta | undefined {
    const slot = this.slotByEntry.get(entryId);
    return slot === undefined ? undefined : (this.meta[slot] ?? undefined);
  }

  isHeld(entryId: string): boolean {
    return this.held.has(entryId);
  }

  /**
   * Loads the bank's entries beside the ones indexed now and swaps at the end, so a bank being reloaded
   * (a bulk import into a live bank) keeps matching throughout; a failed load leaves the old entries.
   */
  protected async reloadBank(name: string): Promise<void> {
    const settings = await this.store.bank(name);
    const old = this.banks.get(name);
    if (!settings) {
      for (const slot of old?.slots ?? []) this.dropSlot(slot);
      this.banks.delete(name);
      this.updateRadius();
      return;
    }
    const fresh: BankMeta = {
      radius: settings.radius,
      enabled: settings.enabled,
      negative: settings.kind === 'negative',
      ratio: settings.matchingEnabledRatio ?? 1,
      slots: new Set(),
    };
    // Read whole before anything is indexed, so a failed read leaves the bank as it was, and the bank goes
    // in as one `addMany`: the multi-index builds a batch at least as large as what is indexed at once.
    // Page by page, each page after the first landed in the linearly scanned tail until background merges
    // caught up (1M entries: 53 lookups per CPU-second for ~10 min after start, against ~550 built).
    // Hashes are staged packed (32 bytes each, in 2 MiB pages), not as one typed array per entry.
    const hashes = new PackedHashes();
    const metas: EntryMeta[] = [];
    for await (const page of this.store.entries(name)) {
      for (const r of page) {
        if (r.signalType !== PDQ_SIGNAL_TYPE || !isPdqHex(r.hash)) continue;
        hashes.push(fromHex(r.hash));
        metas.push(metaOf(r));
      }
    }
    if (metas.length > 0) {
      const first = this.index.addMany(hashes);
      metas.forEach((m, i) => {
        this.meta[first + i] = m;
        fresh.slots.add(first + i);
      });
    }
    for (const slot of fresh.slots) this.slotByEntry.set(storedId(this.meta[slot]!), slot);
    this.banks.set(name, fresh);
    for (const slot of old?.slots ?? []) this.dropSlot(slot);
    this.updateRadius();
  }

  protected upsert(e: BankEntryRecord): void {
    this.dropEntry(e.id);
    if (e.quarantined || e.floodExempt) this.held.delete(e.derivedFrom ?? e.id);
    const bank = this.banks.get(e.bank);
    if (!bank || e.signalType !== PDQ_SIGNAL_TYPE || !isPdqHex(e.hash)) return;
    const slot = this.index.add(fromHex(e.hash));
    this.meta[slot] = metaOf(e);
    this.slotByEntry.set(e.id, slot);
    bank.slots.add(slot);
    for (const cb of this.addedListeners) {
      try {
        cb(e);
      } catch {
        // A listener's failure is its own: the index is applied regardless.
      }
    }
  }

  protected dropEntry(id: string): void {
    this.held.delete(id);
    const slot = this.slotByEntry.get(id);
    if (slot !== undefined) this.dropSlot(slot);
  }

  private dropSlot(slot: number): void {
    const meta = this.meta[slot];
    if (!meta) return;
    this.index.remove(slot);
    this.meta[slot] = null;
    // During a bank reload the entry's new slot may already be the one it maps to.
    if (this.slotByEntry.get(storedId(meta)) === slot) this.slotByEntry.delete(storedId(meta));
    this.banks.get(meta.bank)?.slots.delete(slot);
  }

  private updateRadius(): void {
    this.maxRadius = 0;
    for (const b of this.banks.values()) if (b.enabled) this.maxRadius = Math.max(this.maxRadius, b.radius);
  }

  /**
   * Looks up every variant of a frame's hash; returns the best (smallest distance) match per banked entry
   * (a derived entry counts for the entry it was cut from), each within its own bank's radius, in enabled
   * banks only.
   */
  match(variants: ReadonlyArray<{ variant: DihedralVariant; hash: PdqHash }>): BankMatch[] {
    if (this.index.size === 0) return [];
    const best = new Map<string, BankMatch>();
    for (const { variant, hash } of variants) {
      for (const hit of this.index.search(hash, this.maxRadius)) {
        const meta = this.meta[hit.id];
        if (!meta) continue;
        const bank = this.banks.get(meta.bank);
        if (!bank || !bank.enabled || hit.distance > bank.radius) continue;
        const prev = best.get(meta.entryId);
        if (prev && hit.distance >= prev.distance) continue;
        const m: BankMatch = { ...meta, distance: hit.distance, variant };
        if (bank.negative) m.negative = true;
        if (this.held.has(meta.entryId)) m.quarantined = true;
        if (bank.ratio < 1 && rolloutPoint(meta.entryId) >= bank.ratio) m.outsideRollout = true;
        best.set(meta.entryId, m);
      }
    }
    return [...best.values()].sort((a, b) => a.distance - b.distance);
  }
}

/** The index's view of a stored entry: derived entries point at the content they were cut from. */
function metaOf(r: BankEntryRecord): EntryMeta {
  const base: EntryMeta = { entryId: r.derivedFrom ?? r.id, bank: r.bank, category: r.category, severity: r.severity };
  if (r.quarantined) base.quarantined = true;
  if (r.floodExempt) base.floodExempt = true;
  if (r.derivedFrom) {
    base.derivedEntryId = r.id;
    base.entryRegion = r.region ?? 'derived';
  }
  return base;
}

/** The id the store knows the indexed row by (the derived entry's own id for a derived one). */
const storedId = (m: EntryMeta) => m.derivedEntryId ?? m.entryId;

/** Hashes to index, packed 8 words each in pages of 65,536 (2 MiB), so growing never copies. */
class PackedHashes implements Iterable<PdqHash> {
  private static readonly PAGE = 65_536;
  private readonly pages: Uint32Array[] = [];
  private count = 0;

  push(hash: PdqHash): void {
    const at = this.count % PackedHashes.PAGE;
    if (at === 0) this.pages.push(new Uint32Array(PackedHashes.PAGE * PDQ_WORDS));
    this.pages[this.pages.length - 1]!.set(hash, at * PDQ_WORDS);
    this.count++;
  }

  *[Symbol.iterator](): Iterator<PdqHash> {
    for (let i = 0; i < this.count; i++) {
      const at = (i % PackedHashes.PAGE) * PDQ_WORDS;
      yield this.pages[Math.floor(i / PackedHashes.PAGE)]!.subarray(at, at + PDQ_WORDS);
    }
  }
}
