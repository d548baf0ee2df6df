import type { HashMatch } from './signal.ts';

/**
 * Where the live bank index reads banks from: a snapshot (every bank, its enabled entries) and a feed of
 * changes after a revision. The gateway implements it over its database (gateway/banks/store.ts); the
 * index (classifiers/bank-index.ts) knows nothing else about storage, so a store fed by an exchange, a
 * push channel (LISTEN/NOTIFY) or a test's in-memory list plugs in without touching it.
 */

export type BankSeverity = HashMatch['severity'];

/**
 * What kind of hash an entry holds: `pdq`, `copy` (learned descriptors), `vpdq` (a video's frame hashes,
 * classifiers/vpdq); other kinds come as their own types, each read by the index that understands it and skipped by
 * the others — so a store may carry them before any index does.
 */
export type BankSignalType = 'pdq' | (string & {});
export const PDQ_SIGNAL_TYPE = 'pdq';
/** A learned copy descriptor (classifiers/copy): `<whitening id>:<base64 float32>`, stored as a derived entry of the content's PDQ entry. */
export const COPY_SIGNAL_TYPE = 'copy';

export interface BankSettings {
  name: string;
  /** A disabled bank keeps its entries indexed but matches nothing, so re-enabling it is instant. */
  enabled: boolean;
  /** Hamming radius of this bank's matches. */
  radius: number;
  /** `negative` (HMA's "don't match" bank): a frame matching one of its entries has its positive matches suppressed. Default positive. */
  kind?: 'positive' | 'negative';
  /** Share of the bank's content that matches (HMA's matching_enabled_ratio), decided per content id. Default 1. */
  matchingEnabledRatio?: number;
}

/** One enabled entry, as the index needs it (the rest — note, source, who added it — stays in the store). */
export interface BankEntryRecord {
  id: string;
  bank: string;
  signalType: BankSignalType;
  /** The hash in its type's text form (PDQ: 64 lowercase hex characters). */
  hash: string;
  category: string;
  severity: BankSeverity;
  /** Set on a derived entry (a hash of a crop of banked content): the entry it was cut from. */
  derivedFrom?: string | null;
  /** The region of that entry a derived entry hashes (`centre-80`, `tile-tl`, `trimmed`…). */
  region?: string | null;
  /** Matches are reported as suppressed (no cut) until a moderator clears it: a flood of matches, a partner's deconfirmation. */
  quarantined?: boolean;
  /** A moderator cleared a flood quarantine: the flood guard leaves it alone. */
  floodExempt?: boolean;
  /** A vPDQ (video) entry's frames, `pdq_hex,quality,timestamp` per line (classifiers/vpdq/frames.ts); its `hash` is only its identity. */
  frames?: string | null;
}

/**
 * The net change after a revision: applied to the index as of `from`, it yields the index as of `revision`.
 * Applying a delta twice, or one that overlaps a snapshot, is harmless (reloads and upserts replace, tombstones
 * of absent entries are no-ops), so a reader may take its snapshot after reading the revision.
 */
export interface BankDelta {
  /** Revision this delta brings the reader to; equal to `from` when nothing changed. */
  revision: number;
  /** Banks to reload from `bank()` and `entries()` (settings changed, bulk import, created or gone). */
  reload: string[];
  /** Entries added, changed or re-enabled, outside the reloaded banks. */
  upserts: BankEntryRecord[];
  /** Entries removed or disabled, outside the reloaded banks. */
  tombstones: Array<{ bank: string; id: string }>;
  /** More changes wait after `revision` (the delta was capped): read again. */
  more: boolean;
}

export interface BankStore {
  /**
   * The latest revision. Revisions only grow; the feed must not skip a change that commits later with a
   * smaller revision (a store on several writers makes its revisions gap-free in commit order).
   */
  revision(): Promise<number>;
  banks(): Promise<BankSettings[]>;
  /** One bank's settings; null when it no longer exists. */
  bank(name: string): Promise<BankSettings | null>;
  /** A bank's enabled entries, a page at a time (a bank may hold millions). */
  entries(bank: string): AsyncIterable<readonly BankEntryRecord[]>;
  /** The net change after `from`, covering at most about `limit` recorded changes. */
  changesSince(from: number, limit?: number): Promise<BankDelta>;
}
