import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { enforceable, evaluate, type Decision, type EnforcedDecision } from '../../policy/engine.ts';
import { loadPolicyFile } from '../../gateway/enforcement/policy-file.ts';
import { formatPolicyError } from '../../policy/load.ts';
import type { Policy } from '../../policy/schema.ts';
import { ctxOf, DAY, hashMatch, ids, runIncremental, scored, stallReport, strike, T0, viewerReport, violence } from './helpers.ts';

const DEFAULT_POLICY = fileURLToPath(new URL('../../policy/default.yaml', import.meta.url));
let policy: Policy;

beforeAll(async () => {
  const r = await loadPolicyFile(DEFAULT_POLICY);
  if (!r.ok) throw new Error(r.errors.map(formatPolicyError).join('\n'));
  policy = r.policy;
});

function decide(signals: Parameters<typeof evaluate>[2], ctx = ctxOf(), now?: number): Decision[] {
  const at = now ?? signals.at(-1)?.observedAt ?? T0;
  const batch = evaluate(policy, ctx, signals, at);
  expect(runIncremental(policy, ctx, signals, at)).toEqual(batch);
  return batch;
}

function cutBy(ds: readonly Decision[]): EnforcedDecision {
  const cuts = enforceable(ds).filter((d) => d.actions.cut);
  expect(cuts).toHaveLength(1);
  return cuts[0] as EnforcedDecision;
}

/** Frames every 250 ms with the given violence scores. */
const violenceFrames = (...scores: number[]) => scores.map((s, i) => violence(i * 250, s));

describe('default policy (Facebook Live one-strike, May 2019)', () => {
  it('loads, with a name and version that go into every decision', () => {
    expect(policy.name).toBe('one-strike-live');
    expect(policy.rules.map((r) => r.id)).toEqual([
      'tve-known-content',
      'graphic-violence-high',
      'graphic-violence-medium',
      'nsfw-review',
      'tve-known-content-retro',
      'tve-known-video',
      'reports-and-violence-medium',
      'reports-and-nsfw-medium',
      'viewer-reports-review',
      'copy-known-content',
    ]);
  });

  it('a first known violent-extremist match cuts, suspends live for 30 days, strikes and queues an urgent review', () => {
    const d = cutBy(decide([hashMatch(0)]));
    expect(d.ruleId).toBe('tve-known-content');
    expect(d.actions).toEqual({
      cut: true,
      suspend: { durationMs: 30 * DAY, untilMs: T0 + 30 * DAY },
      strike: { category: 'violent-extremism', severity: 'critical', expiresAt: T0 + 90 * DAY },
      review: { priority: 'urgent' },
    });
    expect(d.evidenceRefs).toEqual(['ev/hash/0']);
  });

  it('a match in a confirmed bank category is treated the same', () => {
    expect(cutBy(decide([hashMatch(0, { category: 'confirmed' })])).actions.suspend?.durationMs).toBe(30 * DAY);
  });

  it('a match in an unrelated bank category, or too far away, does nothing', () => {
    expect(decide([hashMatch(0, { category: 'spam' }), hashMatch(250, { distance: 40 })])).toEqual([]);
  });

  it('a second severe strike within 90 days removes live permanently', () => {
    const ctx = ctxOf({ strikes: [strike({ id: 'earlier', daysAgo: 45 })] });
    const d = cutBy(decide([hashMatch(0)], ctx));
    expect(d.actions.suspend).toEqual({ durationMs: null, untilMs: null });
    expect(d.escalation?.strikeIds).toEqual(['earlier']);
  });

  it('an earlier graphic-violence strike also counts toward the second severe strike', () => {
    const ctx = ctxOf({ strikes: [strike({ category: 'graphic-violence', severity: 'high', daysAgo: 10 })] });
    expect(cutBy(decide([hashMatch(0)], ctx)).actions.suspend?.untilMs).toBeNull();
  });

  it('a strike held by the same person on another account counts (the caller loads person history)', () => {
    const ctx = ctxOf({ strikes: [strike({ accountId: 'old-account', personId: 'person-1', daysAgo: 20 })] });
    expect(cutBy(decide([hashMatch(0)], ctx)).actions.suspend?.untilMs).toBeNull();
  });

  it('a strike from more than 90 days ago, a voided one, or a low-severity one leaves the 30-day suspension', () => {
    const strikes = [
      strike({ id: 'old', daysAgo: 100, expiresAt: T0 + DAY }),
      strike({ id: 'voided', daysAgo: 5, voided: true }),
      strike({ id: 'minor', daysAgo: 5, severity: 'low' }),
    ];
    expect(cutBy(decide([hashMatch(0)], ctxOf({ strikes }))).actions.suspend?.durationMs).toBe(30 * DAY);
  });

  it('high-confidence graphic violence on 3 of the last 4 frames cuts and suspends for 30 days', () => {
    const ds = decide(violenceFrames(0.95, 0.3, 0.92, 0.97));
    const d = cutBy(ds);
    expect(d.ruleId).toBe('graphic-violence-high');
    expect(d.actions).toMatchObject({
      cut: true,
      suspend: { durationMs: 30 * DAY },
      strike: { category: 'graphic-violence', severity: 'high' },
      review: { priority: 'high' },
    });
  });

  it('a single-frame violence spike does not cut the stream', () => {
    const ds = decide(violenceFrames(0.1, 0.99, 0.1, 0.1, 0.1));
    expect(enforceable(ds).some((d) => d.actions.cut)).toBe(false);
  });

  it('medium-confidence violence only queues a review: no cut, no strike', () => {
    const ds = decide(violenceFrames(0.7, 0.65, 0.8, 0.75, 0.7));
    expect(ids(ds)).toEqual(['graphic-violence-medium']);
    expect(enforceable(ds)[0]?.actions).toEqual({ cut: false, review: { priority: 'normal' } });
  });

  it('nsfw content is only reviewed, never cut, however confident', () => {
    const ds = decide([0, 250, 500, 750, 1000].map((t) => scored('nsfw', t, 1, 'unsafe')));
    expect(ids(ds)).toEqual(['nsfw-review']);
    expect(enforceable(ds)[0]?.actions).toEqual({ cut: false, review: { priority: 'low' } });
  });

  it("a banked video matched by the stream's recent frames (vPDQ, >= 80 % of the window) cuts at once, as a PDQ match does", () => {
    const d = cutBy(decide([scored('video_match', 0, 0.8, 'terrorist-violent-extremism')]));
    expect(d.ruleId).toBe('tve-known-video');
    expect(d.actions).toMatchObject({ cut: true, suspend: { durationMs: 30 * DAY }, review: { priority: 'urgent' } });
    expect(cutBy(decide([scored('video_match', 0, 1, 'confirmed')])).ruleId).toBe('tve-known-video');
  });

  it('a video window under 80 %, or a video of an unrelated category, does nothing', () => {
    expect(decide([scored('video_match', 0, 0.79, 'terrorist-violent-extremism'), scored('video_match', 250, 1, 'spam')])).toEqual([]);
  });

  it('a sampler stall longer than 30 s fails open: high-priority review, the stream continues', () => {
    const ds = decide([violence(0, 0.1)], ctxOf(), T0 + 31_000);
    expect(ids(ds)).toEqual(['sampler-stall']);
    expect(enforceable(ds)[0]?.actions).toEqual({ cut: false, review: { priority: 'high' } });
  });

  it('a sampler stall report past 30 s fails open as soon as it arrives', () => {
    const ds = decide([violence(0, 0.1), stallReport(31_000, 31_000)]);
    expect(ds.map((d) => [d.ruleId, d.decidedAt])).toEqual([['sampler-stall', T0 + 31_000]]);
  });

  it('a healthy stream with low scores decides nothing', () => {
    const healthy = [];
    for (let t = 0; t < 60_000; t += 500) healthy.push(violence(t, 0.05), scored('nsfw', t, 0.02, 'unsafe'));
    expect(decide(healthy)).toEqual([]);
  });

  describe('viewer reports', () => {
    // Reports 20 s apart: a stream whose signals paused for more than 30 s would also meet sampler-stall.
    const S = 20_000;
    const three = (t0 = 0) => [viewerReport(t0, 'a'), viewerReport(t0 + S, 'b'), viewerReport(t0 + 2 * S, 'c')];
    const rules = (ds: readonly Decision[]) => ds.filter((d) => d.kind === 'rule');

    it('three independent reports within 30 minutes queue a high-priority review and leave the stream up', () => {
      const ds = decide(three());
      expect(ids(ds)).toEqual(['viewer-reports-review']);
      expect(enforceable(ds)[0]?.actions).toEqual({ cut: false, review: { priority: 'high' } });
    });

    it('two reports, or three from one viewer, or three spread over more than 30 minutes, do nothing', () => {
      expect(decide(three().slice(0, 2))).toEqual([]);
      expect(decide([viewerReport(0, 'a'), viewerReport(S, 'a'), viewerReport(2 * S, 'a')])).toEqual([]);
      expect(rules(decide([viewerReport(0, 'a'), viewerReport(16 * 60_000, 'b'), viewerReport(31 * 60_000, 'c')]))).toEqual([]);
    });

    it('three reports and a medium violence score (0.6–0.9, not enough on its own to cut) cut and queue urgently, no suspension or strike', () => {
      const d = cutBy(decide([violence(0, 0.65), ...three(1000)]));
      expect(d.ruleId).toBe('reports-and-violence-medium');
      expect(d.actions).toEqual({ cut: true, review: { priority: 'urgent' } });
      expect(d.evidenceRefs).toEqual(['ev/violence/0']);
    });

    it('the model agreeing after the reports cuts too, after the review the reports already queued', () => {
      const ds = decide([...three(), violence(3 * S, 0.7)]);
      expect(ids(ds)).toEqual(['viewer-reports-review', 'reports-and-violence-medium']);
      expect(cutBy(ds).decidedAt).toBe(T0 + 3 * S);
    });

    it('three reports and a medium nsfw score cut under the nsfw rule; a low score does not', () => {
      expect(cutBy(decide([scored('nsfw', 0, 0.7, 'unsafe'), ...three(1000)])).ruleId).toBe('reports-and-nsfw-medium');
      expect(enforceable(decide([scored('nsfw', 0, 0.3, 'unsafe'), ...three(1000)])).filter((d) => d.actions.cut)).toEqual([]);
    });
  });
});
