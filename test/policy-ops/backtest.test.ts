import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { backtest, replayStream, type BacktestStream } from '../../policy/backtest.ts';
import { policyOf, sig, streamOf, T0, violencePolicyInput } from './helpers.ts';

const DAY = 86_400_000;

describe('backtest (pure)', () => {
  const base = policyOf(violencePolicyInput({ cutAt: 0.9 }));

  it('the same policy on both sides: no differences, every decision unchanged', () => {
    const streams = [streamOf('s1', [0.95, 0.95, 0.2]), streamOf('s2', [0.7, 0.7, 0.1])];
    const r = backtest(base, base, streams);
    expect(r.totals).toMatchObject({ added: 0, removed: 0, changed: 0, retimed: 0, streamsAffected: 0 });
    expect(r.totals.unchanged).toBe(r.totals.baseline.decisions);
    expect(r.totals.baseline).toEqual(r.totals.candidate);
    expect(r.streams).toBe(2);
    expect(r.signals).toBe(6);
  });

  it('raising a threshold removes decisions, with counts per rule and examples', () => {
    // s1 and s2 cross 0.9 twice (cut); s3 never does. Raised to 0.97, only s2 (0.98, 0.99) still cuts.
    const streams = [streamOf('s1', [0.91, 0.95, 0.5]), streamOf('s2', [0.98, 0.99, 0.5]), streamOf('s3', [0.5, 0.5, 0.5])];
    const cand = policyOf(violencePolicyInput({ cutAt: 0.97 }));
    const r = backtest(base, cand, streams, { maxExamples: 10 });
    const cut = r.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(cut.baseline).toEqual({ enforced: 2, shadow: 0 });
    expect(cut.candidate).toEqual({ enforced: 1, shadow: 0 });
    expect(cut.removed).toEqual({ enforced: 1, shadow: 0 });
    expect(cut.added).toEqual({ enforced: 0, shadow: 0 });
    expect(cut.unchanged).toBe(1);
    expect(cut.examples).toHaveLength(1);
    const ex = cut.examples[0]!;
    expect(ex).toMatchObject({ change: 'removed', streamId: 's1', ruleId: 'violence-cut', accountId: 'acct-s1', candidate: null, decidedAt: T0 + 1000 });
    expect(ex.baseline).toMatchObject({
      shadow: false,
      summary: 'cut, suspend 30d, strike graphic-violence/high (90d), review high',
      evidenceRefs: ['live/s1/0', 'live/s1/1000'],
    });
    expect(ex.baseline!.reason).toContain('violence-cut');
    expect(ex.at).toBe(new Date(T0 + 1000).toISOString());
    // In s1 the cut no longer ends the stream at 1 s, so the review rule (2 of 4 ≥ 0.6) fires instead: added.
    const review = r.rules.find((x) => x.ruleId === 'violence-review')!;
    expect(review.added).toEqual({ enforced: 1, shadow: 0 });
    expect(review.examples.map((e) => [e.change, e.streamId])).toEqual([['added', 's1']]);
    expect(r.totals).toMatchObject({ added: 1, removed: 1, changed: 0, streamsAffected: 1, streamsNoLongerCut: 1, streamsNewlyCut: 0 });
    expect(r.totals.baseline.cuts).toBe(2);
    expect(r.totals.candidate.cuts).toBe(1);
    expect(r.rules.map((x) => x.ruleId)).toEqual(['violence-cut', 'violence-review', 'nsfw-cut']);
  });

  it('lowering a threshold adds decisions', () => {
    const streams = [streamOf('s1', [0.85, 0.86, 0.1]), streamOf('s2', [0.1, 0.2])];
    const cand = policyOf(violencePolicyInput({ cutAt: 0.8 }));
    const r = backtest(base, cand, streams);
    const cut = r.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(cut.added).toEqual({ enforced: 1, shadow: 0 });
    expect(cut.removed).toEqual({ enforced: 0, shadow: 0 });
    expect(cut.examples[0]).toMatchObject({
      change: 'added',
      streamId: 's1',
      baseline: null,
      differences: ['no decision → cut, suspend 30d, strike graphic-violence/high (90d), review high'],
    });
    // The baseline reviewed s1 (2 of 4 ≥ 0.6) at the same signal; the candidate's cut comes first and ends the stream.
    expect(r.rules.find((x) => x.ruleId === 'violence-review')!.removed).toEqual({ enforced: 1, shadow: 0 });
    expect(r.totals.streamsNewlyCut).toBe(1);
  });

  it('changed actions: shadow flip and a different suspension; retimed when only the time differs', () => {
    const streams = [streamOf('s1', [0.95, 0.95, 0.95, 0.95])];
    const shadowed = policyOf(violencePolicyInput({ shadowCut: true }));
    const r1 = backtest(base, shadowed, streams);
    const c1 = r1.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(c1.changed).toBe(1);
    expect(c1.candidate).toEqual({ enforced: 0, shadow: 1 });
    expect(c1.examples[0]!.differences).toEqual(['enforced → shadow']);
    expect(c1.examples[0]!.candidate!.summary).toMatch(/^shadow: cut/);
    expect(r1.totals.candidate.cuts).toBe(0);

    const longer = policyOf({
      ...violencePolicyInput(),
      rules: violencePolicyInput().rules.map((r) => (r.id === 'violence-cut' ? { ...r, actions: { ...r.actions, suspend: 'permanent' } } : r)),
    });
    const c2 = backtest(base, longer, streams).rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(c2.changed).toBe(1);
    expect(c2.examples[0]!.differences).toEqual(['suspend 30d → permanent']);

    const slower = policyOf(violencePolicyInput({ k: 3, n: 3 }));
    const r3 = backtest(base, slower, streams);
    const c3 = r3.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(c3.retimed).toBe(1);
    expect(c3.changed).toBe(0);
    expect(c3.examples[0]!.differences).toEqual(['decided 1.0 s later']);
    // The cut no longer ends the stream at 1 s, so the review rule gets its turn there.
    expect(r3.rules.find((x) => x.ruleId === 'violence-review')!.added).toEqual({ enforced: 1, shadow: 0 });
  });

  it('examples are capped per rule and kind, earliest first, and the report is deterministic', () => {
    const streams = Array.from({ length: 12 }, (_, i) => streamOf(`s${String(i).padStart(2, '0')}`, [0.95, 0.95], { startedAt: T0 + (11 - i) * 60_000 }));
    const cand = policyOf(violencePolicyInput({ cutAt: 0.99 }));
    const r = backtest(base, cand, streams, { maxExamples: 3 });
    const cut = r.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(cut.removed.enforced).toBe(12);
    expect(cut.examples.map((e) => e.streamId)).toEqual(['s11', 's10', 's09']);
    expect(backtest(base, cand, [...streams].reverse(), { maxExamples: 3 })).toEqual(r);
  });

  it('counts only decisions in [since, until), while earlier signals still feed smoothing', () => {
    const s = streamOf('s1', [0.95, 0.95, 0.1, 0.1]);
    // The cut completes at T0+1000 (second hit). With since = T0+500 it counts; with since = T0+1500 it does not.
    expect(backtest(base, base, [s], { since: T0 + 500 }).totals.baseline.cuts).toBe(1);
    expect(backtest(base, base, [s], { since: T0 + 1500 }).totals.baseline.decisions).toBe(0);
    // Signals after `until` are not replayed.
    expect(backtest(base, base, [s], { until: T0 + 1000 }).totals.baseline.decisions).toBe(0);
    expect(replayStream(base, s, { until: T0 + 1001 }).map((d) => d.ruleId)).toEqual(['violence-cut']);
  });

  it('stall entries are not replayed and say so; rules below the storage floor are flagged', () => {
    const withStall = policyOf(violencePolicyInput({ stall: true, reviewAt: 0.2 }));
    // 2 minutes of silence between stored signals: a replayed stall entry would fire.
    const signals: Signal[] = [sig('s1', 'violence', 0, 0.4), sig('s1', 'violence', 120_000, 0.4)];
    const stream: BacktestStream = { ...streamOf('s1', []), signals };
    const r = backtest(withStall, withStall, [stream], { storedSignalsFloor: 0.3 });
    expect(r.rules.map((x) => x.ruleId)).not.toContain('stall-sampler-30s');
    expect(r.totals.baseline.decisions).toBe(1); // the review, nothing for the stall
    expect(r.notes.some((n) => n.includes('stall entries are not replayed (stall-sampler-30s)'))).toBe(true);
    expect(r.notes.some((n) => n.startsWith('violence-review matches violence scores below 0.3'))).toBe(true);
  });

  it('compares with the recorded decisions', () => {
    const s1 = streamOf('s1', [0.95, 0.95]);
    const s2 = streamOf('s2', [0.1, 0.1]);
    const recorded = (ruleId: string, at: number) => ({
      id: `dec-${ruleId}`,
      ruleId,
      shadow: false,
      actions: { cut: true },
      decidedAt: at,
      policyVersion: 'bt@1',
    });
    const streams: BacktestStream[] = [
      { ...s1, recorded: [recorded('violence-cut', T0 + 1000)] },
      // Recorded under a rule the replay does not reproduce (the signals below the floor were never stored).
      {
        ...s2,
        recorded: [
          recorded('old-rule', T0 + 1000),
          { ...recorded('stall-sampler-30s', T0 + 40_000), actions: { cut: false, review: { priority: 'high' as const } } },
        ],
      },
    ];
    const cand = policyOf(violencePolicyInput({ cutAt: 0.99, stall: true }));
    const r = backtest(policyOf(violencePolicyInput({ stall: true })), cand, streams);
    expect(r.recorded).toEqual({
      decisions: 2,
      reproducedByBaseline: 1,
      missedByBaseline: 1,
      extraInBaseline: 0,
      keptByCandidate: 0,
      droppedByCandidate: 2,
      newInCandidate: 1,
    });
    // (the candidate's review on s1, once its cut no longer ends the stream)
    expect(r.totals.recorded).toMatchObject({ decisions: 2, cuts: 2, streamsCut: 2 });
    expect(r.rules.find((x) => x.ruleId === 'old-rule')).toMatchObject({ inBaseline: false, inCandidate: false, recorded: { enforced: 1, shadow: 0 } });
    expect(r.rules.find((x) => x.ruleId === 'violence-cut')!.recorded).toEqual({ enforced: 1, shadow: 0 });
    // Without recorded decisions there is no comparison.
    expect(backtest(cand, cand, [s1]).recorded).toBeNull();
  });

  it('escalation follows the history given with each stream', () => {
    const p = policyOf({
      ...violencePolicyInput(),
      rules: violencePolicyInput().rules.map((r) =>
        r.id === 'violence-cut' ? { ...r, escalation: [{ priorStrikes: 1, within: '90d', suspend: 'permanent' }] } : r,
      ),
    });
    const prior = {
      id: 'k1',
      category: 'graphic-violence',
      severity: 'high' as const,
      ruleId: 'violence-cut',
      at: T0 - 10 * DAY,
      expiresAt: T0 + 80 * DAY,
      voided: false,
    };
    const stream = { ...streamOf('s1', [0.95, 0.95]), history: { strikes: [prior], suspensions: [] } };
    const r = backtest(base, p, [stream]);
    const cut = r.rules.find((x) => x.ruleId === 'violence-cut')!;
    expect(cut.changed).toBe(1);
    expect(cut.examples[0]!.differences).toEqual(['suspend 30d → permanent']);
    expect(cut.examples[0]!.candidate!.escalationStep).toBe(0);
  });

  it('rejects a signal of another stream', () => {
    const s = { ...streamOf('s1', [0.5]), signals: [sig('other', 'violence', 0, 0.5)] };
    expect(() => backtest(base, base, [s])).toThrow(/signal of stream other/);
  });
});

describe('backtest properties', () => {
  // Signal sets: a few streams, each a run of frames with violence and nsfw scores (some frames with both).
  const streamArb = (i: number) =>
    fc
      .array(
        fc.record({
          v: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
          n: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
          gap: fc.integer({ min: 200, max: 3000 }),
        }),
        { maxLength: 25 },
      )
      .map((frames): BacktestStream => {
        const id = `s${i}`;
        const signals: Signal[] = [];
        let t = 0;
        for (const f of frames) {
          t += f.gap;
          if (f.v !== undefined) signals.push(sig(id, 'violence', t, f.v));
          if (f.n !== undefined) signals.push(sig(id, 'nsfw', t, f.n));
        }
        return { ...streamOf(id, []), signals };
      });
  const streamsArb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => streamArb(i))));
  const thresholds = fc.tuple(fc.double({ min: 0.05, max: 0.95, noNaN: true }), fc.double({ min: 0.01, max: 0.5, noNaN: true }));
  const smoothing = fc.constantFrom({ k: 1, n: 1 }, { k: 2, n: 3 }, { k: 3, n: 4 });

  it('raising a threshold never adds a decision of that rule, and never cuts a stream the baseline did not', () => {
    fc.assert(
      fc.property(streamsArb, thresholds, smoothing, (streams, [t, delta], sm) => {
        const low = policyOf(violencePolicyInput({ cutAt: t, ...sm }));
        const high = policyOf(violencePolicyInput({ cutAt: Math.min(1, t + delta), ...sm }));
        const r = backtest(low, high, streams);
        const cut = r.rules.find((x) => x.ruleId === 'violence-cut')!;
        expect(cut.added).toEqual({ enforced: 0, shadow: 0 });
        expect(r.totals.streamsNewlyCut).toBe(0);
        expect(r.totals.candidate.cuts).toBeLessThanOrEqual(r.totals.baseline.cuts);
        // Stream by stream: a candidate cut implies a baseline cut no later.
        for (const s of streams) {
          const b = replayStream(low, s).find((d) => !d.shadow && d.actions.cut);
          const c = replayStream(high, s).find((d) => !d.shadow && d.actions.cut);
          if (c !== undefined) expect(b !== undefined && b.decidedAt <= c.decidedAt).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('lowering a threshold never removes a decision of that rule; the diff is antisymmetric', () => {
    fc.assert(
      fc.property(streamsArb, thresholds, smoothing, (streams, [t, delta], sm) => {
        const high = policyOf(violencePolicyInput({ cutAt: Math.min(1, t + delta), ...sm }));
        const low = policyOf(violencePolicyInput({ cutAt: t, ...sm }));
        const down = backtest(high, low, streams);
        const up = backtest(low, high, streams);
        expect(down.rules.find((x) => x.ruleId === 'violence-cut')!.removed).toEqual({ enforced: 0, shadow: 0 });
        expect(down.totals.streamsNoLongerCut).toBe(0);
        expect([down.totals.added, down.totals.removed, down.totals.changed]).toEqual([up.totals.removed, up.totals.added, up.totals.changed]);
        expect(down.totals.baseline).toEqual(up.totals.candidate);
      }),
      { numRuns: 200 },
    );
  });
});
