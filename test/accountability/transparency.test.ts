import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPeriodFacts } from '../../gateway/accountability/transparency/load.ts';
import { p95, median, transparencyReport } from '../../gateway/accountability/transparency/report.ts';
import type { Database } from '../../gateway/store/schema.ts';
import type { Insertable } from 'kysely';
import { runCli, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The transparency report on a hand-computed fixture: decisions, moderator and order suspensions,
 * appeals, removal orders and viewer reports with known times, inside and outside the period. Every
 * expected number below is worked out by hand in the comments; the API (JSON and CSV) and the CLI give
 * the same report from the same database.
 */

const T = Date.UTC(2026, 10, 1); // period [2026-11-01, 2026-12-01)
const H = 3600_000;
const MIN = 60_000;
const FROM = '2026-11-01T00:00:00Z';
const TO = '2026-12-01T00:00:00Z';
let t: TestGateway;

function decision(
  id: string,
  o: {
    rule: string;
    by?: string;
    at: number;
    cut: boolean;
    suspendUntil?: number | null;
    review?: 'none' | 'pending' | 'confirmed' | 'overturned';
    signalAt?: number;
    shadow?: boolean;
  },
): Insertable<Database['decisions']> {
  const actions = {
    cut: o.cut,
    ...(o.suspendUntil !== undefined ? { suspend: { untilMs: o.suspendUntil, durationMs: o.suspendUntil === null ? null : o.suspendUntil - o.at } } : {}),
    review: { priority: 'normal' },
  };
  return {
    id,
    stream_id: `str_${id}`,
    account_id: 'acc_fixture',
    identity_subject: null,
    rule_id: o.rule,
    policy_version: 'one-strike-live@x',
    shadow: o.shadow ? 1 : 0,
    actions: JSON.stringify(o.cut || o.suspendUntil !== undefined ? actions : { cut: false, review: { priority: 'normal' } }),
    reason: 'fixture',
    evidence: JSON.stringify({ refs: [], signals: o.signalAt === undefined ? [] : [{ index: 0, observedAt: o.signalAt }] }),
    decided_at: o.at,
    decided_by: o.by ?? `policy:${o.rule}`,
    review_status: o.review ?? 'none',
    review_priority: null,
    reviewed_by: null,
    reviewed_at: null,
    review_reason: null,
  };
}

beforeAll(async () => {
  t = await startTestGateway();
  const db = t.gw.store.db;
  await db
    .insertInto('decisions')
    .values([
      decision('dec_d1', {
        rule: 'tve-known-content',
        at: T + 1 * H,
        cut: true,
        suspendUntil: T + 1 * H + 30 * 24 * H,
        review: 'confirmed',
        signalAt: T + 1 * H - 2000,
      }),
      decision('dec_d2', { rule: 'graphic-violence-high', at: T + 2 * H, cut: true, suspendUntil: null, review: 'overturned', signalAt: T + 2 * H - 4000 }),
      decision('dec_d3', { rule: 'manual', by: 'token:mod-1', at: T + 3 * H, cut: true }),
      decision('dec_d4', { rule: 'stall-sampler-30s', at: T + 4 * H, cut: true, review: 'pending', signalAt: T + 4 * H - 1000 }),
      decision('dec_d5', { rule: 'tve-known-content', at: T - 1 * H, cut: true, signalAt: T - 1 * H - 500 }), // before the period
      decision('dec_d6', { rule: 'graphic-violence-medium', at: T + 5 * H, cut: false }), // review only: no restriction
      decision('dec_d7', { rule: 'nsfw-trial', at: T + 5 * H, cut: true, shadow: true }), // shadow: never enforced
    ])
    .execute();
  const body = (category: string) => JSON.stringify({ category });
  const stmt = (id: string, decisionId: string, at: number, category: string) => ({
    id,
    puid: `modgate-${id}`,
    source_kind: 'decision' as const,
    source_id: decisionId,
    account_id: 'acc_fixture',
    decision_id: decisionId,
    decided_at: at,
    body: body(category),
    restriction: JSON.stringify({
      puid: `modgate-${id}`,
      contentAt: at,
      decidedAt: at,
      cut: true,
      suspension: null,
      reason: 'fixture',
      automatedDetection: true,
      automatedDecision: true,
      categories: [],
      facts: [],
      source: { type: 'SOURCE_VOLUNTARY' },
    }),
    plain: '[]',
    status: 'in_force' as const,
    overturned_at: null,
    overturn_reason: null,
    created_at: at,
    delivery: 'pending' as const,
    attempts: 0,
    next_attempt_at: at,
    submitted_at: null,
    last_error: null,
  });
  await db
    .insertInto('statements')
    .values([
      stmt('sor_1', 'dec_d1', T + 1 * H, 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY'),
      stmt('sor_2', 'dec_d2', T + 2 * H, 'STATEMENT_CATEGORY_VIOLENCE'),
    ])
    .execute();
  await db
    .insertInto('accounts')
    .values({
      id: 'acc_fixture',
      handle: 'fixture',
      identity_status: 'verified',
      identity_subject: 'idp:fixture',
      identity_method: 'operator',
      identity_changed_at: T,
      created_at: T,
      age_over: null,
      age_source: null,
      age_checked_at: null,
    })
    .execute();
  const sus = (id: string, by: string, at: number, ends: number | null) => ({
    id,
    account_id: 'acc_fixture',
    identity_subject: null,
    reason: 'x',
    starts_at: at,
    ends_at: ends,
    created_by: by,
    decision_id: null,
    lifted_at: null,
    lifted_by: null,
    lift_reason: null,
  });
  await db
    .insertInto('suspensions')
    .values([
      sus('sus_s1', 'token:mod-1', T + 5 * H, T + 10 * 24 * H),
      sus('sus_s2', 'order:ord_o1', T + 6 * H, null),
      sus('sus_s3', 'token:mod-1', T + 31 * 24 * H, null),
    ])
    .execute();
  const ban = (id: string, kind: 'court_order' | 'platform', at: number, ends: number | null, lifted: number | null) => ({
    id,
    identity_subject: 'idp:fixture-person',
    kind,
    legal_reference: kind === 'court_order' ? 'TJ Paris, n° 26/1' : null,
    authority: null,
    reason: 'x',
    category: null,
    starts_at: at,
    ends_at: ends,
    created_by: 'token:op',
    created_at: at,
    lifted_at: lifted,
    lifted_by: lifted ? 'token:op' : null,
    lift_reason: lifted ? 'x' : null,
  });
  await db
    .insertInto('person_bans')
    .values([
      ban('ban_b1', 'court_order', T + 4 * H, T + 180 * 24 * H, null),
      ban('ban_b2', 'platform', T + 7 * H, null, T + 8 * H),
      ban('ban_b3', 'platform', T - H, null, null), // before the period
    ])
    .execute();
  const appeal = (id: string, dec: string, at: number, status: 'open' | 'upheld' | 'overturned', decided: number | null) => ({
    id,
    target_id: dec,
    account_id: 'acc_fixture',
    statement: 's',
    created_at: at,
    status,
    decided_by: decided ? 'token:mod-2' : null,
    decided_at: decided,
    outcome_reason: null,
  });
  await db
    .insertInto('appeals')
    .values([
      appeal('apl_a1', 'dec_d1', T + H + 10 * MIN, 'overturned', T + H + 70 * MIN),
      appeal('apl_a2', 'dec_d2', T + 2 * H, 'upheld', T + 2 * H + 30 * MIN),
      appeal('apl_a3', 'dec_d3', T + 3 * H, 'open', null),
    ])
    .execute();
  const order = (id: string, ms: string, type: string, at: number, ack: number | null, exec: number | null) => ({
    id,
    authority: `auth-${ms}`,
    member_state: ms,
    reference: id,
    legal_basis: 'x',
    order_type: type,
    target_kind: 'account' as const,
    stream_id: null,
    account_id: 'acc_fixture',
    description: null,
    received_at: at,
    received_by: 'token:a',
    deadline_at: at + H,
    acknowledged_at: ack,
    executed_at: exec,
    executed_by: exec ? 'token:mod' : null,
    actions: exec ? '["cut"]' : null,
    status: exec ? ('executed' as const) : ('open' as const),
    status_reason: null,
    overdue_at: null,
  });
  await db
    .insertInto('removal_orders')
    .values([
      order('ord_o1', 'FR', 'tco_removal', T + 6 * H, T + 6 * H + 5 * MIN, T + 6 * H + 20 * MIN),
      order('ord_o2', 'DE', 'tco_removal', T + 8 * H, T + 8 * H + 10 * MIN, null),
      order('ord_o3', 'FR', 'dsa_art9', T + 9 * H, T + 9 * H + 15 * MIN, T + 9 * H + 90 * MIN),
    ])
    .execute();
  const report = (
    id: string,
    stream: string,
    at: number,
    category: string,
    source: string,
    status: 'open' | 'actioned' | 'dismissed',
    handled: number | null,
  ) => ({
    id,
    stream_id: stream,
    account_id: 'acc_fixture',
    category,
    note: null,
    source_hash: source,
    created_at: at,
    status,
    handled_at: handled,
    handled_by: handled ? 'token:mod' : null,
    action: status === 'actioned' ? 'cut' : status === 'dismissed' ? 'none' : null,
    handle_reason: null,
  });
  await db
    .insertInto('viewer_reports')
    .values([
      report('rpt_r1', 'str_s1', T + 10 * H, 'imminent_harm', 'h1', 'actioned', T + 10 * H + 4 * MIN),
      report('rpt_r2', 'str_s1', T + 10 * H + MIN, 'violence', 'h2', 'actioned', T + 10 * H + 4 * MIN),
      report('rpt_r3', 'str_dec_d3', T + 3 * H - MIN, 'terrorism', 'h3', 'open', null), // d3 cut that stream a minute later
      report('rpt_r4', 'str_s3', T + 12 * H, 'other', 'h4', 'dismissed', T + 12 * H + MIN),
    ])
    .execute();
  // The gateway makes the statements the fixture lacks (d3, d4: no declared ground, so "other violation of the terms").
  await t.gw.accountability.syncNow();
});
afterAll(async () => t?.stop());

/** Worked out by hand from the fixture above (asOf = T + 30 days). */
const EXPECTED = {
  // d1–d4 are the period's restricting decisions (d5 is before it, d6 only reviews, d7 is shadow), plus s1.
  ownInitiative: {
    decisions: 5,
    // cut: d1 d2 d3 d4; suspended: d1 (30 d) + s1 (10 d); terminated: d2 (permanent). s2 is an order's.
    byRestriction: { content_removed: 4, account_suspended: 2, account_terminated: 1 },
    byDetectionSource: { bank_match: 1, classifier: 1, stall: 1, moderator: 2 },
    // d1 and d2 as the fixture's statements say; d3 and d4 as the gateway made theirs.
    byCategory: { STATEMENT_CATEGORY_OTHER_VIOLATION_TC: 2, STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY: 1, STATEMENT_CATEGORY_VIOLENCE: 1 },
  },
  // d1 d2 d4 by the policy, d3 by a moderator: 3 of 4.
  automation: { decisions: 4, automatedDetection: 3, automatedDetectionShare: 0.75, fullyAutomatedDecisions: 3, fullyAutomatedShare: 0.75 },
  // d1 confirmed, d2 overturned.
  accuracy: { reviewed: 2, confirmed: 1, overturned: 1, overturnRate: 0.5 },
  // a1 60 min, a2 30 min: median 45 min.
  appeals: { received: 3, open: 1, upheld: 1, overturned: 1, medianMsToDecide: 45 * MIN },
  // d1 (policy, temporary), d2 (policy, permanent), s1 (moderator, temporary), s2 (order, permanent); s3 is after the period.
  suspensions: { total: 4, temporary: 2, permanent: 2, byOrigin: { policy: 2, moderator: 1, removal_order: 1 } },
  // b1 (court order, 180 days) and b2 (platform, permanent, lifted); b3 started before the period.
  personBans: { total: 2, courtOrdered: 1, platform: 1, temporary: 1, permanent: 1, lifted: 1 },
  // acknowledged after 5, 10, 15 min (median 10); executed after 20 and 90 min (median 55); o2 open past its deadline, o3 late.
  removalOrders: {
    received: 3,
    byMemberState: { DE: 1, FR: 2 },
    byType: { dsa_art9: 1, tco_removal: 2 },
    executed: 2,
    rejected: 0,
    open: 1,
    executedWithinDeadline: 1,
    overdue: 2,
    medianMsToAcknowledge: 10 * MIN,
    medianMsToExecute: 55 * MIN,
  },
  // r1 4 min, r2 3 min (handled), r3 1 min (the cut after it), r4 dismissed: median 3 min.
  viewerReports: {
    received: 4,
    streamsReported: 3,
    byCategory: { imminent_harm: 1, other: 1, terrorism: 1, violence: 1 },
    actioned: 3,
    dismissed: 1,
    medianMsToAction: 3 * MIN,
    decisionsOnReports: 0,
    decisionsOnReportsByRestriction: { content_removed: 0, account_suspended: 0, account_terminated: 0 },
  },
  // d1 2 s, d2 4 s, d4 1 s from first signal to decision (d3 cites none): median 2 s; p95 = 3rd of 3 = 4 s.
  timeToCut: { cuts: 3, medianMs: 2000, p95Ms: 4000 },
};

describe('transparency report', () => {
  it('median and p95 follow the stated conventions', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(p95(Array.from({ length: 20 }, (_, i) => i + 1))).toBe(19);
    expect(p95(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(95);
  });

  it('gives the hand-computed counts and medians for the fixture period', async () => {
    const facts = await loadPeriodFacts(t.gw.store.db, { from: Date.parse(FROM), to: Date.parse(TO), asOf: T + 30 * 24 * H }, t.gw.policies.current().policy);
    const report = transparencyReport(facts);
    const { period, ...numbers } = report;
    expect(period).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', asOf: '2026-12-01T00:00:00.000Z' });
    expect(numbers).toEqual(EXPECTED);
  });

  it('the API gives it as JSON and CSV, and `modgate report transparency --format csv` gives the same CSV', async () => {
    const json = await t.api.get<Record<string, unknown>>(`/api/v1/transparency?from=${FROM}&to=${TO}`);
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    // asOf is now, not T + 30 d: only the orders' overdue count could differ, and o2 is overdue either way.
    const { period: _p, ...numbers } = json.body;
    expect(numbers).toEqual(EXPECTED);
    const csv = await t.api.get<string>(`/api/v1/transparency?from=${FROM}&to=${TO}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.body).toContain('section,metric,value\n');
    expect(csv.body).toContain('timeToCut,p95Ms,4000\n');
    expect(csv.body).toContain('removalOrders,byMemberState.FR,2\n');
    expect(csv.body).toContain('appeals,medianMsToDecide,2700000\n');
    expect(csv.body).toContain('personBans,courtOrdered,1\n');
    expect((await t.mod.get(`/api/v1/transparency?from=${FROM}&to=${TO}`)).status).toBe(403);
    expect((await t.api.get(`/api/v1/transparency?from=${TO}&to=${FROM}`)).status).toBe(400);

    const cli = await runCli(['report', 'transparency', '--from', FROM, '--to', TO, '--format', 'csv', '--data-dir', t.dataDir]);
    expect(cli.code, cli.stderr).toBe(0);
    const withoutAsOf = (s: string) =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('period,asOf,'))
        .join('\n');
    expect(withoutAsOf(cli.stdout)).toBe(withoutAsOf(csv.body));
  });
});
