import type { Signal } from '../../classifiers/signal.ts';
import { createStreamState, step, tick, type Decision, type EngineContext } from '../../policy/engine.ts';
import type { AccountHistory, StrikeRecord } from '../../policy/history.ts';
import { formatPolicyError, loadPolicy, validatePolicy } from '../../policy/load.ts';
import type { Policy, PolicyInput } from '../../policy/schema.ts';

export const DAY = 86_400_000;
/** Epoch ms the test streams start at: far from 0 so "days before" stays positive. */
export const T0 = 1_700_000_000_000;

/** A policy from YAML text or an object; fails the test with every error if it does not load. */
export function policyOf(source: string | PolicyInput | Record<string, unknown>): Policy {
  const r = typeof source === 'string' ? loadPolicy(source) : validatePolicy(source);
  if (!r.ok) throw new Error(`policy did not load:\n${r.errors.map(formatPolicyError).join('\n')}`);
  return r.policy;
}

/** A one-rule policy; `rule` is merged over a violence ≥ 0.9 rule that cuts. */
export function oneRule(rule: Record<string, unknown>, extra: Record<string, unknown> = {}): Policy {
  return policyOf({
    version: 1,
    name: 'test',
    rules: [
      {
        id: 'r1',
        description: 'test rule',
        severity: 'high',
        match: { source: 'violence', minScore: 0.9 },
        actions: { cut: true },
        ...rule,
      },
    ],
    ...extra,
  } as PolicyInput);
}

export function ctxOf(history: Partial<AccountHistory> = {}, over: Partial<EngineContext> = {}): EngineContext {
  return {
    streamId: 'stream-1',
    accountId: 'acct-1',
    personId: 'person-1',
    startedAt: T0,
    history: { strikes: history.strikes ?? [], suspensions: history.suspensions ?? [] },
    ...over,
  };
}

/** A classifier score on the frame at media time `t` ms, observed `t` ms after the stream started. */
export function scored(source: string, t: number, score: number, label = source): Signal {
  return {
    streamId: 'stream-1',
    frameTimeMs: t,
    observedAt: T0 + t,
    source,
    label,
    score,
    version: `${source}-model@1`,
    evidenceRef: `ev/${source}/${t}`,
  };
}

export const violence = (t: number, score: number): Signal => scored('violence', t, score);

/** A viewer report (as gateway/accountability/reports makes one) from a hashed source, `t` ms into the stream. */
export function viewerReport(t: number, reporter: string, category = 'violence'): Signal {
  return {
    streamId: 'stream-1',
    frameTimeMs: t,
    observedAt: T0 + t,
    source: 'viewer_report',
    label: category,
    score: 1,
    version: 'viewer-report/1',
    evidenceRef: null,
    detail: { reporter, reportId: `rpt-${reporter}-${t}` },
  };
}

export function hashMatch(
  t: number,
  over: { category?: string; bank?: string; distance?: number; severity?: 'low' | 'medium' | 'high' | 'critical' } = {},
): Signal {
  const category = over.category ?? 'terrorist-violent-extremism';
  return {
    streamId: 'stream-1',
    frameTimeMs: t,
    observedAt: T0 + t,
    source: 'hash_match',
    label: category,
    match: {
      bank: over.bank ?? 'gifct-tve',
      entryId: 'entry-42',
      distance: over.distance ?? 4,
      variant: 'original',
      category,
      severity: over.severity ?? 'critical',
      frameHash: 'a'.repeat(64),
      quality: 90,
    },
    version: 'bank@2019-05',
    evidenceRef: `ev/hash/${t}`,
  };
}

/** A sampler stall report observed at `t` ms after start, saying frames stopped `stalledForMs` ago. */
export function stallReport(t: number, stalledForMs?: number, source = 'sampler'): Signal {
  return {
    streamId: 'stream-1',
    frameTimeMs: 0,
    observedAt: T0 + t,
    source,
    label: 'stall',
    score: 1,
    version: 'sampler@1',
    evidenceRef: null,
    ...(stalledForMs === undefined ? {} : { detail: { stalledForMs } }),
  };
}

export function strike(over: Partial<StrikeRecord> & { daysAgo?: number } = {}): StrikeRecord {
  const { daysAgo = 10, ...rest } = over;
  return {
    id: 'strike-1',
    category: 'violent-extremism',
    severity: 'critical',
    ruleId: 'tve-known-content',
    at: T0 - daysAgo * DAY,
    expiresAt: T0 - daysAgo * DAY + 90 * DAY,
    voided: false,
    ...rest,
  };
}

/** Feeds the signals one by one through `step`, then ticks at `now`: the live path. */
export function runIncremental(policy: Policy, ctx: EngineContext, signals: readonly Signal[], now: number, alreadyDecided: Iterable<string> = []): Decision[] {
  let state = createStreamState(alreadyDecided);
  const out: Decision[] = [];
  for (const s of signals) {
    if (s.observedAt > now) break;
    const r = step(policy, state, s, ctx);
    state = r.state;
    out.push(...r.decisions);
  }
  out.push(...tick(policy, state, ctx, now).decisions);
  return out;
}

export const ids = (ds: readonly Decision[]): string[] => ds.map((d) => d.ruleId);
