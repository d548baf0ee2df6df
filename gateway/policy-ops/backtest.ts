import type { Kysely } from 'kysely';
import { SignalSchema, type Signal } from '../../classifiers/signal.ts';
import { backtest, type BacktestReport, type BacktestStream, type RecordedDecisionInput } from '../../policy/backtest.ts';
import type { Actions } from '../../policy/engine.ts';
import type { AccountHistory } from '../../policy/history.ts';
import { formatPolicyError, loadPolicy, type PolicyError, type PolicyFormat } from '../../policy/load.ts';
import type { Policy } from '../../policy/schema.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import { historyAsOf } from '../enforcement/decisions.ts';
import type { Database } from '../store/schema.ts';
import { DEFAULT_BACKTEST_LIMITS, type BacktestLimits } from './backtest-limits.ts';

export { DEFAULT_BACKTEST_LIMITS, parseTime, type BacktestLimits } from './backtest-limits.ts';

/**
 * Policy backtest against the database: load the stored signals of a time range (with each account's
 * history as of its stream's start and the decisions actually recorded), replay them under a baseline
 * and a candidate policy (policy/backtest.ts), and report the difference. Shared by the API
 * (`POST /api/v1/policy/backtest`, gateway/api/policy.ts) and the CLI (`modgate policy backtest`).
 */

/** A backtest request the caller cannot have: bad range, too much data, invalid candidate. */
export class BacktestRequestError extends Error {
  constructor(
    readonly code: 'invalid_range' | 'too_large' | 'invalid_policy',
    message: string,
    readonly field?: string,
    readonly errors?: PolicyError[],
  ) {
    super(message);
  }
}

export function checkRange(since: number, until: number, limits: BacktestLimits = DEFAULT_BACKTEST_LIMITS): void {
  if (until <= since) throw new BacktestRequestError('invalid_range', 'until must be after since', 'until');
  if (until - since > limits.maxRangeMs) {
    const days = (limits.maxRangeMs / 86_400_000).toFixed(limits.maxRangeMs % 86_400_000 === 0 ? 0 : 1);
    throw new BacktestRequestError(
      'invalid_range',
      `the range is ${((until - since) / 86_400_000).toFixed(1)} days; at most ${days} days can be backtested at once`,
      'until',
    );
  }
}

/** Parses a candidate policy, or throws with every error and its key path. */
export function parseCandidate(text: string, format?: PolicyFormat): Policy {
  const r = loadPolicy(text, format);
  if (r.ok) return r.policy;
  throw new BacktestRequestError('invalid_policy', `invalid policy:\n${r.errors.map((e) => `  ${formatPolicyError(e)}`).join('\n')}`, 'text', r.errors);
}

/** The baseline: a stored version, or the active policy. */
export async function baselinePolicy(policies: PolicyStore, versionId?: number): Promise<{ policy: Policy; versionId: number }> {
  if (versionId === undefined) {
    const a = policies.current();
    return { policy: a.policy, versionId: a.versionId };
  }
  const v = await policies.version(versionId);
  const r = loadPolicy(v.text, v.format);
  // Stored versions were validated when submitted; one that no longer loads is a server-side problem.
  if (!r.ok) throw new Error(`stored policy version ${versionId} no longer loads: ${r.errors.map(formatPolicyError).join('; ')}`);
  return { policy: r.policy, versionId };
}

export interface StoredBacktestInput {
  baseline: Policy;
  candidate: Policy;
  since: number;
  until: number;
  maxExamples?: number;
  limits?: BacktestLimits;
  /** The gateway's policy.storeSignalsFloor, so the report can warn about rules matching below it. */
  storedSignalsFloor?: number;
}

const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Loads the streams with a stored signal in [since, until) and backtests them. */
export async function runStoredBacktest(db: Kysely<Database>, input: StoredBacktestInput): Promise<BacktestReport> {
  const limits = input.limits ?? DEFAULT_BACKTEST_LIMITS;
  const { since, until } = input;
  checkRange(since, until, limits);
  const { streams, unreadable } = await loadStreams(db, since, until, limits);
  const report = backtest(input.baseline, input.candidate, streams, {
    since,
    until,
    maxExamples: input.maxExamples,
    storedSignalsFloor: input.storedSignalsFloor,
  });
  if (unreadable > 0) report.notes.push(`${unreadable} stored signal(s) could not be read as signals and were skipped.`);
  return report;
}

async function loadStreams(
  db: Kysely<Database>,
  since: number,
  until: number,
  limits: BacktestLimits,
): Promise<{ streams: BacktestStream[]; unreadable: number }> {
  const idRows = await db
    .selectFrom('signals')
    .select('stream_id')
    .distinct()
    .where('observed_at', '>=', since)
    .where('observed_at', '<', until)
    .orderBy('stream_id')
    .limit(limits.maxStreams + 1)
    .execute();
  if (idRows.length > limits.maxStreams) {
    throw new BacktestRequestError('too_large', `more than ${limits.maxStreams} streams have stored signals in the range; backtest a shorter range`, 'since');
  }
  const ids = idRows.map((r) => r.stream_id);
  if (ids.length === 0) return { streams: [], unreadable: 0 };

  // Count before reading bodies: all signals of these streams up to `until` (earlier ones feed smoothing).
  let total = 0;
  for (const part of chunks(ids)) {
    const row = await db
      .selectFrom('signals')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('stream_id', 'in', part)
      .where('observed_at', '<', until)
      .executeTakeFirstOrThrow();
    total += Number(row.n);
  }
  if (total > limits.maxSignals) {
    throw new BacktestRequestError(
      'too_large',
      `the range holds ${total} stored signals; at most ${limits.maxSignals} can be replayed at once: backtest a shorter range`,
      'since',
    );
  }

  const signals = new Map<string, Signal[]>();
  const accountOfStream = new Map<string, string>();
  const firstSeen = new Map<string, number>();
  let unreadable = 0;
  for (const part of chunks(ids)) {
    const rows = await db
      .selectFrom('signals')
      .select(['stream_id', 'account_id', 'observed_at', 'body'])
      .where('stream_id', 'in', part)
      .where('observed_at', '<', until)
      .orderBy('stream_id')
      .orderBy('observed_at')
      .orderBy('id')
      .execute();
    for (const r of rows) {
      if (!accountOfStream.has(r.stream_id)) accountOfStream.set(r.stream_id, r.account_id);
      if (!firstSeen.has(r.stream_id)) firstSeen.set(r.stream_id, Number(r.observed_at));
      const parsed = readSignal(r.body);
      if (parsed === null || parsed.streamId !== r.stream_id) {
        unreadable++;
        continue;
      }
      const list = signals.get(r.stream_id) ?? [];
      list.push(parsed);
      signals.set(r.stream_id, list);
    }
  }

  const streamRows = new Map<string, { account_id: string; started_at: number }>();
  const recorded = new Map<string, RecordedDecisionInput[]>();
  for (const part of chunks(ids)) {
    for (const s of await db.selectFrom('streams').select(['id', 'account_id', 'started_at']).where('id', 'in', part).execute()) {
      streamRows.set(s.id, { account_id: s.account_id, started_at: Number(s.started_at) });
    }
    const decisions = await db
      .selectFrom('decisions')
      .select(['id', 'stream_id', 'rule_id', 'shadow', 'actions', 'decided_at', 'policy_version'])
      .where('stream_id', 'in', part)
      .where('decided_by', 'like', 'policy:%')
      .orderBy('decided_at')
      .orderBy('id')
      .execute();
    for (const d of decisions) {
      const list = recorded.get(d.stream_id) ?? [];
      list.push({
        id: d.id,
        ruleId: d.rule_id,
        shadow: d.shadow === 1,
        actions: JSON.parse(d.actions) as Actions,
        decidedAt: Number(d.decided_at),
        policyVersion: d.policy_version,
      });
      recorded.set(d.stream_id, list);
    }
  }

  const accountIds = [...new Set(ids.map((id) => streamRows.get(id)?.account_id ?? accountOfStream.get(id) ?? ''))].filter((a) => a !== '');
  const subjects = new Map<string, string | null>();
  for (const part of chunks(accountIds)) {
    for (const a of await db.selectFrom('accounts').select(['id', 'identity_subject']).where('id', 'in', part).execute())
      subjects.set(a.id, a.identity_subject);
  }
  const people = [...new Set([...subjects.values()].filter((s): s is string => s !== null))];
  const histories = await loadHistories(db, accountIds, people);

  const streams = ids.map((id) => {
    const row = streamRows.get(id);
    const accountId = row?.account_id ?? accountOfStream.get(id) ?? '';
    const personId = subjects.get(accountId) ?? null;
    const startedAt = row?.started_at ?? firstSeen.get(id) ?? since;
    return {
      streamId: id,
      accountId,
      personId,
      startedAt,
      history: histories.asOf(accountId, personId, startedAt),
      signals: signals.get(id) ?? [],
      recorded: recorded.get(id) ?? [],
    };
  });
  return { streams, unreadable };
}

function readSignal(body: string): Signal | null {
  try {
    const r = SignalSchema.safeParse(JSON.parse(body));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** Every strike and suspension of the accounts and people, cut down per stream to what was known at its start. */
async function loadHistories(db: Kysely<Database>, accountIds: string[], people: string[]) {
  const strikes = new Map<string, Awaited<ReturnType<typeof strikeQuery>>[number]>();
  const suspensions = new Map<string, Awaited<ReturnType<typeof suspensionQuery>>[number]>();
  function strikeQuery(col: 'account_id' | 'identity_subject', values: string[]) {
    return db.selectFrom('strikes').selectAll().where(col, 'in', values).execute();
  }
  function suspensionQuery(col: 'account_id' | 'identity_subject', values: string[]) {
    return db.selectFrom('suspensions').selectAll().where(col, 'in', values).execute();
  }
  for (const [col, values] of [
    ['account_id', accountIds],
    ['identity_subject', people],
  ] as const) {
    for (const part of chunks(values)) {
      for (const s of await strikeQuery(col, part)) strikes.set(s.id, s);
      for (const s of await suspensionQuery(col, part)) suspensions.set(s.id, s);
    }
  }
  const strikeList = [...strikes.values()].sort((a, b) => Number(a.at) - Number(b.at) || (a.id < b.id ? -1 : 1));
  const suspensionList = [...suspensions.values()].sort((a, b) => Number(a.starts_at) - Number(b.starts_at) || (a.id < b.id ? -1 : 1));
  const mine = (r: { account_id: string; identity_subject: string | null }, accountId: string, personId: string | null) =>
    r.account_id === accountId || (personId !== null && r.identity_subject === personId);
  return {
    asOf(accountId: string, personId: string | null, at: number): AccountHistory {
      return historyAsOf(
        strikeList.filter((s) => mine(s, accountId, personId)),
        suspensionList.filter((s) => mine(s, accountId, personId)),
        at,
      );
    },
  };
}

/** The response body: the report, with the baseline's version id and the range as ISO text. */
export function backtestResponse(report: BacktestReport, baselineVersionId: number) {
  return {
    ...report,
    baseline: { versionId: baselineVersionId, ...report.baseline },
    since: new Date(report.range.since ?? 0).toISOString(),
    until: new Date(report.range.until ?? 0).toISOString(),
  };
}
