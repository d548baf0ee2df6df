import type { Severity } from '../store/schema.ts';

/**
 * The exchange plug-in interface: a source of shared hashes that modgate tails by checkpoint, and that may
 * take our opinion of its signals back. Modelled on python-threatexchange's SignalExchangeAPI
 * (facebook/ThreatExchange, python-threatexchange/threatexchange/exchanges/signal_exchange_api.py and
 * fetch_state.py): `fetch_iter(signal_types, checkpoint)` yields FetchDelta `{updates: {key: value | None},
 * checkpoint}` where None deletes the record, keys partition the data set so updates and deletes apply in
 * order without loading the whole set, and `report_opinion(signal_type, signal, SignalOpinion)` is optional
 * (callers catch NotImplementedError; here `reportOpinion` is simply absent).
 *
 * One call of `fetchDeltas` is one page (one yield of fetch_iter): the runner (runner.ts) applies it to the
 * exchange's bank and stores `checkpoint` in the same transaction, so a crash between pages repeats at most
 * one page, and applying a page twice is harmless (upserts replace, tombstones of absent keys are no-ops).
 */

/** What a shared signal carries into the exchange's bank. Only `pdq` is matched today; other types are kept out (counted as skipped). */
export interface ExchangeEntry {
  signalType: string;
  /** PDQ: 64 lowercase hex characters. */
  hash: string;
  /** The exchange's own label (TAT ideology, a partner's category); the bank's category applies when absent. */
  category?: string;
  severity?: Severity;
  note?: string;
}

/** A record of a page that failed validation: set aside (exchange_quarantine) while the rest of the page applies. */
export interface RejectedRecord {
  reason: string;
  /** The record as received (truncated when stored). */
  raw: string;
}

export interface FetchPage {
  /** key → entry, or null: the exchange deleted it (a tombstone). Keys are the exchange's own (TAT: `pdq:<hash>`). */
  deltas: Map<string, ExchangeEntry | null>;
  /** The checkpoint to resume from after this page; stored with it. */
  checkpoint: string | null;
  /** No more pages wait now (fetch_iter returned): the runner waits for the next scheduled fetch. */
  done: boolean;
  /** The page is the whole data set (a hash-list file or URL): keys of the bank absent from it are deleted. */
  complete?: boolean;
  /** Records of this page that failed validation; the checkpoint still moves past them. */
  rejected: RejectedRecord[];
}

/** fetch_state.py SignalOpinionCategory. */
export type OpinionCategory = 'negative_class' | 'investigation_seed' | 'positive_class';

/** fetch_state.py SignalOpinion: is_mine, category, tags. */
export interface SignalOpinion {
  isMine: boolean;
  category: OpinionCategory;
  tags: string[];
}

export interface SignalExchange {
  /** The kind's stable name (`tat`, `hashlist`, `modgate`), as get_name() in python-threatexchange. */
  readonly kind: string;
  /** One page of changes after `checkpoint` (null: from the beginning). Throws ExchangeFetchError when nothing could be read. */
  fetchDeltas(checkpoint: string | null, signal?: AbortSignal): Promise<FetchPage>;
  /**
   * Send our opinion of one of its signals back (a deconfirmation: negative_class). Absent where the exchange
   * takes none. Every retry of one opinion carries the same `idempotencyKey`, where the exchange takes one.
   */
  reportOpinion?(signalType: string, hash: string, opinion: SignalOpinion, opts?: { signal?: AbortSignal; idempotencyKey?: string }): Promise<void>;
  /**
   * Fetch again at once after a page (a long-poll feed that answers as soon as something changes) rather
   * than at the next interval.
   */
  readonly longPoll?: boolean;
}

/**
 * Nothing of the page could be used (unreachable, HTTP error, not JSON, no checkpoint). The checkpoint
 * stays; the runner backs off. `raw` (a malformed body) is quarantined so an operator sees what came.
 */
export class ExchangeFetchError extends Error {
  constructor(
    readonly code: 'unreachable' | 'http_error' | 'unauthorized' | 'malformed_page',
    message: string,
    readonly raw?: string,
    /** The HTTP status of an `http_error` or `unauthorized` answer (absent when no answer came). */
    readonly status?: number,
  ) {
    super(message);
  }
}

export const PDQ_HEX = /^[0-9a-f]{64}$/;
