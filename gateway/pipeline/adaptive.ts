import type { Signal } from '../../classifiers/signal.ts';
import type { SamplerMode } from '../sampler/sampler.ts';

/**
 * Adaptive sampling: every stream is watched cheaply — its keyframes only, taken from the ingest in memory
 * and decoded by one decoder pool shared by all streams (gateway/sampler/keyframe-sampler.ts) — and a
 * stream whose frames come close to a policy threshold is escalated to full-rate decoding by a sampler
 * process of its own, then handed back once it has been calm for a while. This module is the decision
 * only — pure functions over a small per-stream state, plus a thin controller holding those states — so it
 * is unit-tested without ffmpeg; gateway/pipeline/watcher.ts applies its answers.
 *
 * What counts as "close" (a hot signal):
 *  - any classifier score ≥ `escalateAt` (default 0.3, well under the policy's 0.6 / 0.9 rule thresholds,
 *    so one keyframe that merely looks suspicious buys the stream the frame rate its smoothing needs —
 *    the default violence rule wants 3 of 4 frames ≥ 0.9, i.e. 6 s of keyframes but 1.5 s at 2 fps);
 *  - any `hash_match` whose distance is ≤ `nearDistance` (default 48). Today the matcher reports matches
 *    within each bank's radius only (default 31), so in practice every hash match escalates; the wider
 *    radius is honoured as soon as the matcher reports near-misses.
 *  Sampler stalls never escalate (a stalled stream has nothing to decode faster).
 *
 * Hysteresis: escalation is immediate; de-escalation waits until no hot signal has been seen for
 * `calmForMs` (default 30 s) — and, for a stream escalated at start (`warmupMs`), until the warm-up is
 * over. Each escalation starts a sampler process (the server's GOP cache makes the start cheap), so a
 * stream hovering around the threshold stays escalated rather than flapping.
 *
 * Latency: a calm stream is seen at its keyframes, so content entering mid-GOP is first seen at the next
 * keyframe (on average half a GOP later, at most a whole GOP: 2 s at OBS's default) plus ~10–40 ms of
 * decoding. A bank match on that keyframe cuts at once; a smoothed classifier rule needs about a second
 * of full-rate frames more after the escalation (the new sampler starts from the server's GOP cache, i.e.
 * from that keyframe). Figures: BENCHMARKS.md, "Capacity".
 *
 * Capacity guard: `maxEscalated` (default unlimited) bounds how many streams run at full rate at once. A
 * new escalation at the cap pre-empts the escalated stream whose last hot signal is oldest (it is the
 * likeliest to be calm), provided that was ≥ PREEMPT_AFTER_MS (5 s) ago; otherwise the new one waits in
 * keyframe mode and the refusal is counted. It protects the host from a noisy model escalating everything.
 */

export interface AdaptiveOptions {
  /** A classifier score at or above this escalates the stream. */
  escalateAt: number;
  /** A hash match at this PDQ distance or closer escalates the stream. */
  nearDistance: number;
  /** Back to keyframe mode after this long without a hot signal. */
  calmForMs: number;
  /** Full rate for the first this-many ms of every new stream (0: start in keyframe mode). */
  warmupMs: number;
  /** At most this many streams at full rate at once (Infinity: no limit). */
  maxEscalated: number;
  /** A stream whose keyframes are further apart than this is watched at full rate for good. */
  maxKeyframeIntervalMs: number;
}

export const DEFAULT_ADAPTIVE: AdaptiveOptions = {
  escalateAt: 0.3,
  nearDistance: 48,
  calmForMs: 30_000,
  warmupMs: 0,
  maxEscalated: Number.POSITIVE_INFINITY,
  // Streaming services ask for a 2 s keyframe interval; OBS's "auto" gives x264's 250 frames (~8 s).
  maxKeyframeIntervalMs: 4_000,
};

export interface AdaptiveState {
  mode: SamplerMode;
  startedAt: number;
  /** When the current mode was entered. */
  since: number;
  /** Wall time of the last hot signal, or null. */
  lastHotAt: number | null;
  /** Why the stream is (or last was) escalated. */
  reason: string | null;
  escalations: number;
  /** Held at full rate for good: it cannot be watched from keyframes (see StreamWatcher). */
  pinned?: boolean;
}

/** Why a signal is hot (a short reason for logs and stats), or null when it is not. */
export function hotReason(signal: Signal, o: Pick<AdaptiveOptions, 'escalateAt' | 'nearDistance'>): string | null {
  if (signal.source === 'sampler') return null;
  if (signal.match) return signal.match.distance <= o.nearDistance ? `hash_match d=${signal.match.distance}` : null;
  if (signal.score !== undefined && signal.score >= o.escalateAt) return `${signal.source}/${signal.label} ${signal.score.toFixed(2)}`;
  return null;
}

export function initialState(now: number, o: Pick<AdaptiveOptions, 'warmupMs'>): AdaptiveState {
  const warm = o.warmupMs > 0;
  return { mode: warm ? 'full' : 'keyframe', startedAt: now, since: now, lastHotAt: null, reason: warm ? 'warm-up' : null, escalations: warm ? 1 : 0 };
}

/**
 * One signal in. Returns the next state (the same object when nothing changed). `allowEscalate` false
 * (the capacity guard said no) records the heat but keeps the mode.
 */
export function observe(state: AdaptiveState, signal: Signal, now: number, o: AdaptiveOptions, allowEscalate = true): AdaptiveState {
  const reason = hotReason(signal, o);
  if (!reason) return state;
  if (state.mode === 'full') return { ...state, lastHotAt: now, reason };
  if (!allowEscalate) return { ...state, lastHotAt: now };
  return { ...state, mode: 'full', since: now, lastHotAt: now, reason, escalations: state.escalations + 1 };
}

/** Time passing: drops a calm stream back to keyframe mode. */
export function tick(state: AdaptiveState, now: number, o: AdaptiveOptions): AdaptiveState {
  if (state.mode !== 'full' || state.pinned) return state;
  if (now - state.startedAt < o.warmupMs) return state;
  const hotAt = Math.max(state.lastHotAt ?? Number.NEGATIVE_INFINITY, state.since);
  if (now - hotAt < o.calmForMs) return state;
  return { ...state, mode: 'keyframe', since: now };
}

/** An escalated stream can be pre-empted only once it has been this long without a hot signal. */
export const PREEMPT_AFTER_MS = 5_000;

export interface ModeChange {
  streamId: string;
  mode: SamplerMode;
  reason: string;
  at: number;
}

export interface AdaptiveStats {
  streams: number;
  escalated: number;
  escalations: number;
  deescalations: number;
  preempted: number;
  refused: number;
}

/** The per-stream states of one gateway, with the capacity guard across them. */
export class AdaptiveController {
  readonly opts: AdaptiveOptions;
  private readonly states = new Map<string, AdaptiveState>();
  private readonly counters = { escalations: 0, deescalations: 0, preempted: 0, refused: 0 };

  constructor(opts: Partial<AdaptiveOptions> = {}) {
    // Undefined fields (an absent config key) keep their defaults.
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<AdaptiveOptions>;
    this.opts = { ...DEFAULT_ADAPTIVE, ...given };
    if (!(this.opts.escalateAt >= 0 && this.opts.escalateAt <= 1)) throw new RangeError(`escalateAt must be in [0, 1], got ${this.opts.escalateAt}`);
    if (!(this.opts.calmForMs >= 0)) throw new RangeError(`calmForMs must be ≥ 0, got ${this.opts.calmForMs}`);
    if (!(this.opts.maxEscalated >= 0)) throw new RangeError(`maxEscalated must be ≥ 0, got ${this.opts.maxEscalated}`);
  }

  /** A new stream; returns the mode its sampler starts in. */
  add(streamId: string, now: number): SamplerMode {
    let s = initialState(now, this.opts);
    if (s.mode === 'full' && this.escalatedCount() >= this.opts.maxEscalated) s = { ...s, mode: 'keyframe', reason: null, escalations: 0 };
    this.states.set(streamId, s);
    return s.mode;
  }

  /**
   * Holds a stream at full rate for the rest of its life (it cannot be watched from keyframes). Not
   * subject to `maxEscalated`: such a stream is watched at full rate or not at all.
   */
  pin(streamId: string, now: number, reason: string): void {
    const s = this.states.get(streamId);
    if (!s) return;
    if (s.mode !== 'full') this.counters.escalations++;
    this.states.set(streamId, {
      ...s,
      mode: 'full',
      since: s.mode === 'full' ? s.since : now,
      reason,
      escalations: s.escalations + (s.mode === 'full' ? 0 : 1),
      pinned: true,
    });
  }

  /**
   * Ends a pin made with `reason` (an incident's full-rate sampling, when the incident ends): the stream is
   * then calmed down like any other, `calmForMs` from now. A pin made for another reason stays.
   */
  unpin(streamId: string, reason: string, now: number): void {
    const s = this.states.get(streamId);
    if (!s?.pinned || s.reason !== reason) return;
    this.states.set(streamId, { ...s, pinned: false, lastHotAt: now });
  }

  remove(streamId: string): void {
    this.states.delete(streamId);
  }

  mode(streamId: string): SamplerMode | undefined {
    return this.states.get(streamId)?.mode;
  }

  state(streamId: string): Readonly<AdaptiveState> | undefined {
    return this.states.get(streamId);
  }

  /** Feeds a signal; returns the mode changes to apply (this stream's escalation, maybe a pre-empted one). */
  observe(signal: Signal, now: number): ModeChange[] {
    const prev = this.states.get(signal.streamId);
    if (!prev) return [];
    const changes: ModeChange[] = [];
    let allow = true;
    if (prev.mode === 'keyframe' && hotReason(signal, this.opts) && this.escalatedCount() >= this.opts.maxEscalated) {
      const victim = this.stalestEscalated();
      if (victim && now - (victim[1].lastHotAt ?? victim[1].since) >= PREEMPT_AFTER_MS) {
        this.states.set(victim[0], { ...victim[1], mode: 'keyframe', since: now });
        this.counters.preempted++;
        this.counters.deescalations++;
        changes.push({ streamId: victim[0], mode: 'keyframe', reason: `pre-empted by ${signal.streamId}`, at: now });
      } else {
        allow = false;
        this.counters.refused++;
      }
    }
    const next = observe(prev, signal, now, this.opts, allow);
    this.states.set(signal.streamId, next);
    if (next.mode !== prev.mode) {
      this.counters.escalations++;
      changes.push({ streamId: signal.streamId, mode: next.mode, reason: next.reason ?? 'hot', at: now });
    }
    return changes;
  }

  /** Time passing; returns the de-escalations to apply. */
  tick(now: number): ModeChange[] {
    const changes: ModeChange[] = [];
    for (const [id, prev] of this.states) {
      const next = tick(prev, now, this.opts);
      if (next === prev) continue;
      this.states.set(id, next);
      this.counters.deescalations++;
      changes.push({ streamId: id, mode: next.mode, reason: `calm for ${Math.round((now - Math.max(prev.lastHotAt ?? 0, prev.since)) / 1000)} s`, at: now });
    }
    return changes;
  }

  stats(): AdaptiveStats {
    return { streams: this.states.size, escalated: this.escalatedCount(), ...this.counters };
  }

  private escalatedCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.mode === 'full') n++;
    return n;
  }

  private stalestEscalated(): [string, AdaptiveState] | undefined {
    let best: [string, AdaptiveState] | undefined;
    for (const e of this.states) {
      if (e[1].mode !== 'full' || e[1].pinned) continue;
      const t = e[1].lastHotAt ?? e[1].since;
      if (!best || t < (best[1].lastHotAt ?? best[1].since)) best = e;
    }
    return best;
  }
}
