import type { Signal } from '../classifiers/signal.ts';
import { priorStrikes, type AccountHistory } from './history.ts';
import {
  formatDurationMs,
  stallRuleId,
  type Match,
  type Policy,
  type Requirement,
  type ReviewPriority,
  type Rule,
  type Severity,
  type Smoothing,
  type StallRule,
  type SuspendSpec,
} from './schema.ts';

/**
 * The policy engine: pure and deterministic. No clocks, no I/O; every time comes from the signals or
 * from the caller's `now`. Two forms with identical results:
 *  - `evaluate`: batch, from the whole signal list (replays, audits, tests). Written as a direct reading
 *    of the rules (it re-scans the list), so it doubles as the reference the incremental form is checked
 *    against.
 *  - `createStreamState` / `step` / `tick`: incremental, for the live path. Per signal the work is
 *    O(rules of that source × window) plus O(stall entries); the state is copy-on-write and never mutated.
 *
 * Semantics shared by both (see docs/policy.md):
 *  - A rule looks only at signals of its `match.source`. Consecutive signals of that source with the same
 *    `frameTimeMs` form one *frame*; a frame is a *hit* when any of its signals passes the rule's match.
 *  - Window smoothing fires when at least k of the last n frames are hits; sustained smoothing fires when
 *    every frame has been a hit for at least s seconds (frame time = observedAt of its first signal).
 *  - A rule fires at most once per stream. Rules are checked in file order, so put the most severe first.
 *  - An enforced (non-shadow) decision that cuts the feed ends the stream for the engine: nothing after it
 *    (including later rules on the same signal) decides again. One incident, one strike.
 *  - Stall entries are checked when a signal arrives (for the gap before it), after a stall report, and on
 *    `tick`.
 *  - A rule's `requires` conditions (schema.ts, RequirementSchema) must all hold as well: at least minCount
 *    distinct matching signals of their source within their window before the decision. Such a rule is
 *    also checked on signals of each required source (its own smoothing state as it stands), so it fires
 *    when the last condition comes true. Signals arrive in observedAt order.
 */

/** How many deciding signals a decision cites at most (the most recent ones). */
export const MAX_DECIDING_SIGNALS = 16;
/** The label a source uses to report that it has stalled. */
export const STALL_LABEL = 'stall';
/** The stall source that watches the stream as a whole. */
export const SAMPLER_SOURCE = 'sampler';

export interface StreamContext {
  streamId: string;
  accountId: string;
  /** Identity subject of the verified person behind the account, when known. */
  personId: string | null;
  /** Epoch ms the stream started; the stall clock starts here. */
  startedAt: number;
}

export interface EngineContext extends StreamContext {
  /** Strikes and suspensions of the account and of its person (see policy/history.ts). */
  history: AccountHistory;
}

/** A deciding signal: its position in the stream's signal list, when it was observed and, where known, when its media reached the gateway. */
export interface SignalRef {
  index: number;
  observedAt: number;
  ingestedAt?: number;
}

export interface Actions {
  /** End the feed now. */
  cut: boolean;
  /** Live-streaming rights removed until `untilMs`; both null when permanent. */
  suspend?: { untilMs: number | null; durationMs: number | null };
  strike?: { category: string; severity: Severity; expiresAt: number };
  review?: { priority: ReviewPriority };
  warn?: { message: string };
}

/** Which escalation rung replaced the rule's actions, and the prior strikes that put it there. */
export interface EscalationApplied {
  /** Index in the rule's `escalation` list. */
  step: number;
  requiredPriorStrikes: number;
  withinMs: number;
  strikeIds: string[];
}

interface DecisionCommon {
  ruleId: string;
  kind: 'rule' | 'stall';
  policy: { name: string; version: string };
  streamId: string;
  accountId: string;
  personId: string | null;
  /** The rule's severity; null for stall decisions. */
  severity: Severity | null;
  reason: string;
  /** Evidence references of the deciding signals (deduplicated, oldest first). */
  evidenceRefs: string[];
  signalRefs: SignalRef[];
  decidedAt: number;
  escalation: EscalationApplied | null;
}

/** A decision to carry out. */
export interface EnforcedDecision extends DecisionCommon {
  shadow: false;
  actions: Actions;
  wouldHave?: never;
}

/**
 * What a shadow rule would have done. It has no `actions` field at all, so code that enforces
 * `decision.actions` cannot act on it by mistake (the type system rejects it, and at runtime it is absent).
 */
export interface ShadowDecision extends DecisionCommon {
  shadow: true;
  wouldHave: Actions;
  actions?: never;
}

export type Decision = EnforcedDecision | ShadowDecision;

/** What a decision does, or for a shadow decision what it would have done (its `wouldHave`). */
export function effectOf(d: Decision): Actions {
  return d.shadow ? d.wouldHave : d.actions;
}

/** The decisions enforcement may act on. */
export function enforceable(decisions: readonly Decision[]): EnforcedDecision[] {
  return decisions.filter((d): d is EnforcedDecision => !d.shadow);
}

// ---------------------------------------------------------------------------------------------------
// Compiled policy: the lookups the hot path needs, built once per policy object.

/** A match with its lookups built: a rule's own, or one of its requirements'. */
interface Matcher {
  match: Match;
  labels: ReadonlySet<string> | null;
  categories: ReadonlySet<string> | null;
  banks: ReadonlySet<string> | null;
}

interface CompiledRequirement extends Matcher {
  withinMs: number;
  minCount: number;
  req: Requirement;
}

interface CompiledRule extends Matcher {
  id: string;
  rule: Rule;
  smoothing: Smoothing;
  requires: readonly CompiledRequirement[];
}

interface CompiledStall {
  id: string;
  entry: StallRule;
  afterMs: number;
}

interface CompiledPolicy {
  policy: Policy;
  bySource: ReadonlyMap<string, readonly CompiledRule[]>;
  stalls: readonly CompiledStall[];
}

// Keyed by object identity: a policy is treated as immutable (loadPolicy deep-freezes it).
const compiled = new WeakMap<Policy, CompiledPolicy>();

function compile(policy: Policy): CompiledPolicy {
  const cached = compiled.get(policy);
  if (cached !== undefined) return cached;
  const bySource = new Map<string, CompiledRule[]>();
  for (const rule of policy.rules) {
    const c: CompiledRule = {
      id: rule.id,
      rule,
      ...matcher(rule.match),
      smoothing: rule.smoothing ?? policy.defaults.smoothing ?? { kind: 'window', k: 1, n: 1 },
      requires: rule.requires.map((req) => ({ ...matcher(req), withinMs: req.within, minCount: req.minCount, req })),
    };
    // Checked on its own source and on each required one; every list stays in file order.
    for (const source of new Set([rule.match.source, ...rule.requires.map((q) => q.source)])) {
      const list = bySource.get(source) ?? [];
      list.push(c);
      bySource.set(source, list);
    }
  }
  const stalls = policy.stall.map((entry) => ({ id: stallRuleId(entry), entry, afterMs: Math.round(entry.afterSeconds * 1000) }));
  const result: CompiledPolicy = { policy, bySource, stalls };
  compiled.set(policy, result);
  return result;
}

function toSet(values: readonly string[] | undefined): ReadonlySet<string> | null {
  return values === undefined ? null : new Set(values);
}

function matcher(match: Match): Matcher {
  return { match, labels: toSet(match.label), categories: toSet(match.category), banks: toSet(match.bank) };
}

function signalMatches(r: Matcher, s: Signal): boolean {
  if (s.source !== r.match.source) return false;
  const m = r.match;
  if (r.labels !== null && !r.labels.has(s.label)) return false;
  if (m.minScore !== undefined && (s.score === undefined || s.score < m.minScore)) return false;
  if (r.categories === null && r.banks === null && m.maxDistance === undefined) return true;
  const hm = s.match;
  // A bank match of another kind (the copy descriptor's) names its bank and category in `detail`: so a
  // rule can treat one bank differently (a bank of screenshots reviewed, not cut) whatever the classifier.
  const category = hm?.category ?? detailText(s, 'category');
  const bank = hm?.bank ?? detailText(s, 'bank');
  if (r.categories !== null && (category === null || !r.categories.has(category))) return false;
  if (r.banks !== null && (bank === null || !r.banks.has(bank))) return false;
  return m.maxDistance === undefined || (hm !== undefined && hm.distance <= m.maxDistance);
}

function detailText(s: Signal, key: string): string | null {
  const v = s.detail?.[key];
  return typeof v === 'string' ? v : null;
}

function assertSameStream(signal: Signal, ctx: StreamContext): void {
  if (signal.streamId !== ctx.streamId) {
    throw new Error(`policy engine: signal for stream ${signal.streamId} given to stream ${ctx.streamId}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Firing → decision (shared by both forms, so their outputs can be compared exactly).

/** A deciding signal as the engine keeps it internally (with what the reason text needs). */
interface DecidingSignal {
  index: number;
  observedAt: number;
  ingestedAt: number | undefined;
  evidenceRef: string | null;
  score: number | undefined;
  distance: number | undefined;
}

function decidingSignal(s: Signal, index: number): DecidingSignal {
  return { index, observedAt: s.observedAt, ingestedAt: s.ingestedAt, evidenceRef: s.evidenceRef, score: s.score, distance: s.match?.distance };
}

function signalRef(d: DecidingSignal): SignalRef {
  return d.ingestedAt === undefined ? { index: d.index, observedAt: d.observedAt } : { index: d.index, observedAt: d.observedAt, ingestedAt: d.ingestedAt };
}

/**
 * What a requirement counts as one: a signal's `detail.reporter` where it names one (a viewer report's
 * hashed source, so one viewer counts once), else its frame.
 */
function requirementKey(s: Signal): string {
  const reporter = s.detail?.['reporter'];
  return typeof reporter === 'string' && reporter !== '' ? `reporter:${reporter}` : `frame:${s.frameTimeMs}`;
}

/**
 * A rule's firing with its requirements applied at `at`: null while one is unmet, else decided at `at`,
 * citing the requirements' signals too, with their counts in the reason. Shared by both forms.
 */
function withRequirements(r: CompiledRule, f: Firing, found: RequirementTrack, at: number): Firing | null {
  const parts: string[] = [];
  const deciding = new Map<number, DecidingSignal>();
  for (const d of f.deciding) deciding.set(d.index, d);
  for (const [j, q] of r.requires.entries()) {
    const entries = (found[j] ?? []).filter((e) => e.observedAt >= at - q.withinMs && e.observedAt <= at);
    if (entries.length < q.minCount) return null;
    parts.push(`${entries.length} distinct ${q.match.source} (${describeMatch(q.match)}) within ${formatDurationMs(q.withinMs)}, ≥ ${q.minCount}`);
    for (const e of entries) deciding.set(e.deciding.index, e.deciding);
  }
  const cited = [...deciding.values()].sort((a, b) => a.index - b.index);
  return { decidedAt: at, deciding: capLast(cited), detail: `${f.detail}, with ${parts.join(' and ')}` };
}

/** Why a rule fired: when, on which signals, and a phrase for the reason. */
interface Firing {
  decidedAt: number;
  deciding: readonly DecidingSignal[];
  detail: string;
}

function windowDetail(r: CompiledRule, hits: number, n: number): string {
  return `${hits} of the last ${n} ${r.rule.match.source} frames matched`;
}

function sustainedDetail(r: CompiledRule, durationMs: number, sustainedMs: number): string {
  return `every ${r.rule.match.source} frame matched for ${seconds(durationMs)} s (≥ ${seconds(sustainedMs)} s)`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function describeMatch(m: Match): string {
  const parts: string[] = [];
  if (m.label !== undefined) parts.push(`label ${m.label.join('|')}`);
  if (m.category !== undefined) parts.push(`category ${m.category.join('|')}`);
  if (m.bank !== undefined) parts.push(`bank ${m.bank.join('|')}`);
  if (m.minScore !== undefined) parts.push(`score ≥ ${m.minScore}`);
  if (m.maxDistance !== undefined) parts.push(`distance ≤ ${m.maxDistance}`);
  return parts.length === 0 ? 'any signal' : parts.join(', ');
}

function describeDeciding(deciding: readonly DecidingSignal[]): string {
  const scores = deciding.flatMap((d) => (d.score === undefined ? [] : [d.score]));
  const distances = deciding.flatMap((d) => (d.distance === undefined ? [] : [d.distance]));
  const parts: string[] = [];
  if (scores.length > 0) parts.push(`top score ${Math.max(...scores).toFixed(2)}`);
  if (distances.length > 0) parts.push(`closest distance ${Math.min(...distances)}`);
  return parts.join(', ');
}

function describeActions(a: Actions): string {
  const parts: string[] = [];
  if (a.cut) parts.push('cut the feed');
  if (a.suspend !== undefined) {
    parts.push(a.suspend.durationMs === null ? 'suspend live permanently' : `suspend live for ${formatDurationMs(a.suspend.durationMs)}`);
  }
  if (a.strike !== undefined) parts.push(`strike ${a.strike.category}/${a.strike.severity}`);
  if (a.review !== undefined) parts.push(`review (${a.review.priority})`);
  if (a.warn !== undefined) parts.push(`warn "${a.warn.message}"`);
  return parts.join(', ');
}

function suspension(spec: SuspendSpec, at: number): NonNullable<Actions['suspend']> {
  return { durationMs: spec.durationMs, untilMs: spec.durationMs === null ? null : at + spec.durationMs };
}

/** The rule's own actions at `at`, before escalation. */
function baseActions(policy: Policy, rule: Rule, at: number): Actions {
  const a = rule.actions;
  const actions: Actions = { cut: a.cut };
  if (a.suspend !== undefined) actions.suspend = suspension(a.suspend, at);
  if (a.strike !== undefined) {
    const expiresAfter = a.strike.expiresAfter ?? policy.defaults.strikeExpiry;
    actions.strike = { category: a.strike.category, severity: a.strike.severity ?? rule.severity, expiresAt: at + expiresAfter };
  }
  if (a.review !== undefined) actions.review = { priority: a.review.priority ?? policy.defaults.reviewPriority };
  if (a.warn !== undefined) actions.warn = { message: a.warn.message };
  return actions;
}

/** The highest ladder rung the history satisfies, applied over the rule's actions. */
function escalate(policy: Policy, rule: Rule, ctx: EngineContext, at: number, base: Actions): { actions: Actions; escalation: EscalationApplied | null } {
  for (let i = rule.escalation.length - 1; i >= 0; i--) {
    const rung = rule.escalation[i];
    if (rung === undefined) continue;
    const prior = priorStrikes(ctx.history, {
      at,
      withinMs: rung.within,
      minSeverity: rung.minSeverity,
      categories: rung.categories,
      streamId: ctx.streamId,
    });
    if (prior.length < rung.priorStrikes) continue;
    const actions: Actions = { ...base, cut: rung.cut ?? base.cut };
    if (rung.suspend !== undefined) actions.suspend = suspension(rung.suspend, at);
    if (rung.review !== undefined) actions.review = { priority: rung.review.priority ?? base.review?.priority ?? policy.defaults.reviewPriority };
    if (rung.warn !== undefined) actions.warn = { message: rung.warn.message };
    const escalation = { step: i, requiredPriorStrikes: rung.priorStrikes, withinMs: rung.within, strikeIds: prior.map((s) => s.id) };
    return { actions, escalation };
  }
  return { actions: base, escalation: null };
}

function evidenceOf(deciding: readonly DecidingSignal[]): string[] {
  const refs: string[] = [];
  for (const d of deciding) if (d.evidenceRef !== null && !refs.includes(d.evidenceRef)) refs.push(d.evidenceRef);
  return refs;
}

function finish(common: Omit<DecisionCommon, 'reason'>, reason: string, actions: Actions, shadow: boolean): Decision {
  if (shadow) return { ...common, reason: `SHADOW (not enforced) — would have: ${reason}`, shadow: true, wouldHave: actions };
  return { ...common, reason, shadow: false, actions };
}

function ruleDecision(cp: CompiledPolicy, r: CompiledRule, ctx: EngineContext, f: Firing): Decision {
  const { policy } = cp;
  const { actions, escalation } = escalate(policy, r.rule, ctx, f.decidedAt, baseActions(policy, r.rule, f.decidedAt));
  const evidence = describeDeciding(f.deciding);
  const escalated =
    escalation === null
      ? ''
      : ` Escalated (rung ${escalation.step + 1}): ${escalation.strikeIds.length} prior strike(s) within ${formatDurationMs(escalation.withinMs)} (${escalation.strikeIds.join(', ')}).`;
  const reason =
    `${r.id} [${r.rule.severity}]: ${f.detail} (${describeMatch(r.match)})${evidence === '' ? '' : `; ${evidence}`}` +
    ` → ${describeActions(actions)}.${escalated}`;
  const common = {
    ruleId: r.id,
    kind: 'rule' as const,
    policy: { name: policy.name, version: policy.version },
    streamId: ctx.streamId,
    accountId: ctx.accountId,
    personId: ctx.personId,
    severity: r.rule.severity,
    evidenceRefs: evidenceOf(f.deciding),
    signalRefs: f.deciding.map(signalRef),
    decidedAt: f.decidedAt,
    escalation,
  };
  return finish(common, reason, actions, r.rule.shadow);
}

/** A stall found due at `at`: how long the source has been silent, and the report that triggered it, if any. */
interface StallFinding {
  at: number;
  stalledForMs: number;
  report: DecidingSignal | null;
}

function stallDecision(cp: CompiledPolicy, s: CompiledStall, ctx: EngineContext, f: StallFinding): Decision {
  const { policy } = cp;
  const e = s.entry;
  const actions: Actions = { cut: e.mode === 'fail_closed', review: { priority: e.reviewPriority ?? policy.defaults.reviewPriority } };
  const what = e.source === SAMPLER_SOURCE ? 'no frames sampled' : `no ${e.source} signals`;
  const reported = f.report === null ? '' : ` (stall reported by ${e.source})`;
  const mode = e.mode === 'fail_open' ? 'failing open: the stream continues' : 'failing closed';
  const reason = `${s.id}: ${what} for ${seconds(f.stalledForMs)} s (limit ${seconds(s.afterMs)} s)${reported}; ${mode} → ${describeActions(actions)}.`;
  const deciding = f.report === null ? [] : [f.report];
  const common = {
    ruleId: s.id,
    kind: 'stall' as const,
    policy: { name: policy.name, version: policy.version },
    streamId: ctx.streamId,
    accountId: ctx.accountId,
    personId: ctx.personId,
    severity: null,
    evidenceRefs: evidenceOf(deciding),
    signalRefs: deciding.map(signalRef),
    decidedAt: f.at,
    escalation: null,
  };
  return finish(common, reason, actions, e.shadow);
}

/** Collects one step's decisions; tracks which rules are spent and whether an enforced cut ended the stream. */
class DecisionSink {
  readonly decisions: Decision[] = [];
  ended = false;
  private copied = false;
  constructor(public decided: ReadonlySet<string>) {}

  isOpen(id: string): boolean {
    return !this.ended && !this.decided.has(id);
  }

  emit(d: Decision): void {
    this.decisions.push(d);
    // Copy-on-write: the caller's state keeps its own set.
    const next = this.copied ? (this.decided as Set<string>) : new Set(this.decided);
    next.add(d.ruleId);
    this.decided = next;
    this.copied = true;
    if (!d.shadow && d.actions.cut) this.ended = true;
  }
}

/** When a stall report says the source stopped: its observation time minus the `stalledForMs` it reports. */
function reportedStallStart(s: Signal): number {
  const d = s.detail?.['stalledForMs'];
  return s.observedAt - (typeof d === 'number' && Number.isFinite(d) && d > 0 ? d : 0);
}

/** Silence start from the last sign of life and the earliest stall report since (never before the stream). */
function silenceStart(lastLife: number | undefined, reportStart: number | undefined, startedAt: number): number {
  const base = lastLife ?? startedAt;
  return reportStart === undefined ? base : Math.min(base, Math.max(reportStart, startedAt));
}

// ---------------------------------------------------------------------------------------------------
// Incremental form.

interface FrameAcc {
  readonly frameTimeMs: number;
  /** observedAt of the frame's first signal. */
  readonly at: number;
  /** Matching signals of the frame (the most recent MAX_DECIDING_SIGNALS). */
  readonly hits: readonly DecidingSignal[];
}

interface WindowTrack {
  readonly kind: 'window';
  /** The last n frames of the rule's source, the newest (possibly still filling) last. */
  readonly frames: readonly FrameAcc[];
}

interface SustainedTrack {
  readonly kind: 'sustained';
  readonly current: FrameAcc | null;
  /** The unbroken run of hit frames just before `current`. */
  readonly run: { readonly startAt: number; readonly hits: readonly DecidingSignal[] } | null;
}

type RuleTrack = WindowTrack | SustainedTrack;

interface StallTrack {
  /** observedAt of the last non-stall signal of any source (frames are flowing). */
  readonly lifeAny: number | undefined;
  /** observedAt of the last non-stall signal per source. */
  readonly lifeBySource: Readonly<Record<string, number>>;
  /** Earliest reported stall start per source since that source's last sign of life. */
  readonly reportStart: Readonly<Record<string, number>>;
}

/** Per-stream engine state. Opaque to callers; every step returns a new one and leaves the old intact. */
export interface StreamState {
  readonly signalCount: number;
  /** Rule and stall ids that have fired (or were already decided before this state was created). */
  readonly decided: ReadonlySet<string>;
  /** An enforced decision cut the feed: the engine decides nothing more for this stream. */
  readonly ended: boolean;
  readonly tracks: Readonly<Record<string, RuleTrack>>;
  /** Per rule with requirements: their matching signals within the window. */
  readonly requirements: Readonly<Record<string, RequirementTrack>>;
  readonly stall: StallTrack;
}

export interface StepResult {
  state: StreamState;
  decisions: Decision[];
}

export function createStreamState(alreadyDecided: Iterable<string> = []): StreamState {
  return {
    signalCount: 0,
    decided: new Set(alreadyDecided),
    ended: false,
    tracks: {},
    requirements: {},
    stall: { lifeAny: undefined, lifeBySource: {}, reportStart: {} },
  };
}

/** Feeds one signal (the next in observedAt order) to the stream's state. */
export function step(policy: Policy, state: StreamState, signal: Signal, ctx: EngineContext): StepResult {
  assertSameStream(signal, ctx);
  const index = state.signalCount;
  if (state.ended) return { state: { ...state, signalCount: index + 1 }, decisions: [] };
  const cp = compile(policy);
  const sink = new DecisionSink(state.decided);

  checkStalls(cp, state.stall, ctx, signal.observedAt, null, sink);
  const { tracks, requirements } = advanceRules(cp, state, signal, index, ctx, sink);
  const stall = recordLife(state.stall, signal);
  if (signal.label === STALL_LABEL) checkStalls(cp, stall, ctx, signal.observedAt, decidingSignal(signal, index), sink);

  const next: StreamState = { signalCount: index + 1, decided: sink.decided, ended: sink.ended, tracks, requirements, stall };
  return { state: next, decisions: sink.decisions };
}

/** Checks stall entries at `now` when no signal has arrived; call it periodically (e.g. every second). */
export function tick(policy: Policy, state: StreamState, ctx: EngineContext, now: number): StepResult {
  if (state.ended) return { state, decisions: [] };
  const sink = new DecisionSink(state.decided);
  checkStalls(compile(policy), state.stall, ctx, now, null, sink);
  if (sink.decisions.length === 0) return { state, decisions: [] };
  return { state: { ...state, decided: sink.decided, ended: sink.ended }, decisions: sink.decisions };
}

function checkStalls(cp: CompiledPolicy, track: StallTrack, ctx: EngineContext, at: number, report: DecidingSignal | null, sink: DecisionSink): void {
  for (const s of cp.stalls) {
    if (!sink.isOpen(s.id)) continue;
    const source = s.entry.source;
    const life = source === SAMPLER_SOURCE ? track.lifeAny : own(track.lifeBySource, source);
    const stalledForMs = at - silenceStart(life, own(track.reportStart, source), ctx.startedAt);
    if (stalledForMs >= s.afterMs) sink.emit(stallDecision(cp, s, ctx, { at, stalledForMs, report }));
  }
}

function recordLife(track: StallTrack, s: Signal): StallTrack {
  if (s.label === STALL_LABEL) {
    const start = reportedStallStart(s);
    const prev = own(track.reportStart, s.source);
    if (prev !== undefined && prev <= start) return track;
    return { ...track, reportStart: { ...track.reportStart, [s.source]: start } };
  }
  // Any non-stall signal proves frames flow (clears a sampler report) and that its own source is alive.
  return { lifeAny: s.observedAt, lifeBySource: { ...track.lifeBySource, [s.source]: s.observedAt }, reportStart: clearReports(track.reportStart, s.source) };
}

/** A record lookup that ignores inherited keys (a source or rule id may be spelt `constructor`). */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function clearReports(reports: Readonly<Record<string, number>>, source: string): Readonly<Record<string, number>> {
  // Usually nothing is pending: keep the same object rather than copy one per signal.
  if (!Object.hasOwn(reports, source) && !Object.hasOwn(reports, SAMPLER_SOURCE)) return reports;
  const kept: Record<string, number> = {};
  for (const [k, v] of Object.entries(reports)) if (k !== source && k !== SAMPLER_SOURCE) kept[k] = v;
  return kept;
}

function advanceRules(
  cp: CompiledPolicy,
  state: Pick<StreamState, 'tracks' | 'requirements'>,
  signal: Signal,
  index: number,
  ctx: EngineContext,
  sink: DecisionSink,
): Pick<StreamState, 'tracks' | 'requirements'> {
  const rules = cp.bySource.get(signal.source);
  if (rules === undefined) return state;
  const { tracks, requirements } = state;
  let next: Record<string, RuleTrack> | null = null;
  let nextReq: Record<string, RequirementTrack> | null = null;
  for (const r of rules) {
    if (!sink.isOpen(r.id)) continue;
    let firing: Firing | null = null;
    if (signal.source === r.match.source) {
      const hit = signalMatches(r, signal) ? decidingSignal(signal, index) : null;
      const advanced = advanceRule(r, own(tracks, r.id), signal, hit);
      next ??= { ...tracks };
      next[r.id] = advanced.track;
      firing = advanced.firing;
    } else {
      // A required source's signal: the rule's own smoothing state as it stands, judged now.
      const track = own(tracks, r.id);
      if (track !== undefined) firing = currentFiring(r, track, signal);
    }
    if (r.requires.length > 0) {
      const req = advanceRequirements(r, own(requirements, r.id), signal, index);
      nextReq ??= { ...requirements };
      nextReq[r.id] = req;
      if (firing !== null) firing = withRequirements(r, firing, req, signal.observedAt);
    }
    if (firing !== null) sink.emit(ruleDecision(cp, r, ctx, firing));
  }
  return { tracks: next ?? tracks, requirements: nextReq ?? requirements };
}

function currentFiring(r: CompiledRule, track: RuleTrack, s: Signal): Firing | null {
  const sm = r.smoothing;
  if (sm.kind === 'window') return track.kind === 'window' ? windowFiring(r, track, s, sm.k, sm.n) : null;
  return track.kind === 'sustained' ? sustainedFiring(r, track, s, sm.sustainedMs) : null;
}

/** Per requirement of a rule, its matching signals within the window so far: the latest per distinct key. */
type RequirementTrack = readonly (readonly RequirementEntry[])[];

interface RequirementEntry {
  readonly key: string;
  readonly observedAt: number;
  readonly deciding: DecidingSignal;
}

function advanceRequirements(r: CompiledRule, prev: RequirementTrack | undefined, s: Signal, index: number): RequirementTrack {
  return r.requires.map((q, j) => {
    const list = prev?.[j] ?? [];
    const from = s.observedAt - q.withinMs;
    const hit = signalMatches(q, s);
    if (!hit && list.every((e) => e.observedAt >= from)) return list;
    const key = hit ? requirementKey(s) : null;
    const kept = list.filter((e) => e.observedAt >= from && e.key !== key);
    if (key !== null) kept.push({ key, observedAt: s.observedAt, deciding: decidingSignal(s, index) });
    return kept;
  });
}

function advanceRule(r: CompiledRule, prev: RuleTrack | undefined, s: Signal, hit: DecidingSignal | null): { track: RuleTrack; firing: Firing | null } {
  const sm = r.smoothing;
  if (sm.kind === 'window') {
    const track = advanceWindow(prev?.kind === 'window' ? prev : { kind: 'window', frames: [] }, s, hit, sm.n);
    return { track, firing: windowFiring(r, track, s, sm.k, sm.n) };
  }
  const track = advanceSustained(prev?.kind === 'sustained' ? prev : { kind: 'sustained', current: null, run: null }, s, hit);
  return { track, firing: sustainedFiring(r, track, s, sm.sustainedMs) };
}

function capLast<T>(items: readonly T[]): readonly T[] {
  return items.length <= MAX_DECIDING_SIGNALS ? items : items.slice(items.length - MAX_DECIDING_SIGNALS);
}

function newFrame(s: Signal, hit: DecidingSignal | null): FrameAcc {
  return { frameTimeMs: s.frameTimeMs, at: s.observedAt, hits: hit === null ? [] : [hit] };
}

function withHit(f: FrameAcc, hit: DecidingSignal | null): FrameAcc {
  return hit === null ? f : { ...f, hits: capLast([...f.hits, hit]) };
}

function advanceWindow(track: WindowTrack, s: Signal, hit: DecidingSignal | null, n: number): WindowTrack {
  const frames = track.frames;
  const last = frames[frames.length - 1];
  if (last !== undefined && last.frameTimeMs === s.frameTimeMs) {
    if (hit === null) return track;
    return { kind: 'window', frames: [...frames.slice(0, -1), withHit(last, hit)] };
  }
  const kept = frames.length >= n ? frames.slice(frames.length - n + 1) : frames.slice();
  kept.push(newFrame(s, hit));
  return { kind: 'window', frames: kept };
}

function windowFiring(r: CompiledRule, track: WindowTrack, s: Signal, k: number, n: number): Firing | null {
  let hits = 0;
  for (const f of track.frames) if (f.hits.length > 0) hits++;
  if (hits < k) return null;
  const deciding = capLast(track.frames.flatMap((f) => f.hits));
  return { decidedAt: s.observedAt, deciding, detail: windowDetail(r, hits, n) };
}

function advanceSustained(track: SustainedTrack, s: Signal, hit: DecidingSignal | null): SustainedTrack {
  const cur = track.current;
  if (cur !== null && cur.frameTimeMs === s.frameTimeMs) {
    return hit === null ? track : { ...track, current: withHit(cur, hit) };
  }
  // A new frame: the finished one extends the run if it was a hit, and breaks it otherwise.
  const run =
    cur === null || cur.hits.length === 0 ? null : { startAt: track.run?.startAt ?? cur.at, hits: capLast([...(track.run?.hits ?? []), ...cur.hits]) };
  return { kind: 'sustained', current: newFrame(s, hit), run };
}

function sustainedFiring(r: CompiledRule, track: SustainedTrack, s: Signal, sustainedMs: number): Firing | null {
  const cur = track.current;
  if (cur === null || cur.hits.length === 0) return null;
  const durationMs = cur.at - (track.run?.startAt ?? cur.at);
  if (durationMs < sustainedMs) return null;
  const deciding = capLast([...(track.run?.hits ?? []), ...cur.hits]);
  return { decidedAt: s.observedAt, deciding, detail: sustainedDetail(r, durationMs, sustainedMs) };
}

// ---------------------------------------------------------------------------------------------------
// Batch form: a direct reading of the rules over the whole list. Deliberately shares no state-tracking
// code with the incremental form, so the property test comparing them checks something real.

/**
 * All decisions for a stream from its signals so far (ordered by observedAt; those after `now` are not
 * yet seen), its account/person history, and the rule ids already decided for it. Stall entries are
 * checked at each signal's arrival, after each stall report, and finally at `now`.
 */
export function evaluate(policy: Policy, ctx: EngineContext, signals: readonly Signal[], now: number, alreadyDecided: Iterable<string> = []): Decision[] {
  const cp = compile(policy);
  const sink = new DecisionSink(new Set(alreadyDecided));
  const positions = new Map<string, number[]>();
  let seen = 0;
  for (const [i, s] of signals.entries()) {
    if (s.observedAt > now || sink.ended) break;
    assertSameStream(s, ctx);
    scanStalls(cp, ctx, signals, i, s.observedAt, null, sink);
    const own = positions.get(s.source) ?? [];
    own.push(i);
    positions.set(s.source, own);
    for (const r of cp.bySource.get(s.source) ?? []) {
      if (!sink.isOpen(r.id)) continue;
      const primary = positions.get(r.match.source) ?? [];
      if (primary.length === 0) continue;
      let firing =
        r.smoothing.kind === 'window'
          ? scanWindow(r, signals, primary, r.smoothing.k, r.smoothing.n)
          : scanSustained(r, signals, primary, r.smoothing.sustainedMs);
      // Judged on a required source's signal: decided now, not at the rule's own last signal.
      if (firing !== null && s.source !== r.match.source) firing = { ...firing, decidedAt: s.observedAt };
      if (firing !== null && r.requires.length > 0) firing = withRequirements(r, firing, scanRequirements(r, signals, i, s.observedAt), s.observedAt);
      if (firing !== null) sink.emit(ruleDecision(cp, r, ctx, firing));
    }
    if (s.label === STALL_LABEL) scanStalls(cp, ctx, signals, i + 1, s.observedAt, decidingSignal(s, i), sink);
    seen = i + 1;
  }
  if (!sink.ended) scanStalls(cp, ctx, signals, seen, now, null, sink);
  return sink.decisions;
}

/** Each requirement's matching signals among signals[0..end] within its window before `at`, the latest per key. */
function scanRequirements(r: CompiledRule, signals: readonly Signal[], end: number, at: number): RequirementTrack {
  return r.requires.map((q) => {
    const latest = new Map<string, RequirementEntry>();
    for (let j = end; j >= 0; j--) {
      const sig = signals[j];
      if (sig === undefined) continue;
      if (sig.observedAt < at - q.withinMs) break;
      if (sig.observedAt > at || !signalMatches(q, sig)) continue;
      const key = requirementKey(sig);
      if (!latest.has(key)) latest.set(key, { key, observedAt: sig.observedAt, deciding: decidingSignal(sig, j) });
    }
    return [...latest.values()];
  });
}

/** A frame found scanning backwards: its matching signals (in order) and its first signal's observedAt. */
interface ScannedFrame {
  at: number;
  hits: DecidingSignal[];
}

/** Reads the frame ending at `own[p]` backwards; returns it and the position before it. */
function scanFrameBack(r: CompiledRule, signals: readonly Signal[], own: readonly number[], p: number): { frame: ScannedFrame; before: number } {
  const first = signals[own[p] ?? -1];
  if (first === undefined) throw new Error('policy engine: frame scan out of range');
  const frameTimeMs = first.frameTimeMs;
  const hits: DecidingSignal[] = [];
  let at = first.observedAt;
  let q = p;
  for (; q >= 0; q--) {
    const i = own[q] ?? -1;
    const s = signals[i];
    if (s === undefined || s.frameTimeMs !== frameTimeMs) break;
    at = s.observedAt;
    if (signalMatches(r, s)) hits.unshift(decidingSignal(s, i));
  }
  return { frame: { at, hits }, before: q };
}

function scanWindow(r: CompiledRule, signals: readonly Signal[], own: readonly number[], k: number, n: number): Firing | null {
  let hits = 0;
  let deciding: DecidingSignal[] = [];
  let p = own.length - 1;
  for (let frames = 0; frames < n && p >= 0; frames++) {
    const { frame, before } = scanFrameBack(r, signals, own, p);
    if (frame.hits.length > 0) {
      hits++;
      deciding = [...frame.hits, ...deciding];
    }
    p = before;
  }
  if (hits < k) return null;
  return { decidedAt: lastObservedAt(signals, own), deciding: capLast(deciding), detail: windowDetail(r, hits, n) };
}

function scanSustained(r: CompiledRule, signals: readonly Signal[], own: readonly number[], sustainedMs: number): Firing | null {
  const { frame: current, before } = scanFrameBack(r, signals, own, own.length - 1);
  if (current.hits.length === 0) return null;
  let startAt = current.at;
  let deciding = current.hits;
  for (let p = before; p >= 0;) {
    const { frame, before: prior } = scanFrameBack(r, signals, own, p);
    if (frame.hits.length === 0) break;
    startAt = frame.at;
    deciding = [...frame.hits, ...deciding];
    p = prior;
  }
  const durationMs = current.at - startAt;
  if (durationMs < sustainedMs) return null;
  return { decidedAt: lastObservedAt(signals, own), deciding: capLast(deciding), detail: sustainedDetail(r, durationMs, sustainedMs) };
}

function lastObservedAt(signals: readonly Signal[], own: readonly number[]): number {
  return signals[own[own.length - 1] ?? -1]?.observedAt ?? 0;
}

/** Stall entries checked at time `at`, having seen signals[0, end). */
function scanStalls(
  cp: CompiledPolicy,
  ctx: EngineContext,
  signals: readonly Signal[],
  end: number,
  at: number,
  report: DecidingSignal | null,
  sink: DecisionSink,
): void {
  for (const s of cp.stalls) {
    if (!sink.isOpen(s.id)) continue;
    const source = s.entry.source;
    let lifeIndex = -1;
    for (let j = end - 1; j >= 0; j--) {
      const sig = signals[j];
      if (sig !== undefined && sig.label !== STALL_LABEL && (source === SAMPLER_SOURCE || sig.source === source)) {
        lifeIndex = j;
        break;
      }
    }
    let reportStart: number | undefined;
    for (let j = lifeIndex + 1; j < end; j++) {
      const sig = signals[j];
      if (sig === undefined || sig.source !== source || sig.label !== STALL_LABEL) continue;
      const start = reportedStallStart(sig);
      reportStart = reportStart === undefined ? start : Math.min(reportStart, start);
    }
    const lastLife = lifeIndex >= 0 ? signals[lifeIndex]?.observedAt : undefined;
    const stalledForMs = at - silenceStart(lastLife, reportStart, ctx.startedAt);
    if (stalledForMs >= s.afterMs) sink.emit(stallDecision(cp, s, ctx, { at, stalledForMs, report }));
  }
}
