import { HASH_SUPPRESSED_SOURCE } from '../../classifiers/hash-matcher.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { VIDEO_MATCH_SOURCE } from '../../classifiers/vpdq/matcher.ts';

/**
 * The flood guard (HMA's roadmap: "flood quarantine"): a bank entry that suddenly matches far more distinct
 * live streams than it usually does is far likelier to be a bad hash (a black frame, a logo, a test card
 * someone banked) than a million simultaneous attacks, and one-strike cuts and suspensions at that scale are
 * what a platform cannot take back. So past the threshold the entry is quarantined at once: the signal that
 * tripped it and every later match are held back (stored as `hash_suppressed`, cutting nothing) and a
 * moderator is asked (gateway/banks/quarantine.ts). Time comes from the injected clock.
 *
 * The threshold is `max(streams, baselineFactor × baseline)`: `baseline` is the entry's usual count of
 * distinct streams per window (an average over past windows, sampled once a window), so an entry that
 * legitimately matches many streams every day is judged against its own normal. Counted per node: on
 * several nodes each counts the streams it watches. A banked video's match (`video_match`) counts like a
 * picture's: a video entry that is a bad hash (a broadcaster's intro, a countdown) floods the same way.
 */

export interface FloodGuardOptions {
  enabled: boolean;
  windowMs: number;
  streams: number;
  baselineFactor: number;
}

export interface FloodTrip {
  bank: string;
  entryId: string;
  /** Distinct streams that matched the entry within the window, the one that tripped it included. */
  streams: number;
  threshold: number;
  baseline: number;
  windowMs: number;
  /** A few of those streams (for the moderator). */
  sample: string[];
  at: number;
}

export interface FloodGuardDeps {
  now: () => number;
  /** The entry is held from this frame on (HashBankIndex.hold) until its stored quarantine arrives. */
  hold: (entryId: string) => void;
  /** A moderator cleared an earlier flood: leave it alone. */
  isExempt: (entryId: string) => boolean;
  /** Store the quarantine (asynchronously; errors are the caller's to log). */
  onTrip: (trip: FloodTrip) => void;
}

interface Tracked {
  /** stream id → last match time. */
  streams: Map<string, number>;
  baseline: number;
  /** When the baseline last took a sample. */
  sampledAt: number;
  tripped: boolean;
}

/** Entries tracked at once; the least recently matched is forgotten past it. */
const MAX_TRACKED = 100_000;
/** Weight of a new window's count in the baseline. */
const BASELINE_WEIGHT = 0.2;

export class FloodGuard {
  private readonly tracked = new Map<string, Tracked>();
  readonly stats = { trips: 0, held: 0 };

  constructor(
    private readonly opts: FloodGuardOptions,
    private readonly deps: FloodGuardDeps,
  ) {}

  /** Counts a bank match (picture or video); returns the signal as it should reach the policy (held back once the entry trips). */
  filter(signal: Signal): Signal {
    const matched = this.opts.enabled ? matchedEntry(signal) : null;
    if (!matched) return signal;
    const { entryId, bank } = matched;
    if (this.deps.isExempt(entryId)) return signal;
    const now = this.deps.now();
    let t = this.tracked.get(entryId);
    if (!t) {
      t = { streams: new Map(), baseline: 0, sampledAt: now, tripped: false };
      if (this.tracked.size >= MAX_TRACKED) this.tracked.delete(this.tracked.keys().next().value!);
    } else this.tracked.delete(entryId); // re-inserted below: the map's order is least recently matched first
    this.tracked.set(entryId, t);
    // One baseline sample per elapsed window: the streams of the window just past (later empty ones count as zero).
    const windows = Math.floor((now - t.sampledAt) / this.opts.windowMs);
    if (windows > 0) {
      for (let i = 0; i < Math.min(windows, 50); i++) t.baseline = (1 - BASELINE_WEIGHT) * t.baseline + BASELINE_WEIGHT * (i === 0 ? t.streams.size : 0);
      t.sampledAt += windows * this.opts.windowMs;
    }
    for (const [stream, at] of t.streams) if (now - at > this.opts.windowMs) t.streams.delete(stream);
    t.streams.set(signal.streamId, now);
    if (t.tripped) return this.held(signal);
    const threshold = Math.max(this.opts.streams, Math.ceil(this.opts.baselineFactor * t.baseline));
    if (t.streams.size < threshold) return signal;
    t.tripped = true;
    this.stats.trips++;
    this.deps.hold(entryId);
    this.deps.onTrip({
      bank,
      entryId,
      streams: t.streams.size,
      threshold,
      baseline: Math.round(t.baseline * 100) / 100,
      windowMs: this.opts.windowMs,
      sample: [...t.streams.keys()].slice(-20),
      at: now,
    });
    return this.held(signal);
  }

  /** A moderator resolved the entry's quarantine: count afresh. */
  forget(entryId: string): void {
    this.tracked.delete(entryId);
  }

  private held(signal: Signal): Signal {
    this.stats.held++;
    return { ...signal, source: HASH_SUPPRESSED_SOURCE, detail: { ...signal.detail, suppressed: 'quarantined', quarantineReason: 'flood' } };
  }
}

/** The bank entry a signal reports a match of, for the signals the guard counts: a picture's hash match, a video match. */
function matchedEntry(signal: Signal): { bank: string; entryId: string } | null {
  if (signal.source === 'hash_match') return signal.match ? { bank: signal.match.bank, entryId: signal.match.entryId } : null;
  if (signal.source !== VIDEO_MATCH_SOURCE) return null;
  const bank = signal.detail?.bank;
  const entryId = signal.detail?.entryId;
  return typeof bank === 'string' && typeof entryId === 'string' ? { bank, entryId } : null;
}
