import { describe, expect, it } from 'vitest';
import { createStreamState, enforceable, evaluate, step, tick, type Decision, type EnforcedDecision } from '../../policy/engine.ts';
import { validatePolicy } from '../../policy/load.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { ctxOf, DAY, hashMatch, ids, oneRule, policyOf, runIncremental, scored, stallReport, strike, T0, viewerReport, violence } from './helpers.ts';

const LATER = T0 + 3_600_000;

function only(ds: readonly Decision[]): EnforcedDecision {
  expect(ds).toHaveLength(1);
  const d = ds[0];
  if (d === undefined || d.shadow) throw new Error('expected one enforced decision');
  return d;
}

/** Runs both forms and insists they agree, so every unit test also checks incremental == batch. */
function decide(
  policy: Parameters<typeof evaluate>[0],
  signals: Parameters<typeof evaluate>[2],
  ctx = ctxOf(),
  now = LATER,
  already: string[] = [],
): Decision[] {
  const batch = evaluate(policy, ctx, signals, now, already);
  expect(runIncremental(policy, ctx, signals, now, already)).toEqual(batch);
  return batch;
}

describe('matching', () => {
  it('a score exactly at minScore matches; just below does not', () => {
    const p = oneRule({});
    expect(ids(decide(p, [violence(0, 0.9)]))).toEqual(['r1']);
    expect(decide(p, [violence(0, 0.8999)])).toEqual([]);
  });

  it('only signals of the rule source are considered', () => {
    expect(decide(oneRule({}), [scored('nsfw', 0, 0.99)])).toEqual([]);
  });

  it('a label filter ignores other labels of the same source', () => {
    const p = oneRule({ match: { source: 'violence', label: 'violence', minScore: 0.5 } });
    expect(decide(p, [scored('violence', 0, 0.99, 'weapon')])).toEqual([]);
    expect(ids(decide(p, [scored('violence', 0, 0.99, 'violence')]))).toEqual(['r1']);
  });

  it('a hash match counts only in the listed bank categories and within maxDistance', () => {
    const p = oneRule({ match: { source: 'hash_match', category: ['terrorist-violent-extremism'], maxDistance: 31 } });
    expect(decide(p, [hashMatch(0, { category: 'spam' })])).toEqual([]);
    expect(decide(p, [hashMatch(0, { distance: 32 })])).toEqual([]);
    expect(ids(decide(p, [hashMatch(0, { distance: 31 })]))).toEqual(['r1']);
  });

  it('a bank filter selects matches by bank name', () => {
    const p = oneRule({ match: { source: 'hash_match', bank: 'internal-confirmed' } });
    expect(decide(p, [hashMatch(0, { bank: 'gifct-tve' })])).toEqual([]);
    expect(ids(decide(p, [hashMatch(0, { bank: 'internal-confirmed' })]))).toEqual(['r1']);
  });

  it('bank and category filters select a copy match by the bank and category it names in its detail', () => {
    const copy = (bank: string, category: string): Signal => ({
      ...scored('copy_match', 0, 0.8, category),
      detail: { bank, category, entryId: 'bke_1', similarity: 0.8 },
    });
    const byBank = oneRule({ match: { source: 'copy_match', bank: ['tve', 'confirmed'], minScore: 0.7 } });
    expect(ids(decide(byBank, [copy('tve', 'terrorist-violent-extremism')]))).toEqual(['r1']);
    expect(decide(byBank, [copy('tve-screenshots', 'terrorist-violent-extremism')])).toEqual([]);
    const byCategory = oneRule({ match: { source: 'copy_match', category: 'confirmed', minScore: 0.7 } });
    expect(ids(decide(byCategory, [copy('internal', 'confirmed')]))).toEqual(['r1']);
    expect(decide(byCategory, [copy('internal', 'spam')])).toEqual([]);
    // maxDistance is PDQ's: a copy match has none, so it never passes one.
    expect(decide(oneRule({ match: { source: 'copy_match', maxDistance: 31 } }), [copy('tve', 'confirmed')])).toEqual([]);
  });

  it('a minScore never passes a signal that carries no score (a pure hash match)', () => {
    const p = oneRule({ match: { source: 'hash_match', minScore: 0.5 } });
    expect(decide(p, [hashMatch(0)])).toEqual([]);
  });

  it('a category filter never passes a classifier signal without bank-match details', () => {
    const p = oneRule({ match: { source: 'violence', category: 'violence' } });
    expect(decide(p, [violence(0, 1)])).toEqual([]);
  });

  it('rejects a signal from another stream instead of deciding on it', () => {
    const foreign = { ...violence(0, 1), streamId: 'other' };
    expect(() => evaluate(oneRule({}), ctxOf(), [foreign], LATER)).toThrow(/other/);
    expect(() => step(oneRule({}), createStreamState(), foreign, ctxOf())).toThrow(/other/);
  });
});

describe('temporal smoothing', () => {
  const threeOfFour = oneRule({ smoothing: { k: 3, n: 4 } });

  it('a single-frame spike below k of n does not cut', () => {
    expect(decide(threeOfFour, [violence(0, 0.1), violence(250, 0.99), violence(500, 0.1), violence(750, 0.1)])).toEqual([]);
  });

  it('k of the last n frames cuts on the frame that completes the count', () => {
    const ds = decide(threeOfFour, [violence(0, 0.95), violence(250, 0.2), violence(500, 0.95), violence(750, 0.97), violence(1000, 0.99)]);
    const d = only(ds);
    expect(d.decidedAt).toBe(T0 + 750);
    expect(d.signalRefs.map((r) => r.index)).toEqual([0, 2, 3]);
    expect(d.evidenceRefs).toEqual(['ev/violence/0', 'ev/violence/500', 'ev/violence/750']);
    expect(d.reason).toContain('3 of the last 4 violence frames');
  });

  it('hits that slid out of the window no longer count', () => {
    const s = [violence(0, 0.95), violence(250, 0.95), violence(500, 0.1), violence(750, 0.1), violence(1000, 0.1), violence(1250, 0.95)];
    expect(decide(threeOfFour, s)).toEqual([]);
  });

  it('several signals about the same frame count as one frame', () => {
    const sameFrame = [violence(0, 0.95), { ...violence(0, 0.97), observedAt: T0 + 10 }, { ...violence(0, 0.99), observedAt: T0 + 20 }];
    expect(decide(threeOfFour, sameFrame)).toEqual([]);
  });

  it('other sources interleaved between frames do not break the window', () => {
    const s = [violence(0, 0.95), scored('nsfw', 100, 0.1), violence(250, 0.95), scored('nsfw', 300, 0.1), violence(500, 0.95)];
    expect(only(decide(threeOfFour, s)).decidedAt).toBe(T0 + 500);
  });

  it('the default smoothing applies to rules that set none', () => {
    const p = policyOf({
      version: 1,
      name: 't',
      defaults: { smoothing: { k: 2, n: 2 } },
      rules: [{ id: 'r1', description: 'd', severity: 'high', match: { source: 'violence', minScore: 0.9 }, actions: { cut: true } }],
    });
    expect(decide(p, [violence(0, 0.95)])).toEqual([]);
    expect(ids(decide(p, [violence(0, 0.95), violence(250, 0.95)]))).toEqual(['r1']);
  });

  describe('sustained for s seconds', () => {
    const sustained = oneRule({ smoothing: { sustainedSeconds: 2 } });
    const hitsEvery500 = (from: number, to: number) => {
      const out = [];
      for (let t = from; t <= to; t += 500) out.push(violence(t, 0.95));
      return out;
    };

    it('fires once every frame has matched for s seconds', () => {
      const d = only(decide(sustained, hitsEvery500(0, 3000)));
      expect(d.decidedAt).toBe(T0 + 2000);
      expect(d.signalRefs).toHaveLength(5);
      expect(d.reason).toContain('for 2.0 s');
    });

    it('does not fire on a shorter burst', () => {
      expect(decide(sustained, hitsEvery500(0, 1500))).toEqual([]);
    });

    it('a non-matching frame restarts the clock', () => {
      const s = [...hitsEvery500(0, 1500), violence(1750, 0.1), ...hitsEvery500(2000, 3500)];
      expect(decide(sustained, s)).toEqual([]);
      expect(only(decide(sustained, [...s, violence(4000, 0.95)])).decidedAt).toBe(T0 + 4000);
    });
  });
});

describe('actions', () => {
  it('cut ends the feed', () => {
    expect(only(decide(oneRule({}), [violence(0, 1)])).actions.cut).toBe(true);
  });

  it('a suspension runs from the decision for its duration', () => {
    const d = only(decide(oneRule({ actions: { cut: true, suspend: '12h' } }), [violence(0, 1)]));
    expect(d.actions.suspend).toEqual({ durationMs: 12 * 3_600_000, untilMs: T0 + 12 * 3_600_000 });
  });

  it('a permanent suspension has no end', () => {
    const d = only(decide(oneRule({ actions: { cut: true, suspend: 'permanent' } }), [violence(0, 1)]));
    expect(d.actions.suspend).toEqual({ durationMs: null, untilMs: null });
  });

  it('a strike records its category, the rule severity by default, and an expiry', () => {
    const d = only(decide(oneRule({ severity: 'critical', actions: { cut: true, strike: { category: 'gv', expiresAfter: '90d' } } }), [violence(0, 1)]));
    expect(d.actions.strike).toEqual({ category: 'gv', severity: 'critical', expiresAt: T0 + 90 * DAY });
  });

  it('a strike without expiresAfter uses defaults.strikeExpiry', () => {
    const p = oneRule({ actions: { cut: true, strike: { category: 'gv', severity: 'low' } } }, { defaults: { strikeExpiry: '30d' } });
    expect(only(decide(p, [violence(0, 1)])).actions.strike).toEqual({ category: 'gv', severity: 'low', expiresAt: T0 + 30 * DAY });
  });

  it('review uses its priority, or the default priority', () => {
    expect(only(decide(oneRule({ actions: { review: { priority: 'urgent' } } }), [violence(0, 1)])).actions.review).toEqual({ priority: 'urgent' });
    expect(only(decide(oneRule({ actions: { review: {} } }), [violence(0, 1)])).actions.review).toEqual({ priority: 'normal' });
  });

  it('a warning tells the streamer and lets the stream continue', () => {
    const d = only(decide(oneRule({ actions: { warn: { message: 'Please stop.' } } }), [violence(0, 1)]));
    expect(d.actions).toEqual({ cut: false, warn: { message: 'Please stop.' } });
  });

  it('a rule fires at most once per stream', () => {
    const p = oneRule({ actions: { review: {} } });
    expect(ids(decide(p, [violence(0, 1), violence(250, 1), violence(500, 1)]))).toEqual(['r1']);
  });

  it('a rule already decided for the stream does not fire again', () => {
    expect(decide(oneRule({}), [violence(0, 1)], ctxOf(), LATER, ['r1'])).toEqual([]);
  });

  it('an enforced cut ends the stream: later rules, even on the same signal, decide nothing', () => {
    const p = policyOf({
      version: 1,
      name: 't',
      rules: [
        { id: 'cutter', description: 'd', severity: 'high', match: { source: 'violence', minScore: 0.9 }, actions: { cut: true } },
        { id: 'reviewer', description: 'd', severity: 'low', match: { source: 'violence', minScore: 0.5 }, actions: { review: {} } },
        { id: 'nsfw', description: 'd', severity: 'low', match: { source: 'nsfw', minScore: 0.5 }, actions: { review: {} } },
      ],
    });
    expect(ids(decide(p, [violence(0, 1), scored('nsfw', 100, 1)]))).toEqual(['cutter']);
  });

  it('decisions carry the policy name and version, stream, account and person', () => {
    const d = only(decide(oneRule({}), [violence(0, 1)]));
    expect(d).toMatchObject({
      policy: { name: 'test', version: '1' },
      streamId: 'stream-1',
      accountId: 'acct-1',
      personId: 'person-1',
      kind: 'rule',
      severity: 'high',
    });
  });

  it('evidence references skip signals that kept no evidence', () => {
    const d = only(decide(oneRule({ smoothing: { k: 2, n: 2 } }), [{ ...violence(0, 1), evidenceRef: null }, violence(250, 1)]));
    expect(d.evidenceRefs).toEqual(['ev/violence/250']);
    expect(d.signalRefs).toEqual([
      { index: 0, observedAt: T0 },
      { index: 1, observedAt: T0 + 250 },
    ]);
  });

  it('signals observed after now are not seen yet', () => {
    expect(evaluate(oneRule({}), ctxOf(), [violence(5000, 1)], T0 + 4000)).toEqual([]);
  });
});

describe('combined rules: requirements on recent signals (viewer reports + a classifier score)', () => {
  const MIN = 60_000;
  /** 3 independent reports within 30 min and a violence score ≥ 0.6 within 2 min: cut and review. */
  const combined = () =>
    oneRule({
      match: { source: 'viewer_report' },
      requires: [
        { source: 'viewer_report', minCount: 3, within: '30m' },
        { source: 'violence', minScore: 0.6, within: '2m' },
      ],
      actions: { cut: true, review: { priority: 'urgent' } },
    });

  it('three independent reports and then a medium violence score cut; the reason counts both and the evidence cites the frame', () => {
    const d = only(decide(combined(), [viewerReport(0, 'a'), viewerReport(MIN, 'b'), viewerReport(2 * MIN, 'c'), violence(2 * MIN + 500, 0.65)]));
    expect(d.actions).toMatchObject({ cut: true, review: { priority: 'urgent' } });
    expect(d.decidedAt).toBe(T0 + 2 * MIN + 500);
    expect(d.reason).toContain('3 distinct viewer_report');
    expect(d.reason).toContain('1 distinct violence (score ≥ 0.6) within 2m');
    expect(d.evidenceRefs).toEqual([`ev/violence/${2 * MIN + 500}`]);
    expect(d.signalRefs.map((r) => r.index)).toEqual([0, 1, 2, 3]);
  });

  it('a classifier score first and the third report last also cuts, at the report', () => {
    const d = only(decide(combined(), [viewerReport(0, 'a'), viewerReport(1000, 'b'), violence(2000, 0.7), viewerReport(3000, 'c')]));
    expect(d.decidedAt).toBe(T0 + 3000);
  });

  it('one viewer reporting three times counts once', () => {
    expect(decide(combined(), [viewerReport(0, 'a'), viewerReport(1000, 'a'), viewerReport(2000, 'a'), violence(3000, 0.9)])).toEqual([]);
  });

  it('reports older than the window do not count, nor a classifier score older than its window', () => {
    expect(decide(combined(), [viewerReport(0, 'a'), viewerReport(31 * MIN, 'b'), viewerReport(32 * MIN, 'c'), violence(32 * MIN + 1, 0.9)])).toEqual([]);
    expect(decide(combined(), [violence(0, 0.9), viewerReport(MIN, 'a'), viewerReport(2 * MIN, 'b'), viewerReport(3 * MIN, 'c')])).toEqual([]);
  });

  it('without the classifier score, reports alone do not satisfy the combined rule; a score below medium does not either', () => {
    expect(decide(combined(), [viewerReport(0, 'a'), viewerReport(1, 'b'), viewerReport(2, 'c')])).toEqual([]);
    expect(decide(combined(), [viewerReport(0, 'a'), viewerReport(1, 'b'), viewerReport(2, 'c'), violence(3, 0.59)])).toEqual([]);
  });

  it('a classifier rule can require reports too: its own smoothing still applies', () => {
    const p = oneRule({
      match: { source: 'nsfw', minScore: 0.6 },
      smoothing: { k: 2, n: 3 },
      requires: [{ source: 'viewer_report', minCount: 2, within: '10m' }],
      actions: { cut: true },
    });
    expect(decide(p, [viewerReport(0, 'a'), viewerReport(1, 'b'), scored('nsfw', 250, 0.7)])).toEqual([]);
    expect(ids(decide(p, [viewerReport(0, 'a'), viewerReport(1, 'b'), scored('nsfw', 250, 0.7), scored('nsfw', 500, 0.7)]))).toEqual(['r1']);
  });

  it('the schema rejects a bad requirement with its key path', () => {
    const r = validatePolicy({
      version: 1,
      name: 't',
      rules: [
        {
          id: 'x',
          description: 'x',
          severity: 'low',
          match: { source: 'violence' },
          requires: [{ source: 'viewer_report', minCount: 0 }],
          actions: { review: {} },
        },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.errors.map((e) => e.path);
    expect(paths).toContain('rules[0].requires[0].minCount');
    expect(paths).toContain('rules[0].requires[0].within');
  });
});

describe('escalation ladder', () => {
  const ladder = oneRule({
    severity: 'high',
    actions: { cut: true, suspend: '30d', strike: { category: 'gv' } },
    escalation: [
      { priorStrikes: 1, within: '90d', minSeverity: 'high', suspend: '180d' },
      { priorStrikes: 2, within: '365d', minSeverity: 'high', suspend: 'permanent' },
    ],
  });
  const suspendOf = (history: Parameters<typeof ctxOf>[0]) => only(decide(ladder, [violence(0, 1)], ctxOf(history))).actions.suspend?.durationMs;

  it('a first offence gets the rule’s own suspension', () => {
    expect(suspendOf({})).toBe(30 * DAY);
  });

  it('one active severe strike within the window escalates to the first rung', () => {
    const d = only(decide(ladder, [violence(0, 1)], ctxOf({ strikes: [strike({ id: 's1', daysAgo: 30 })] })));
    expect(d.actions.suspend?.durationMs).toBe(180 * DAY);
    expect(d.escalation).toEqual({ step: 0, requiredPriorStrikes: 1, withinMs: 90 * DAY, strikeIds: ['s1'] });
    expect(d.reason).toContain('Escalated');
  });

  it('the highest rung the history satisfies wins', () => {
    const strikes = [strike({ id: 's1', daysAgo: 30 }), strike({ id: 's2', daysAgo: 60, expiresAt: T0 + DAY })];
    expect(suspendOf({ strikes })).toBeNull();
  });

  it('a strike older than the window does not escalate', () => {
    expect(suspendOf({ strikes: [strike({ daysAgo: 91, expiresAt: T0 + DAY })] })).toBe(30 * DAY);
  });

  it('an expired strike does not count', () => {
    expect(suspendOf({ strikes: [strike({ daysAgo: 30, expiresAt: T0 - 1 })] })).toBe(30 * DAY);
  });

  it('a voided strike does not count', () => {
    expect(suspendOf({ strikes: [strike({ daysAgo: 30, voided: true })] })).toBe(30 * DAY);
  });

  it('a strike below the rung’s minimum severity does not count', () => {
    expect(suspendOf({ strikes: [strike({ daysAgo: 30, severity: 'medium' })] })).toBe(30 * DAY);
  });

  it('a strike earned by this same stream does not escalate it (one incident)', () => {
    expect(suspendOf({ strikes: [strike({ daysAgo: 0, streamId: 'stream-1' })] })).toBe(30 * DAY);
  });

  it('the same strike reached through account and person counts once', () => {
    const s = strike({ id: 'dup', daysAgo: 30, expiresAt: T0 + DAY });
    expect(suspendOf({ strikes: [s, { ...s, personId: 'person-1' }] })).toBe(180 * DAY);
  });

  it('a rung limited to categories ignores strikes in others', () => {
    const p = oneRule({ actions: { cut: true, suspend: '30d' }, escalation: [{ priorStrikes: 1, within: '90d', categories: ['gv'], suspend: 'permanent' }] });
    const other = only(decide(p, [violence(0, 1)], ctxOf({ strikes: [strike({ category: 'spam' })] })));
    expect(other.actions.suspend?.durationMs).toBe(30 * DAY);
    const same = only(decide(p, [violence(0, 1)], ctxOf({ strikes: [strike({ category: 'gv' })] })));
    expect(same.actions.suspend?.durationMs).toBeNull();
  });

  it('a rung can add a cut to a rule that only reviews', () => {
    const p = oneRule({ actions: { review: {} }, escalation: [{ priorStrikes: 1, within: '30d', cut: true }] });
    expect(only(decide(p, [violence(0, 1)], ctxOf({ strikes: [strike()] }))).actions).toEqual({ cut: true, review: { priority: 'normal' } });
  });
});

describe('shadow rules', () => {
  const shadow = oneRule({ shadow: true, actions: { cut: true, suspend: '30d' } });

  it('are recorded as "would have" and carry no actions to enforce', () => {
    const ds = decide(shadow, [violence(0, 1)]);
    expect(ds).toHaveLength(1);
    const d = ds[0];
    expect(d?.shadow).toBe(true);
    expect(d).not.toHaveProperty('actions');
    expect(d && d.shadow ? d.wouldHave.cut : undefined).toBe(true);
    expect(d?.reason).toMatch(/^SHADOW \(not enforced\)/);
    expect(enforceable(ds)).toEqual([]);
  });

  it('a shadow cut does not end the stream for the real rules', () => {
    const p = policyOf({
      version: 1,
      name: 't',
      rules: [
        { id: 'candidate', description: 'd', severity: 'high', shadow: true, match: { source: 'violence', minScore: 0.5 }, actions: { cut: true } },
        { id: 'live', description: 'd', severity: 'high', match: { source: 'violence', minScore: 0.9 }, actions: { cut: true } },
      ],
    });
    const ds = decide(p, [violence(0, 0.6), violence(250, 0.95)]);
    expect(ds.map((d) => [d.ruleId, d.shadow])).toEqual([
      ['candidate', true],
      ['live', false],
    ]);
  });
});

describe('stall handling', () => {
  const stallPolicy = (entries: unknown[]) => oneRule({ actions: { review: {} }, match: { source: 'violence', minScore: 0.99 } }, { stall: entries });
  const openAfter30 = stallPolicy([{ source: 'sampler', afterSeconds: 30, mode: 'fail_open' }]);

  it('fails open after t seconds without frames: review, the stream continues', () => {
    const ds = decide(openAfter30, [violence(0, 0.1)], ctxOf(), T0 + 30_000);
    const d = only(ds);
    expect(d).toMatchObject({ ruleId: 'stall-sampler-30s', kind: 'stall', decidedAt: T0 + 30_000, actions: { cut: false, review: { priority: 'normal' } } });
  });

  it('does not fire before t seconds have passed', () => {
    expect(decide(openAfter30, [violence(0, 0.1)], ctxOf(), T0 + 29_999)).toEqual([]);
  });

  it('counts from the stream start when no frame ever arrived', () => {
    expect(only(decide(openAfter30, [], ctxOf(), T0 + 30_000)).reason).toContain('no frames sampled for 30.0 s');
  });

  it('fails closed by cutting the feed', () => {
    const p = stallPolicy([{ source: 'sampler', afterSeconds: 10, mode: 'fail_closed', reviewPriority: 'urgent' }]);
    expect(only(decide(p, [], ctxOf(), T0 + 10_000)).actions).toEqual({ cut: true, review: { priority: 'urgent' } });
  });

  it('any classifier signal shows frames are flowing', () => {
    expect(decide(openAfter30, [scored('nsfw', 20_000, 0.1)], ctxOf(), T0 + 45_000)).toEqual([]);
  });

  it('a classifier-specific entry watches only that classifier', () => {
    const p = stallPolicy([{ source: 'violence', afterSeconds: 30, mode: 'fail_open' }]);
    const nsfwOnly = [scored('nsfw', 10_000, 0.1), scored('nsfw', 20_000, 0.1), scored('nsfw', 31_000, 0.1)];
    expect(only(decide(p, nsfwOnly, ctxOf(), T0 + 31_000)).decidedAt).toBe(T0 + 30_000 + 1_000);
  });

  it('a sampler stall report fires on arrival, trusting its stalledForMs over lagging classifier signals', () => {
    const p = stallPolicy([{ source: 'sampler', afterSeconds: 10, mode: 'fail_open' }]);
    // The violence result for an old frame arrives late at 8 s; the sampler says decoding stopped at 1 s.
    const ds = decide(p, [violence(0, 0.1), violence(8_000, 0.1), stallReport(12_000, 11_000)], ctxOf(), T0 + 12_000);
    const d = only(ds);
    expect(d.decidedAt).toBe(T0 + 12_000);
    expect(d.signalRefs).toEqual([{ index: 2, observedAt: T0 + 12_000 }]);
    expect(d.reason).toContain('for 11.0 s');
    expect(d.reason).toContain('stall reported by sampler');
  });

  it('of several stall reports, the earliest reported start counts', () => {
    const s = [violence(0, 0.1), violence(8_000, 0.1), stallReport(10_000, 9_500), stallReport(12_000, 1_000)];
    expect(only(decide(openAfter30, s, ctxOf(), T0 + 30_500)).reason).toContain('for 30.0 s');
  });

  it('a stall report cannot claim a stall longer than the stream has existed', () => {
    expect(decide(openAfter30, [stallReport(5_000, 60_000)], ctxOf(), T0 + 5_000)).toEqual([]);
  });

  it('a stall report is not itself a sign of life', () => {
    expect(ids(decide(openAfter30, [violence(0, 0.1), stallReport(20_000), stallReport(29_000)], ctxOf(), T0 + 31_000))).toEqual(['stall-sampler-30s']);
  });

  it('a gap is noticed when the next signal arrives, without a tick in between', () => {
    const ds = evaluate(openAfter30, ctxOf(), [violence(0, 0.1), violence(40_000, 0.1)], T0 + 40_000);
    expect(only(ds).decidedAt).toBe(T0 + 40_000);
  });

  it('a source named like a built-in object property is just a name', () => {
    const p = stallPolicy([{ source: 'constructor', afterSeconds: 30, mode: 'fail_open' }]);
    expect(decide(p, [scored('constructor', 10_000, 0.1)], ctxOf(), T0 + 39_000)).toEqual([]);
    expect(ids(decide(p, [scored('constructor', 10_000, 0.1)], ctxOf(), T0 + 40_000))).toEqual(['stall-constructor-30s']);
  });

  it('tick reports the stall once, then stays quiet', () => {
    const ctx = ctxOf();
    const first = tick(openAfter30, step(openAfter30, createStreamState(), violence(0, 0.1), ctx).state, ctx, T0 + 31_000);
    expect(ids(first.decisions)).toEqual(['stall-sampler-30s']);
    expect(tick(openAfter30, first.state, ctx, T0 + 60_000).decisions).toEqual([]);
  });

  it('escalating stall entries: fail open first, then fail closed', () => {
    const p = stallPolicy([
      { source: 'sampler', afterSeconds: 30, mode: 'fail_open' },
      { source: 'sampler', afterSeconds: 120, mode: 'fail_closed' },
    ]);
    const ctx = ctxOf();
    const s0 = step(p, createStreamState(), violence(0, 0.1), ctx).state;
    const a = tick(p, s0, ctx, T0 + 60_000);
    const b = tick(p, a.state, ctx, T0 + 120_000);
    expect(ids(a.decisions)).toEqual(['stall-sampler-30s']);
    expect(ids(b.decisions)).toEqual(['stall-sampler-120s']);
    expect(b.decisions[0]?.shadow === false && b.decisions[0].actions.cut).toBe(true);
  });
});

describe('incremental state', () => {
  it('step never modifies the state it was given', () => {
    const p = oneRule({ smoothing: { k: 2, n: 3 } }, { stall: [{ source: 'sampler', afterSeconds: 1, mode: 'fail_open' }] });
    const ctx = ctxOf();
    let state = createStreamState();
    for (const s of [violence(0, 0.95), stallReport(500, 2_000), violence(1000, 0.95), violence(1500, 0.95)]) {
      const before = structuredClone(state);
      const next = step(p, state, s, ctx);
      expect(state).toEqual(before);
      state = next.state;
    }
  });

  it('after an enforced cut, step and tick decide nothing more', () => {
    const p = oneRule({}, { stall: [{ source: 'sampler', afterSeconds: 1, mode: 'fail_open' }] });
    const ctx = ctxOf();
    const cut = step(p, createStreamState(), violence(0, 1), ctx);
    expect(cut.state.ended).toBe(true);
    expect(step(p, cut.state, violence(5000, 1), ctx).decisions).toEqual([]);
    expect(tick(p, cut.state, ctx, T0 + 60_000).decisions).toEqual([]);
  });
});
