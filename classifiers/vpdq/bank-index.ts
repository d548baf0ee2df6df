import { rolloutPoint } from '../bank-index.ts';
import { BankMirror } from '../bank-mirror.ts';
import type { BankEntryRecord, BankSeverity } from '../bank-store.ts';
import { PdqHashIndex } from '../hash-index.ts';
import { fromHex, hamming, type PdqHash } from '../pdq.ts';
import { matchableFrames, parseVpdqFrames, VPDQ_DISTANCE_THRESHOLD, VPDQ_SIGNAL_TYPE } from './frames.ts';

export interface VideoEntryMeta {
  entryId: string;
  bank: string;
  category: string;
  severity: BankSeverity;
  /** Frames indexed (distinct hashes of quality >= 50). */
  frames: number;
  /** Quarantined in the store, or held here since the flood guard tripped on it (hold). */
  quarantined?: boolean;
  /** A moderator cleared a flood quarantine: the flood guard leaves it alone. */
  floodExempt?: boolean;
  /** The entry's bank is a negative ("don't match") bank. */
  negative?: boolean;
  /** Outside its bank's matching_enabled_ratio (gradual rollout). */
  outsideRollout?: boolean;
}

/** One video entry a frame matched: its closest frame, and that frame's scene (window.ts). */
export interface VideoFrameHit {
  entryId: string;
  distance: number;
  scene: number;
}

/** What the video matcher needs of the index. */
export interface VideoLookup {
  readonly revision: number;
  /** Video entries indexed. */
  readonly entries: number;
  /** Every video entry with a frame within its bank's radius (at most vPDQ's 31) of `hash`, closest first; at most `limit`. */
  match(hash: PdqHash, limit: number): VideoFrameHit[];
  /** An indexed entry (with its bank's state now), or undefined. */
  entry(entryId: string): VideoEntryMeta | undefined;
}

interface BankMeta {
  radius: number;
  enabled: boolean;
  negative: boolean;
  ratio: number;
  entries: Set<string>;
}

interface Indexed {
  meta: Omit<VideoEntryMeta, 'negative' | 'outsideRollout'>;
  slots: number[];
}

/**
 * The in-memory mirror of every enabled vPDQ (video) entry: all their frame hashes in one multi-index
 * (classifiers/hash-index.ts), each slot pointing at its entry, fed by the same BankStore as the PDQ index
 * and kept in step the same way (BankMirror). A frame of a live stream is looked up once, at the largest
 * radius in use, and the hits are folded to one per entry.
 */
export class VideoBankIndex extends BankMirror implements VideoLookup {
  private readonly index = new PdqHashIndex();
  private readonly slotEntry: Array<string | null> = [];
  /** Scene number of each slot's frame within its entry (sceneNumbers). */
  private readonly slotScene: number[] = [];
  private readonly byId = new Map<string, Indexed>();
  private readonly banks = new Map<string, BankMeta>();
  private maxRadius = 0;
  /** Entries quarantined here before the store says so (the flood guard trips at once; the write follows). */
  private readonly held = new Set<string>();
  readonly stats = { corrupt: 0 };

  get size(): number {
    return this.index.size;
  }

  get entries(): number {
    return this.byId.size;
  }

  /**
   * Reports the entry as quarantined from now on, before its quarantine is stored (as HashBankIndex.hold).
   * Released when the store reports the entry quarantined, exempt or gone.
   */
  hold(entryId: string): void {
    if (this.byId.has(entryId)) this.held.add(entryId);
  }

  entry(entryId: string): VideoEntryMeta | undefined {
    const e = this.byId.get(entryId);
    if (!e) return undefined;
    const bank = this.banks.get(e.meta.bank);
    const out: VideoEntryMeta = { ...e.meta };
    if (this.held.has(entryId)) out.quarantined = true;
    if (bank?.negative) out.negative = true;
    if (bank && bank.ratio < 1 && rolloutPoint(entryId) >= bank.ratio) out.outsideRollout = true;
    return out;
  }

  protected async reloadBank(name: string): Promise<void> {
    const settings = await this.store.bank(name);
    const old = this.banks.get(name);
    if (!settings) {
      for (const id of old?.entries ?? []) this.dropEntry(id);
      this.banks.delete(name);
      this.updateRadius();
      return;
    }
    const fresh: BankMeta = {
      radius: Math.min(settings.radius, VPDQ_DISTANCE_THRESHOLD),
      enabled: settings.enabled,
      negative: settings.kind === 'negative',
      ratio: settings.matchingEnabledRatio ?? 1,
      entries: new Set(),
    };
    // Read whole before anything is swapped, so a failed read leaves the bank as it was.
    const rows: BankEntryRecord[] = [];
    for await (const page of this.store.entries(name)) for (const e of page) if (e.signalType === VPDQ_SIGNAL_TYPE) rows.push(e);
    for (const id of old?.entries ?? []) this.dropEntry(id);
    this.banks.set(name, fresh);
    this.addEntries(rows);
    this.updateRadius();
  }

  protected upsert(e: BankEntryRecord): void {
    this.dropEntry(e.id);
    if (e.quarantined || e.floodExempt) this.held.delete(e.id);
    this.addEntries([e]);
  }

  /**
   * Indexes the entries' frames with one `addMany`: a bank's reload is one batch, which the multi-index
   * builds at once when it is at least as large as what is indexed (one entry's 600 frames at a time would
   * leave them in the linearly scanned tail until merge jobs catch up: measured 1.6 ms a lookup at 600,000
   * frames, against tens of µs built).
   */
  private addEntries(rows: readonly BankEntryRecord[]): void {
    const batch: Array<{ e: BankEntryRecord; hashes: string[] }> = [];
    for (const e of rows) {
      if (!this.banks.has(e.bank) || e.signalType !== VPDQ_SIGNAL_TYPE || e.derivedFrom) continue;
      const frames = e.frames ? parseVpdqFrames(e.frames) : null;
      if (!frames) {
        this.stats.corrupt++;
        continue;
      }
      const usable = matchableFrames(frames);
      if (usable.length > 0) batch.push({ e, hashes: usable.map((f) => f.hash) });
    }
    if (batch.length === 0) return;
    let slot = this.index.addMany(batch.flatMap((b) => b.hashes.map(fromHex)));
    for (const { e, hashes } of batch) {
      const slots = hashes.map(() => slot++);
      const scenes = sceneNumbers(hashes.map(fromHex));
      slots.forEach((s, i) => {
        this.slotEntry[s] = e.id;
        this.slotScene[s] = scenes[i]!;
      });
      const meta: Indexed['meta'] = { entryId: e.id, bank: e.bank, category: e.category, severity: e.severity, frames: hashes.length };
      if (e.quarantined) meta.quarantined = true;
      if (e.floodExempt) meta.floodExempt = true;
      this.byId.set(e.id, { meta, slots });
      this.banks.get(e.bank)!.entries.add(e.id);
    }
  }

  protected dropEntry(id: string): void {
    const e = this.byId.get(id);
    if (!e) return;
    for (const s of e.slots) {
      this.index.remove(s);
      this.slotEntry[s] = null;
    }
    this.byId.delete(id);
    this.banks.get(e.meta.bank)?.entries.delete(id);
  }

  private updateRadius(): void {
    this.maxRadius = 0;
    for (const b of this.banks.values()) if (b.enabled) this.maxRadius = Math.max(this.maxRadius, b.radius);
  }

  match(hash: PdqHash, limit: number): VideoFrameHit[] {
    if (this.byId.size === 0) return [];
    const best = new Map<string, { distance: number; scene: number }>();
    for (const hit of this.index.search(hash, this.maxRadius)) {
      const id = this.slotEntry[hit.id];
      if (!id) continue;
      const e = this.byId.get(id)!;
      const bank = this.banks.get(e.meta.bank);
      if (!bank || !bank.enabled || hit.distance > bank.radius) continue;
      const prev = best.get(id);
      if (prev === undefined || hit.distance < prev.distance) best.set(id, { distance: hit.distance, scene: this.slotScene[hit.id] ?? 0 });
    }
    const out = [...best].map(([entryId, b]) => ({ entryId, distance: b.distance, scene: b.scene }));
    out.sort((a, b) => a.distance - b.distance || (a.entryId < b.entryId ? -1 : 1));
    return out.length > limit ? out.slice(0, limit) : out;
  }
}

/**
 * Scene numbers of a video's frames in order: a new scene starts where a frame is more than vPDQ's match
 * distance from the first frame of the current scene, so a held picture (an intro card, a logo, a still)
 * is one scene however long it lasts, and moving footage changes scene every second or two.
 */
export function sceneNumbers(hashes: readonly PdqHash[]): number[] {
  const out: number[] = [];
  let anchor: PdqHash | null = null;
  let scene = -1;
  for (const h of hashes) {
    if (anchor === null || hamming(anchor, h) > VPDQ_DISTANCE_THRESHOLD) {
      anchor = h;
      scene++;
    }
    out.push(scene);
  }
  return out;
}
