import type { Signal } from '../classifiers/signal.ts';
import { effectOf, evaluate, type Actions, type Decision, type SignalRef } from './engine.ts';
import type { AccountHistory } from './history.ts';
import { formatDurationMs, stallRuleId, type Policy } from './schema.ts';

/**
 * Backtest: replay stored signals against a baseline policy and a candidate policy with the engine's
 * batch `evaluate`, and report which decisions would differ — per rule, counts of decisions added,
 * removed, changed (different actions, or enforced ↔ shadow) and retimed (same actions, another time),
 * with examples — plus how both compare with the decisions actually recorded.
 *
 * Pure and deterministic: no clock, no I/O. The same inputs always give the same report (streams are
 * processed in (startedAt, streamId) order and examples are the earliest by (decidedAt, streamId)).
 *
 * What a replay cannot know, and therefore leaves out or reports as a note:
 *  - Stall entries are not replayed: the gateway stores only signals worth keeping (scores at or above
 *    its floor, matches, stall reports), so silence in the stored record is not a stall.
 *  - Signals below the storage floor were never stored, so a rule matching scores below it undercounts.
 *  - A stream that was cut in reality has no signals after the cut: a candidate that would not have cut
 *    cannot see what would have come next.
 *  - Account history is what was recorded, not re-simulated: strikes the candidate would have added
 *    (or not issued) do not change the escalation of later streams.
 */

/** A decision as the gateway recorded it (table `decisions`), for comparison with the replay. */
export interface RecordedDecisionInput {
  id: string;
  ruleId: string;
  shadow: boolean;
  /** The recorded actions (`wouldHave` for a shadow decision). */
  actions: Actions;
  decidedAt: number;
  /** `name@version` of the policy that decided it. */
  policyVersion: string;
}

export interface BacktestStream {
  streamId: string;
  accountId: string;
  personId: string | null;
  startedAt: number;
  /** Strikes and suspensions of the account and person as of the stream's start. */
  history: AccountHistory;
  /** The stream's stored signals (any order; replayed in observedAt order, ties in the given order). */
  signals: readonly Signal[];
  /** Policy decisions actually recorded for the stream, when known. */
  recorded?: readonly RecordedDecisionInput[];
}

export interface BacktestOptions {
  /** Count only decisions with decidedAt ≥ since (earlier signals still feed smoothing windows). */
  since?: number;
  /** Signals observed after `until` are not replayed, and only decisions with decidedAt < until count. */
  until?: number;
  /** Examples kept per rule and kind of change (default 5). */
  maxExamples?: number;
  /** The gateway's storage floor for scored signals (policy.storeSignalsFloor), to warn about undercounting. */
  storedSignalsFloor?: number;
}

export type ChangeKind = 'added' | 'removed' | 'changed' | 'retimed';

/** One side of an example: what a policy decided (or what was recorded). */
export interface DecisionSummary {
  decidedAt: number;
  /** decidedAt as ISO 8601. */
  at: string;
  shadow: boolean;
  /** Enforced actions, or what a shadow rule would have done. */
  actions: Actions;
  /** One line: `cut, suspend 30d, strike graphic-violence/high, review high` (prefixed `shadow:` for shadow). */
  summary: string;
  reason: string;
  evidenceRefs: string[];
  signalRefs: SignalRef[];
  /** Escalation rung applied (index in the rule's ladder), or null. */
  escalationStep: number | null;
}

export interface BacktestExample {
  change: ChangeKind;
  streamId: string;
  accountId: string;
  ruleId: string;
  /** When it happens: the candidate's decision time, else the baseline's. */
  decidedAt: number;
  at: string;
  /** What differs, in words (`suspend 30d → permanent`, `enforced → shadow`, `decided 4.0 s later`). */
  differences: string[];
  baseline: DecisionSummary | null;
  candidate: DecisionSummary | null;
}

export interface EnforcedShadow {
  enforced: number;
  shadow: number;
}

export interface RuleDiff {
  ruleId: string;
  inBaseline: boolean;
  inCandidate: boolean;
  baseline: EnforcedShadow;
  candidate: EnforcedShadow;
  /** Decisions actually recorded under this rule id (null when the caller gave no recorded decisions). */
  recorded: EnforcedShadow | null;
  /** Counted by the candidate's decision (enforced or shadow). */
  added: EnforcedShadow;
  /** Counted by the baseline's decision. */
  removed: EnforcedShadow;
  changed: number;
  retimed: number;
  unchanged: number;
  /** Up to maxExamples per kind of change, earliest first. */
  examples: BacktestExample[];
}

export interface Tally {
  decisions: number;
  enforced: number;
  shadow: number;
  /** Enforced decisions that cut the feed. */
  cuts: number;
  suspensions: number;
  permanentSuspensions: number;
  strikes: number;
  reviews: number;
  /** Streams with at least one enforced cut. */
  streamsCut: number;
}

export interface RecordedComparison {
  /** Recorded policy decisions in the range (stall decisions excluded: stalls are not replayed). */
  decisions: number;
  /** Recorded decisions the baseline replay also makes (same stream and rule). */
  reproducedByBaseline: number;
  /** Recorded decisions the baseline replay does not make (e.g. the policy changed during the range). */
  missedByBaseline: number;
  /** Baseline replay decisions that were not recorded. */
  extraInBaseline: number;
  /** Recorded decisions the candidate would also make. */
  keptByCandidate: number;
  /** Recorded decisions the candidate would not make. */
  droppedByCandidate: number;
  /** Candidate decisions that were not recorded. */
  newInCandidate: number;
}

export interface BacktestReport {
  baseline: { name: string; version: string };
  candidate: { name: string; version: string };
  range: { since: number | null; until: number | null };
  streams: number;
  signals: number;
  totals: {
    baseline: Tally;
    candidate: Tally;
    recorded: Tally | null;
    added: number;
    removed: number;
    changed: number;
    retimed: number;
    unchanged: number;
    /** Streams with at least one added, removed or changed decision. */
    streamsAffected: number;
    /** Streams cut by the candidate but not the baseline, and the reverse. */
    streamsNewlyCut: number;
    streamsNoLongerCut: number;
  };
  /** Candidate rules in file order, then baseline-only rules, then other recorded rule ids. */
  rules: RuleDiff[];
  recorded: RecordedComparison | null;
  /** What the replay could not cover (see the module comment). */
  notes: string[];
}

export const DEFAULT_MAX_EXAMPLES = 5;

/** The policy without its stall entries: a stored record cannot tell silence from unstored signals. */
function withoutStalls(policy: Policy): Policy {
  return policy.stall.length === 0 ? policy : { ...policy, stall: [] };
}

/** Replays one stream under one policy; only decisions in [since, until) are returned. */
export function replayStream(policy: Policy, stream: BacktestStream, opts: Pick<BacktestOptions, 'since' | 'until'> = {}): Decision[] {
  const signals = orderSignals(stream);
  const now = opts.until ?? Number.MAX_SAFE_INTEGER;
  const ctx = { streamId: stream.streamId, accountId: stream.accountId, personId: stream.personId, startedAt: stream.startedAt, history: stream.history };
  return evaluate(withoutStalls(policy), ctx, signals, now).filter((d) => inRange(d.decidedAt, opts));
}

function orderSignals(stream: BacktestStream): Signal[] {
  for (const s of stream.signals) {
    if (s.streamId !== stream.streamId) throw new Error(`backtest: signal of stream ${s.streamId} given with stream ${stream.streamId}`);
  }
  // Array.prototype.sort is stable: ties keep the stored order.
  return [...stream.signals].sort((a, b) => a.observedAt - b.observedAt);
}

function inRange(t: number, opts: Pick<BacktestOptions, 'since' | 'until'>): boolean {
  return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t < opts.until);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `cut, suspend 30d, strike graphic-violence/high (90d), review high, warn "…"` */
export function describeEffect(shadow: boolean, a: Actions, decidedAt: number): string {
  const parts: string[] = [];
  if (a.cut) parts.push('cut');
  if (a.suspend !== undefined) parts.push(`suspend ${suspendText(a.suspend)}`);
  if (a.strike !== undefined) parts.push(`strike ${strikeText(a.strike, decidedAt)}`);
  if (a.review !== undefined) parts.push(`review ${a.review.priority}`);
  if (a.warn !== undefined) parts.push(`warn "${a.warn.message}"`);
  const text = parts.length === 0 ? 'no action' : parts.join(', ');
  return shadow ? `shadow: ${text}` : text;
}

function suspendText(s: NonNullable<Actions['suspend']>): string {
  return s.durationMs === null ? 'permanent' : formatDurationMs(s.durationMs);
}

function strikeText(s: NonNullable<Actions['strike']>, decidedAt: number): string {
  const life = s.expiresAt - decidedAt;
  return `${s.category}/${s.severity}${life > 0 ? ` (${formatDurationMs(life)})` : ''}`;
}

function summarize(d: Decision): DecisionSummary {
  const actions = effectOf(d);
  return {
    decidedAt: d.decidedAt,
    at: iso(d.decidedAt),
    shadow: d.shadow,
    actions,
    summary: describeEffect(d.shadow, actions, d.decidedAt),
    reason: d.reason,
    evidenceRefs: d.evidenceRefs,
    signalRefs: d.signalRefs,
    escalationStep: d.escalation?.step ?? null,
  };
}

/** What differs in effect between two decisions of the same rule on the same stream (timing aside). */
export function effectDifferences(
  b: { shadow: boolean; actions: Actions; decidedAt: number },
  c: { shadow: boolean; actions: Actions; decidedAt: number },
): string[] {
  const out: string[] = [];
  if (b.shadow !== c.shadow) out.push(b.shadow ? 'shadow → enforced' : 'enforced → shadow');
  const ba = b.actions;
  const ca = c.actions;
  if (ba.cut !== ca.cut) out.push(ba.cut ? 'cut → no cut' : 'no cut → cut');
  const bs = ba.suspend === undefined ? 'none' : suspendText(ba.suspend);
  const cs = ca.suspend === undefined ? 'none' : suspendText(ca.suspend);
  if (bs !== cs) out.push(`suspend ${bs} → ${cs}`);
  const bk = ba.strike === undefined ? 'none' : strikeText(ba.strike, b.decidedAt);
  const ck = ca.strike === undefined ? 'none' : strikeText(ca.strike, c.decidedAt);
  if (bk !== ck) out.push(`strike ${bk} → ${ck}`);
  const br = ba.review?.priority ?? 'none';
  const cr = ca.review?.priority ?? 'none';
  if (br !== cr) out.push(`review ${br} → ${cr}`);
  const bw = ba.warn?.message;
  const cw = ca.warn?.message;
  if (bw !== cw) out.push(`warn ${bw === undefined ? 'none' : JSON.stringify(bw)} → ${cw === undefined ? 'none' : JSON.stringify(cw)}`);
  return out;
}

function timingDifference(b: number, c: number): string {
  const d = (c - b) / 1000;
  return `decided ${Math.abs(d).toFixed(1)} s ${d > 0 ? 'later' : 'earlier'}`;
}

function emptyTally(): Tally {
  return { decisions: 0, enforced: 0, shadow: 0, cuts: 0, suspensions: 0, permanentSuspensions: 0, strikes: 0, reviews: 0, streamsCut: 0 };
}

/** Adds one stream's decisions to a tally. */
function tallyStream(t: Tally, ds: ReadonlyArray<{ shadow: boolean; actions: Actions }>): void {
  let cut = false;
  for (const d of ds) {
    t.decisions++;
    if (d.shadow) {
      t.shadow++;
      continue;
    }
    t.enforced++;
    const a = d.actions;
    if (a.cut) {
      t.cuts++;
      cut = true;
    }
    if (a.suspend !== undefined) {
      t.suspensions++;
      if (a.suspend.durationMs === null) t.permanentSuspensions++;
    }
    if (a.strike !== undefined) t.strikes++;
    if (a.review !== undefined) t.reviews++;
  }
  if (cut) t.streamsCut++;
}

const bump = (es: EnforcedShadow, shadow: boolean) => {
  if (shadow) es.shadow++;
  else es.enforced++;
};

function newRuleDiff(ruleId: string, inBaseline: boolean, inCandidate: boolean, withRecorded: boolean): RuleDiff {
  const z = (): EnforcedShadow => ({ enforced: 0, shadow: 0 });
  return {
    ruleId,
    inBaseline,
    inCandidate,
    baseline: z(),
    candidate: z(),
    recorded: withRecorded ? z() : null,
    added: z(),
    removed: z(),
    changed: 0,
    retimed: 0,
    unchanged: 0,
    examples: [],
  };
}

function compareExamples(a: BacktestExample, b: BacktestExample): number {
  return a.decidedAt - b.decidedAt || (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0);
}

/**
 * Replays every stream under `baseline` and `candidate` and diffs the decisions, rule by rule. A rule
 * decides at most once per stream, so decisions are paired by (stream, rule id).
 */
export function backtest(baseline: Policy, candidate: Policy, streams: readonly BacktestStream[], opts: BacktestOptions = {}): BacktestReport {
  const maxExamples = opts.maxExamples ?? DEFAULT_MAX_EXAMPLES;
  const range = { since: opts.since, until: opts.until };
  const withRecorded = streams.some((s) => s.recorded !== undefined);
  const stallIds = new Set([...baseline.stall, ...candidate.stall].map(stallRuleId));
  const ruleIds = new Set([...baseline.rules, ...candidate.rules].map((r) => r.id));

  const rules = new Map<string, RuleDiff>();
  const baseIds = new Set(baseline.rules.map((r) => r.id));
  const candIds = new Set(candidate.rules.map((r) => r.id));
  for (const r of candidate.rules) rules.set(r.id, newRuleDiff(r.id, baseIds.has(r.id), true, withRecorded));
  for (const r of baseline.rules) if (!rules.has(r.id)) rules.set(r.id, newRuleDiff(r.id, true, false, withRecorded));
  const others: string[] = [];
  const ruleFor = (id: string): RuleDiff => {
    let r = rules.get(id);
    if (r === undefined) {
      r = newRuleDiff(id, false, false, withRecorded);
      rules.set(id, r);
      others.push(id);
    }
    return r;
  };

  const examples = new Map<string, BacktestExample[]>();
  const addExample = (e: BacktestExample) => {
    const key = `${e.ruleId}\u0000${e.change}`;
    const list = examples.get(key) ?? [];
    list.push(e);
    examples.set(key, list);
  };

  const totals = {
    baseline: emptyTally(),
    candidate: emptyTally(),
    recorded: withRecorded ? emptyTally() : null,
    added: 0,
    removed: 0,
    changed: 0,
    retimed: 0,
    unchanged: 0,
    streamsAffected: 0,
    streamsNewlyCut: 0,
    streamsNoLongerCut: 0,
  };
  const recorded: RecordedComparison | null = withRecorded
    ? { decisions: 0, reproducedByBaseline: 0, missedByBaseline: 0, extraInBaseline: 0, keptByCandidate: 0, droppedByCandidate: 0, newInCandidate: 0 }
    : null;

  let signalCount = 0;
  const ordered = [...streams].sort((a, b) => a.startedAt - b.startedAt || (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
  for (const stream of ordered) {
    signalCount += stream.signals.length;
    const base = replayStream(baseline, stream, range);
    const cand = replayStream(candidate, stream, range);
    tallyStream(
      totals.baseline,
      base.map((d) => ({ shadow: d.shadow, actions: effectOf(d) })),
    );
    tallyStream(
      totals.candidate,
      cand.map((d) => ({ shadow: d.shadow, actions: effectOf(d) })),
    );
    const baseCut = base.some((d) => !d.shadow && d.actions.cut);
    const candCut = cand.some((d) => !d.shadow && d.actions.cut);
    if (candCut && !baseCut) totals.streamsNewlyCut++;
    if (baseCut && !candCut) totals.streamsNoLongerCut++;

    const byRuleBase = new Map(base.map((d) => [d.ruleId, d]));
    const byRuleCand = new Map(cand.map((d) => [d.ruleId, d]));
    let affected = false;
    const example = (change: ChangeKind, ruleId: string, b: Decision | undefined, c: Decision | undefined, differences: string[]): BacktestExample => {
      const at = (c ?? b)?.decidedAt ?? 0;
      return {
        change,
        streamId: stream.streamId,
        accountId: stream.accountId,
        ruleId,
        decidedAt: at,
        at: iso(at),
        differences,
        baseline: b === undefined ? null : summarize(b),
        candidate: c === undefined ? null : summarize(c),
      };
    };
    for (const b of base) {
      const r = ruleFor(b.ruleId);
      bump(r.baseline, b.shadow);
      const c = byRuleCand.get(b.ruleId);
      if (c === undefined) {
        bump(r.removed, b.shadow);
        totals.removed++;
        affected = true;
        addExample(example('removed', b.ruleId, b, undefined, [`${describeEffect(b.shadow, effectOf(b), b.decidedAt)} → no decision`]));
        continue;
      }
      const diff = effectDifferences(
        { shadow: b.shadow, actions: effectOf(b), decidedAt: b.decidedAt },
        { shadow: c.shadow, actions: effectOf(c), decidedAt: c.decidedAt },
      );
      if (diff.length > 0) {
        r.changed++;
        totals.changed++;
        affected = true;
        if (c.decidedAt !== b.decidedAt) diff.push(timingDifference(b.decidedAt, c.decidedAt));
        addExample(example('changed', b.ruleId, b, c, diff));
      } else if (c.decidedAt !== b.decidedAt) {
        r.retimed++;
        totals.retimed++;
        addExample(example('retimed', b.ruleId, b, c, [timingDifference(b.decidedAt, c.decidedAt)]));
      } else {
        r.unchanged++;
        totals.unchanged++;
      }
    }
    for (const c of cand) {
      const r = ruleFor(c.ruleId);
      bump(r.candidate, c.shadow);
      if (byRuleBase.has(c.ruleId)) continue;
      bump(r.added, c.shadow);
      totals.added++;
      affected = true;
      addExample(example('added', c.ruleId, undefined, c, [`no decision → ${describeEffect(c.shadow, effectOf(c), c.decidedAt)}`]));
    }
    if (affected) totals.streamsAffected++;

    if (recorded !== null && stream.recorded !== undefined) {
      // Stall decisions are not replayed, so they are left out of the comparison.
      const rec = stream.recorded.filter((d) => inRange(d.decidedAt, range) && !(stallIds.has(d.ruleId) && !ruleIds.has(d.ruleId)));
      const recRules = new Set(rec.map((d) => d.ruleId));
      tallyStream(totals.recorded!, rec);
      for (const d of rec) {
        const r = ruleFor(d.ruleId);
        bump(r.recorded!, d.shadow);
        recorded.decisions++;
        if (byRuleBase.has(d.ruleId)) recorded.reproducedByBaseline++;
        else recorded.missedByBaseline++;
        if (byRuleCand.has(d.ruleId)) recorded.keptByCandidate++;
        else recorded.droppedByCandidate++;
      }
      for (const b of base) if (!recRules.has(b.ruleId)) recorded.extraInBaseline++;
      for (const c of cand) if (!recRules.has(c.ruleId)) recorded.newInCandidate++;
    }
  }

  const order: ChangeKind[] = ['added', 'removed', 'changed', 'retimed'];
  for (const r of rules.values()) {
    for (const kind of order) {
      const list = examples.get(`${r.ruleId}\u0000${kind}`);
      if (list !== undefined) r.examples.push(...list.sort(compareExamples).slice(0, maxExamples));
    }
  }
  const ruleList = [...candidate.rules.map((r) => r.id), ...baseline.rules.map((r) => r.id).filter((id) => !candIds.has(id)), ...others.sort()];

  return {
    baseline: { name: baseline.name, version: baseline.version },
    candidate: { name: candidate.name, version: candidate.version },
    range: { since: opts.since ?? null, until: opts.until ?? null },
    streams: streams.length,
    signals: signalCount,
    totals,
    rules: [...new Set(ruleList)].map((id) => rules.get(id)!),
    recorded,
    notes: notesFor(baseline, candidate, opts),
  };
}

function notesFor(baseline: Policy, candidate: Policy, opts: BacktestOptions): string[] {
  const notes: string[] = [];
  const stalls = [...new Set([...baseline.stall, ...candidate.stall].map(stallRuleId))];
  if (stalls.length > 0) {
    const same = JSON.stringify(baseline.stall) === JSON.stringify(candidate.stall);
    notes.push(
      `stall entries are not replayed (${stalls.join(', ')}): only signals worth keeping are stored, so silence in the record is not a stall` +
        (same ? '.' : '; the two policies differ in their stall entries, and that difference is not backtested.'),
    );
  }
  const floor = opts.storedSignalsFloor;
  if (floor !== undefined && floor > 0) {
    for (const r of candidate.rules) {
      const m = r.match;
      const scoreOnly = m.category === undefined && m.bank === undefined && m.maxDistance === undefined;
      if (scoreOnly && m.source !== 'hash_match' && (m.minScore === undefined || m.minScore < floor)) {
        notes.push(`${r.id} matches ${m.source} scores below ${floor}, which the gateway does not store: its replay undercounts.`);
      }
    }
  }
  notes.push('streams cut in reality have no signals after the cut: a candidate that would not have cut cannot see what came next.');
  notes.push('escalation uses the strikes actually recorded before each stream, not the strikes the candidate itself would have issued.');
  return notes;
}
