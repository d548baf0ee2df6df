import type { Signal } from '../../classifiers/signal.ts';
import type { BacktestStream } from '../../policy/backtest.ts';
import { formatPolicyError, validatePolicy } from '../../policy/load.ts';
import type { Policy, PolicyInput } from '../../policy/schema.ts';

export const T0 = 1_700_000_000_000;

export function policyOf(source: Record<string, unknown>): Policy {
  const r = validatePolicy(source);
  if (!r.ok) throw new Error(`policy did not load:\n${r.errors.map(formatPolicyError).join('\n')}`);
  return r.policy;
}

/** A policy object (before validation) with a violence cut rule at `cutAt` and a review rule at `reviewAt`. */
export function violencePolicyInput(
  o: { cutAt?: number; reviewAt?: number; k?: number; n?: number; version?: string; shadowCut?: boolean; stall?: boolean } = {},
): PolicyInput {
  return {
    version: o.version ?? '1',
    name: 'bt',
    rules: [
      {
        id: 'violence-cut',
        description: 'cut on high violence',
        severity: 'high',
        match: { source: 'violence', minScore: o.cutAt ?? 0.9 },
        smoothing: { k: o.k ?? 2, n: o.n ?? 3 },
        actions: { cut: true, suspend: '30d', strike: { category: 'graphic-violence' }, review: { priority: 'high' } },
        shadow: o.shadowCut ?? false,
      },
      {
        id: 'violence-review',
        description: 'review on medium violence',
        severity: 'medium',
        match: { source: 'violence', minScore: o.reviewAt ?? 0.6 },
        smoothing: { k: 2, n: 4 },
        actions: { review: { priority: 'normal' } },
      },
      {
        id: 'nsfw-cut',
        description: 'cut on sustained nsfw',
        severity: 'medium',
        match: { source: 'nsfw', label: 'unsafe', minScore: 0.95 },
        smoothing: { sustainedSeconds: 2 },
        actions: { cut: true, review: {} },
      },
    ],
    stall: o.stall ? [{ source: 'sampler', afterSeconds: 30, mode: 'fail_open' }] : [],
  } as PolicyInput;
}

export function sig(streamId: string, source: string, t: number, score: number, o: { label?: string; startedAt?: number } = {}): Signal {
  return {
    streamId,
    frameTimeMs: t,
    observedAt: (o.startedAt ?? T0) + t,
    source,
    label: o.label ?? (source === 'nsfw' ? 'unsafe' : source),
    score,
    version: `${source}@1`,
    evidenceRef: `live/${streamId}/${t}`,
  };
}

/** One stream with violence scores one per second (and optional nsfw scores). */
export function streamOf(streamId: string, violence: number[], o: { nsfw?: number[]; startedAt?: number; accountId?: string } = {}): BacktestStream {
  const startedAt = o.startedAt ?? T0;
  const signals: Signal[] = [];
  violence.forEach((s, i) => signals.push(sig(streamId, 'violence', i * 1000, s, { startedAt })));
  (o.nsfw ?? []).forEach((s, i) => signals.push(sig(streamId, 'nsfw', i * 1000 + 500, s, { startedAt })));
  return { streamId, accountId: o.accountId ?? `acct-${streamId}`, personId: null, startedAt, history: { strikes: [], suspensions: [] }, signals };
}
