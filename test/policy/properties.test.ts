import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { createStreamState, enforceable, evaluate, step, type Decision, type EngineContext } from '../../policy/engine.ts';
import type { StrikeRecord } from '../../policy/history.ts';
import { validatePolicy } from '../../policy/load.ts';
import type { Policy } from '../../policy/schema.ts';
import { DAY, runIncremental, T0 } from './helpers.ts';

// ---------------------------------------------------------------------------------------------------
// Arbitraries: random but valid policies, signal streams and histories. Small value sets (few sources,
// categories, frame times that repeat) so that rules actually fire and frames actually group.

// viewer_report signals name a reporter (one of a few), so requirements count distinct reporters, not frames.
const SOURCES = ['violence', 'nsfw', 'hash_match', 'sampler', 'viewer_report'] as const;
const CATEGORIES = ['terrorist-violent-extremism', 'confirmed', 'spam'] as const;
const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const score = fc.integer({ min: 0, max: 100 }).map((n) => n / 100);

const smoothingArb = fc.oneof(
  fc.integer({ min: 1, max: 5 }).chain((n) => fc.integer({ min: 1, max: n }).map((k) => ({ k, n }))),
  fc.integer({ min: 0, max: 16 }).map((s) => ({ sustainedSeconds: s / 2 })),
);

// Match fields that fit the source, so rules fire often enough to test (mismatches are unit-tested).
const matchArb = fc.constantFrom(...SOURCES).chain((source): fc.Arbitrary<object> => {
  const opt = { requiredKeys: ['source'] as ['source'] };
  if (source === 'hash_match') {
    return fc.record(
      { source: fc.constant(source), category: fc.subarray([...CATEGORIES], { minLength: 1 }), maxDistance: fc.integer({ min: 0, max: 64 }) },
      opt,
    );
  }
  if (source === 'sampler') return fc.record({ source: fc.constant(source), label: fc.constantFrom('stall', 'heartbeat') }, opt);
  return fc.record({ source: fc.constant(source), label: fc.constantFrom(source, 'other'), minScore: score }, opt);
});

const actionsArb = fc
  .record(
    {
      cut: fc.boolean(),
      suspend: fc.constantFrom('12h', '30d', 'permanent'),
      strike: fc.record({ category: fc.constantFrom('gv', 've'), expiresAfter: fc.constantFrom('30d', '90d') }),
      review: fc.record({ priority: fc.constantFrom('low', 'normal', 'high', 'urgent') }, { requiredKeys: [] }),
      warn: fc.constant({ message: 'stop' }),
    },
    { requiredKeys: ['cut'] },
  )
  // Keep only combinations the schema accepts: at least one action, and no suspension without a cut.
  .map((a) => (a.suspend !== undefined ? { ...a, cut: true } : a))
  .map((a) => (!a.cut && a.strike === undefined && a.review === undefined && a.warn === undefined ? { ...a, review: {} } : a));

const escalationArb = fc.array(
  fc.record({ within: fc.constantFrom('30d', '90d'), minSeverity: fc.constantFrom(...SEVERITIES), suspend: fc.constantFrom('90d', 'permanent') }),
  { maxLength: 2 },
);

// Further conditions (policy `requires`): a match of any source within a short window, counted 1–3 times.
const requirementArb = matchArb.chain((m) =>
  fc.record({ within: fc.constantFrom('2s', '5s', '20s'), minCount: fc.integer({ min: 1, max: 3 }) }).map((w) => ({ ...m, ...w })),
);

const ruleArb = fc.record({
  severity: fc.constantFrom(...SEVERITIES),
  match: matchArb,
  requires: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(requirementArb, { minLength: 1, maxLength: 2 }) }),
  smoothing: fc.option(smoothingArb, { nil: undefined }),
  actions: actionsArb,
  escalation: escalationArb,
  shadow: fc.boolean(),
});

const stallArb = fc.record({
  source: fc.constantFrom('sampler', 'violence'),
  afterSeconds: fc.constantFrom(5, 10, 30),
  mode: fc.constantFrom('fail_open', 'fail_closed'),
  shadow: fc.boolean(),
});

interface RuleDraft {
  severity: string;
  match: object;
  requires: readonly object[];
  smoothing: object | undefined;
  actions: object;
  escalation: { within: string; minSeverity: string; suspend: string }[];
  shadow: boolean;
}

function toRule(r: RuleDraft, i: number): Record<string, unknown> {
  // A ladder's suspension needs a cut; rungs are numbered 1, 2, … in order.
  const escalation = r.escalation.map((e, j) => ({ ...e, priorStrikes: j + 1, cut: true }));
  return {
    id: `rule-${i}`,
    description: `random rule ${i}`,
    severity: r.severity,
    match: r.match,
    ...(r.requires.length ? { requires: r.requires } : {}),
    ...(r.smoothing ? { smoothing: r.smoothing } : {}),
    actions: r.actions,
    escalation,
    shadow: r.shadow,
  };
}

function mustLoad(input: unknown): Policy {
  const r = validatePolicy(input);
  if (!r.ok) throw new Error(`generated an invalid policy: ${JSON.stringify(r.errors)}`);
  return r.policy;
}

const policyInputArb = fc
  .record({ rules: fc.array(ruleArb, { minLength: 1, maxLength: 5 }), stall: fc.array(stallArb, { maxLength: 2 }) })
  .map(({ rules, stall }) => ({
    version: 1,
    name: 'random',
    rules: rules.map(toRule),
    stall: stall.map((s, i) => ({ ...s, id: `stall-${i}` })),
  }));

/** One step of a stream: time advance, whether the frame advances, and what was seen. */
const eventArb = fc.record({
  // Mostly a steady frame rate, sometimes a long gap (stalls, sustained runs broken by time).
  dt: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 800 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 8000 }) }),
  newFrame: fc.boolean(),
  source: fc.constantFrom(...SOURCES),
  otherLabel: fc.boolean(),
  score,
  category: fc.constantFrom(...CATEGORIES),
  distance: fc.integer({ min: 0, max: 64 }),
  evidence: fc.boolean(),
  stalledForMs: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined }),
});

const signalsArb = fc.array(eventArb, { maxLength: 60, size: 'medium' }).map((events) => {
  const out: Signal[] = [];
  let observedAt = T0;
  let frameTimeMs = 0;
  for (const e of events) {
    observedAt += e.dt;
    if (e.newFrame) frameTimeMs += 250;
    out.push(toSignal(e, observedAt, frameTimeMs, out.length));
  }
  return out;
});

function toSignal(e: EventDraft, observedAt: number, frameTimeMs: number, n: number): Signal {
  const base = { streamId: 'stream-1', frameTimeMs, observedAt, version: 'v1', evidenceRef: e.evidence ? `ev-${n}` : null };
  if (e.source === 'hash_match') {
    return {
      ...base,
      source: 'hash_match',
      label: e.category,
      match: {
        bank: 'bank-a',
        entryId: 'e1',
        distance: e.distance,
        variant: 'original',
        category: e.category,
        severity: 'critical',
        frameHash: '0'.repeat(64),
        quality: 80,
      },
      ...(e.otherLabel ? { score: e.score } : {}),
    };
  }
  if (e.source === 'sampler') {
    const label = e.otherLabel ? 'heartbeat' : 'stall';
    return { ...base, source: 'sampler', label, score: 1, ...(e.stalledForMs === undefined ? {} : { detail: { stalledForMs: e.stalledForMs } }) };
  }
  if (e.source === 'viewer_report') {
    return { ...base, source: 'viewer_report', label: e.otherLabel ? 'other' : e.source, score: 1, detail: { reporter: `viewer-${e.distance % 4}` } };
  }
  return { ...base, source: e.source, label: e.otherLabel ? 'other' : e.source, score: e.score };
}

interface EventDraft {
  source: (typeof SOURCES)[number];
  otherLabel: boolean;
  score: number;
  category: string;
  distance: number;
  evidence: boolean;
  stalledForMs: number | undefined;
}

const strikesArb = fc.array(
  fc.record({
    id: fc.constantFrom('s1', 's2', 's3', 's4'),
    severity: fc.constantFrom(...SEVERITIES),
    daysAgo: fc.integer({ min: 0, max: 120 }),
    lifetimeDays: fc.integer({ min: 1, max: 180 }),
    // Mostly countable strikes, so escalation is exercised; some voided or from this very stream.
    voided: fc.constantFrom(false, false, false, true),
    sameStream: fc.constantFrom(false, false, false, true),
  }),
  { minLength: 1, maxLength: 4 },
);

function ctxWith(strikes: readonly StrikeDraft[]): EngineContext {
  const records: StrikeRecord[] = strikes.map((s) => ({
    id: s.id,
    category: 've',
    severity: s.severity,
    ruleId: 'earlier',
    at: T0 - s.daysAgo * DAY,
    expiresAt: T0 - s.daysAgo * DAY + s.lifetimeDays * DAY,
    voided: s.voided,
    streamId: s.sameStream ? 'stream-1' : 'stream-0',
  }));
  return { streamId: 'stream-1', accountId: 'acct-1', personId: 'person-1', startedAt: T0, history: { strikes: records, suspensions: [] } };
}

interface StrikeDraft {
  id: string;
  severity: (typeof SEVERITIES)[number];
  daysAgo: number;
  lifetimeDays: number;
  voided: boolean;
  sameStream: boolean;
}

const nowAfter = (signals: readonly Signal[], extra: number) => (signals.at(-1)?.observedAt ?? T0) + extra;

/** The first moment an enforced decision cuts the feed, or Infinity. */
function firstCut(ds: readonly Decision[]): number {
  const cuts = enforceable(ds).filter((d) => d.actions.cut);
  return cuts.length === 0 ? Infinity : Math.min(...cuts.map((d) => d.decidedAt));
}

const scenarioArb = fc.record({
  policy: policyInputArb,
  signals: signalsArb,
  strikes: strikesArb,
  extra: fc.integer({ min: 0, max: 40_000 }),
  decidedMask: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});

function alreadyDecided(policy: Policy, mask: readonly boolean[]): string[] {
  return policy.rules.map((r) => r.id).filter((_, i) => mask[i] === true);
}

function tally(seen: Record<string, number>, ds: readonly Decision[]): void {
  const bump = (k: string, yes: boolean) => {
    if (yes) seen[k] = (seen[k] ?? 0) + 1;
  };
  bump('decisions', ds.length > 0);
  bump('cut', firstCut(ds) < Infinity);
  bump(
    'shadow',
    ds.some((d) => d.shadow),
  );
  bump(
    'escalated',
    ds.some((d) => d.escalation !== null),
  );
  bump(
    'stall',
    ds.some((d) => d.kind === 'stall'),
  );
  bump(
    'stallReport',
    ds.some((d) => d.kind === 'stall' && d.signalRefs.length > 0),
  );
  bump(
    'sustained',
    ds.some((d) => d.reason.includes('every ')),
  );
  bump(
    'multiSignal',
    ds.some((d) => d.kind === 'rule' && d.signalRefs.length > 1),
  );
}

// ---------------------------------------------------------------------------------------------------

describe('policy engine properties', () => {
  it('feeding signals one by one through step (then tick) gives exactly the batch decisions', () => {
    const seen = { decisions: 0, cut: 0, shadow: 0, escalated: 0, stall: 0, stallReport: 0, sustained: 0, multiSignal: 0 };
    fc.assert(
      fc.property(scenarioArb, ({ policy: input, signals, strikes, extra, decidedMask }) => {
        const policy = mustLoad(input);
        const ctx = ctxWith(strikes);
        const now = nowAfter(signals, extra);
        const already = alreadyDecided(policy, decidedMask);
        const batch = evaluate(policy, ctx, signals, now, already);
        expect(runIncremental(policy, ctx, signals, now, already)).toEqual(batch);
        tally(seen, batch);
      }),
      { numRuns: 400 },
    );
    // Guard against a vacuous property: the generated scenarios must exercise every feature.
    for (const [feature, count] of Object.entries(seen)) expect(count, feature).toBeGreaterThan(10);
  });

  it('the same inputs always give the same decisions', () => {
    fc.assert(
      fc.property(scenarioArb, ({ policy: input, signals, strikes, extra }) => {
        const ctx = ctxWith(strikes);
        const now = nowAfter(signals, extra);
        const first = evaluate(mustLoad(input), ctx, signals, now);
        const again = evaluate(mustLoad(structuredClone(input)), structuredClone(ctx), structuredClone(signals), now);
        expect(again).toEqual(first);
      }),
    );
  });

  it('never enforces anything when every rule and stall entry is shadow', () => {
    fc.assert(
      fc.property(scenarioArb, ({ policy: input, signals, strikes, extra }) => {
        const allShadow = { ...input, rules: input.rules.map((r) => ({ ...r, shadow: true })), stall: input.stall.map((s) => ({ ...s, shadow: true })) };
        const ds = evaluate(mustLoad(allShadow), ctxWith(strikes), signals, nowAfter(signals, extra));
        expect(enforceable(ds)).toEqual([]);
        for (const d of ds) {
          expect(d.shadow).toBe(true);
          expect(d).not.toHaveProperty('actions');
        }
      }),
    );
  });

  it('raising a rule’s score threshold never adds a cut or brings one earlier', () => {
    fc.assert(
      fc.property(scenarioArb, fc.nat(), fc.integer({ min: 1, max: 100 }), ({ policy: input, signals, strikes, extra }, pick, raise) => {
        const i = pick % input.rules.length;
        const rule = input.rules[i] as { match: { minScore?: number } };
        const higher = Math.min(1, (rule.match.minScore ?? 0) + raise / 100);
        const raised = { ...input, rules: input.rules.map((r, j) => (j === i ? { ...r, match: { ...(r.match as object), minScore: higher } } : r)) };
        const ctx = ctxWith(strikes);
        const now = nowAfter(signals, extra);
        expect(firstCut(evaluate(mustLoad(raised), ctx, signals, now))).toBeGreaterThanOrEqual(firstCut(evaluate(mustLoad(input), ctx, signals, now)));
      }),
      { numRuns: 300 },
    );
  });

  it('a rule decides at most once, and never when already decided', () => {
    fc.assert(
      fc.property(scenarioArb, ({ policy: input, signals, strikes, extra, decidedMask }) => {
        const policy = mustLoad(input);
        const already = alreadyDecided(policy, decidedMask);
        const ds = evaluate(policy, ctxWith(strikes), signals, nowAfter(signals, extra), already);
        const ruleIds = ds.map((d) => d.ruleId);
        expect(new Set(ruleIds).size).toBe(ruleIds.length);
        for (const id of already) expect(ruleIds).not.toContain(id);
      }),
    );
  });

  it('step leaves the state it was given untouched', () => {
    fc.assert(
      fc.property(scenarioArb, ({ policy: input, signals, strikes }) => {
        const policy = mustLoad(input);
        const ctx = ctxWith(strikes);
        let state = createStreamState();
        for (const s of signals) {
          const snapshot = structuredClone(state);
          const next = step(policy, state, s, ctx).state;
          expect(state).toEqual(snapshot);
          state = next;
        }
      }),
      { numRuns: 50 },
    );
  });
});
