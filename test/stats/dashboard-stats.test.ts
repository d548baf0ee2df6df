import type { Insertable } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPeriodFacts } from '../../gateway/accountability/transparency/load.ts';
import { transparencyReport } from '../../gateway/accountability/transparency/report.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { dashboardStats } from '../../gateway/stats/dashboard.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import type { Database } from '../../gateway/store/schema.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The dashboard's figures (GET /api/v1/stats) on a hand-computed fixture, on SQLite and PostgreSQL: the
 * same SQL must give the same exact counts, medians and p95 on both. Every expected number is worked out
 * in the comments; time to cut is checked against the transparency report over the same 24 hours.
 */

const { backends } = await testDatabases('stats');

const H = 3_600_000;
const MIN = 60_000;
// "now": 2026-11-02 10:30 UTC; today (UTC) began 10.5 h earlier; the 24 hourly buckets start at 2026-11-01 11:00.
const NOW = Date.UTC(2026, 10, 2, 10, 30);
const DAY_START = Date.UTC(2026, 10, 2);

function decision(
  id: string,
  o: {
    at: number;
    cut: boolean;
    suspend?: boolean;
    shadow?: boolean;
    review?: 'none' | 'pending' | 'confirmed' | 'overturned';
    reviewedAt?: number;
    urgent?: boolean;
    /** Each cited signal: its observedAt, or its observedAt and the ingestedAt of its media. */
    signalsAt?: Array<number | { observedAt: number; ingestedAt: number }>;
  },
): Insertable<Database['decisions']> {
  const actions = { cut: o.cut, ...(o.suspend ? { suspend: { untilMs: o.at + 30 * 24 * H, durationMs: 30 * 24 * H } } : {}), review: { priority: 'normal' } };
  return {
    id,
    stream_id: `str_${id}`,
    account_id: 'acc_fixture',
    identity_subject: null,
    rule_id: 'tve-known-content',
    policy_version: 'one-strike-live@x',
    shadow: o.shadow ? 1 : 0,
    actions: JSON.stringify(actions),
    reason: 'fixture',
    evidence: JSON.stringify({
      refs: [],
      signals: (o.signalsAt ?? []).map((at, index) => (typeof at === 'number' ? { index, observedAt: at } : { index, ...at })),
    }),
    decided_at: o.at,
    decided_by: 'policy:tve-known-content',
    review_status: o.review ?? 'none',
    review_priority: o.review === 'pending' ? (o.urgent ? 'urgent' : 'normal') : null,
    reviewed_by: o.reviewedAt ? 'token:mo' : null,
    reviewed_at: o.reviewedAt ?? null,
    review_reason: o.reviewedAt ? 'fixture' : null,
  };
}

async function seed(store: Store): Promise<void> {
  const db = store.db;
  const acct = await addAccount(db, { id: 'test' }, { handle: 'fixture', verified: true });
  const stream = (id: string, protocol: 'rtmp' | 'websocket', endedAt: number | null) => ({
    id,
    account_id: acct.id,
    key_id: null,
    protocol,
    remote_addr: null,
    started_at: NOW - H,
    ended_at: endedAt,
    end_reason: endedAt ? 'cut' : null,
    end_detail: null,
    node_id: 'node-a',
    server: null,
  });
  // Live now: two RTMP and one WebSocket stream; a fourth has ended.
  await db
    .insertInto('streams')
    .values([stream('str_l1', 'rtmp', null), stream('str_l2', 'rtmp', null), stream('str_l3', 'websocket', null), stream('str_e1', 'rtmp', NOW - MIN)])
    .execute();
  await db
    .insertInto('decisions')
    .values([
      // Today (>= 00:00 UTC): d1..d4 enforced, d5 shadow.
      // Cut times (first cited signal's media reaching the gateway where recorded, else its observation ->
      // decision): d1 2000 ms (the earlier of two signals: ingested 2000 ms before, observed 1500 ms before),
      // d2 4000, d3 1000 (ingested then; observed only 300 ms before the decision); d4 cites none.
      decision('dec_d1', {
        at: NOW - 1 * H,
        cut: true,
        suspend: true,
        signalsAt: [NOW - 1 * H - 1500, { observedAt: NOW - 1 * H - 1800, ingestedAt: NOW - 1 * H - 2000 }],
        review: 'pending',
        urgent: true,
      }),
      decision('dec_d2', { at: NOW - 2 * H, cut: true, signalsAt: [NOW - 2 * H - 4000], review: 'pending' }),
      decision('dec_d3', {
        at: NOW - 3 * H - 10 * MIN,
        cut: true,
        signalsAt: [{ observedAt: NOW - 3 * H - 10 * MIN - 300, ingestedAt: NOW - 3 * H - 10 * MIN - 1000 }],
        review: 'overturned',
        reviewedAt: NOW - 3 * H,
      }),
      decision('dec_d4', { at: NOW - 4 * MIN, cut: true, review: 'pending' }),
      decision('dec_d5', { at: NOW - 5 * H, cut: true, shadow: true, signalsAt: [NOW - 5 * H - 100] }),
      decision('dec_d6', { at: NOW - 20 * MIN, cut: false, review: 'pending' }),
      // Yesterday but within 24 h: d7 cut in 30 s (counts for time to cut, not for today).
      decision('dec_d7', { at: NOW - 20 * H, cut: true, signalsAt: [NOW - 20 * H - 30_000], review: 'confirmed', reviewedAt: NOW - 19 * H }),
      // Older than 24 h: only in the backlog (pending for 26 h) and the overturn window (reviewed 10 days ago).
      decision('dec_d8', { at: NOW - 26 * H, cut: true, signalsAt: [NOW - 26 * H - 500], review: 'pending' }),
      decision('dec_d9', { at: NOW - 12 * 24 * H, cut: true, review: 'overturned', reviewedAt: NOW - 10 * 24 * H }),
      // Reviewed 40 days ago: outside the 30-day overturn window.
      decision('dec_d10', { at: NOW - 41 * 24 * H, cut: true, review: 'confirmed', reviewedAt: NOW - 40 * 24 * H }),
    ])
    .execute();
  const report = (id: string, streamId: string, source: string, status: 'open' | 'dismissed') => ({
    id,
    stream_id: streamId,
    account_id: acct.id,
    category: 'imminent_harm',
    note: null,
    source_hash: source,
    created_at: NOW - 10 * MIN,
    status,
    handled_at: null,
    handled_by: null,
    action: null,
    handle_reason: null,
  });
  await db
    .insertInto('viewer_reports')
    .values([
      report('rpt_1', 'str_l1', 'a', 'open'),
      report('rpt_2', 'str_l1', 'b', 'open'),
      report('rpt_3', 'str_l2', 'a', 'open'),
      report('rpt_4', 'str_l3', 'c', 'dismissed'),
    ])
    .execute();
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`dashboard statistics on ${backend.name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await openStore(await backend.url());
      await seed(store);
    });
    afterEach(async () => store?.close());

    it('counts live streams, today, the backlog with its ages, time to cut, the overturn rate and decisions per hour exactly', async () => {
      const s = await dashboardStats(store.db, store.dialect, { now: NOW, dayStart: DAY_START });
      expect(s.live).toEqual({ streams: 3, rtmp: 2, websocket: 1 });
      // Today: d1, d2, d3, d4, d6 enforced (d6 does not cut); d1 suspends; d5 shadow.
      expect(s.today).toEqual({ decisions: 5, cuts: 4, suspensions: 1, shadow: 1 });
      // Pending: d1 (1 h, urgent), d2 (2 h), d4 (4 min), d6 (20 min), d8 (26 h). Ages sorted: 4 min, 20 min, 1 h, 2 h, 26 h: median 1 h.
      expect(s.backlog).toEqual({
        pending: 5,
        urgent: 1,
        oldestAt: NOW - 26 * H,
        medianAgeMs: 1 * H,
        byAge: [
          { label: '< 5 min', count: 1 },
          { label: '5–30 min', count: 1 },
          { label: '30 min – 2 h', count: 1 }, // d1 at 1 h; d2 at exactly 2 h falls in the next bucket
          { label: '2–24 h', count: 1 },
          { label: '> 24 h', count: 1 },
        ],
      });
      // Cuts of the last 24 h citing a signal: d3 1000, d1 2000, d2 4000, d7 30000 (d4 cites none, d5 is shadow, d8 is older).
      // Median of four: (2000 + 4000) / 2 = 3000; p95: rank ceil(0.95 * 4) = 4 -> 30000.
      expect(s.timeToCut).toEqual({
        cuts: 4,
        medianMs: 3000,
        p95Ms: 30_000,
        byTime: [
          { label: '< 250 ms', count: 0 },
          { label: '250 ms – 1 s', count: 0 },
          { label: '1–2 s', count: 1 },
          { label: '2–5 s', count: 2 },
          { label: '5–10 s', count: 0 },
          { label: '10–30 s', count: 0 },
          { label: '> 30 s', count: 1 },
        ],
      });
      // Reviewed in 30 days: d3 (overturned), d7 (confirmed), d9 (overturned); d10 is older. 2 of 3.
      expect(s.overturn).toEqual({ reviewed: 3, overturned: 2, rate: 0.6667 });
      // Open reports: rpt_1, rpt_2 on str_l1 and rpt_3 on str_l2.
      expect(s.reports).toEqual({ open: 3, streams: 2 });

      // Buckets: hour i starts at 11:00 on Nov 1 + i h; the last (i = 23) starts at 10:00 on Nov 2 and holds now.
      expect(s.hourly).toHaveLength(24);
      expect(s.hourly[0]!.start).toBe(Date.UTC(2026, 10, 1, 11));
      expect(s.hourly[23]!.start).toBe(Date.UTC(2026, 10, 2, 10));
      const nonEmpty = s.hourly.flatMap((h, i) => (h.cuts || h.other || h.shadow ? [{ i, cuts: h.cuts, other: h.other, shadow: h.shadow }] : []));
      expect(nonEmpty).toEqual([
        { i: 3, cuts: 1, other: 0, shadow: 0 }, // d7 at 14:30 Nov 1
        { i: 18, cuts: 0, other: 0, shadow: 1 }, // d5 at 05:30
        { i: 20, cuts: 1, other: 0, shadow: 0 }, // d3 at 07:20
        { i: 21, cuts: 1, other: 0, shadow: 0 }, // d2 at 08:30
        { i: 22, cuts: 1, other: 0, shadow: 0 }, // d1 at 09:30
        { i: 23, cuts: 1, other: 1, shadow: 0 }, // d4 at 10:26, d6 at 10:10
      ]);
    });

    it('time to cut agrees with the transparency report over the same 24 hours', async () => {
      const s = await dashboardStats(store.db, store.dialect, { now: NOW, dayStart: DAY_START });
      const report = transparencyReport(await loadPeriodFacts(store.db, { from: NOW - 24 * H, to: NOW + 1, asOf: NOW }, null));
      expect({ cuts: s.timeToCut.cuts, medianMs: s.timeToCut.medianMs, p95Ms: s.timeToCut.p95Ms }).toEqual(report.timeToCut);
    });

    it('an empty database gives zeros and nulls, never a failure', async () => {
      const empty = await openStore(await backend.url());
      try {
        const s = await dashboardStats(empty.db, empty.dialect, { now: NOW, dayStart: DAY_START });
        expect(s.live.streams).toBe(0);
        expect(s.backlog).toMatchObject({ pending: 0, oldestAt: null, medianAgeMs: null });
        expect(s.timeToCut).toMatchObject({ cuts: 0, medianMs: null, p95Ms: null });
        expect(s.overturn.rate).toBeNull();
        expect(s.hourly.every((h) => h.cuts + h.other + h.shadow === 0)).toBe(true);
      } finally {
        await empty.close();
      }
    });
  });
}

describe('GET /api/v1/stats', () => {
  let t: TestGateway;
  beforeEach(async () => {
    t = await startTestGateway();
  });
  afterEach(async () => t?.stop());

  it('answers moderators with the typed figures, refuses anonymous callers and a dayStart outside the last 48 h', async () => {
    const res = await t.mod.get<{ live: { streams: number }; hourly: unknown[]; dayStart: string }>('/api/v1/stats');
    expect(res.status).toBe(200);
    expect(res.body.live.streams).toBe(0);
    expect(res.body.hourly).toHaveLength(24);
    const start = new Date(Date.now() - 3 * H).toISOString();
    expect((await t.mod.get<{ dayStart: string }>(`/api/v1/stats?dayStart=${encodeURIComponent(start)}`)).body.dayStart).toBe(start);
    expect((await t.anon.get('/api/v1/stats')).status).toBe(401);
    const old = await t.mod.get<{ error: string; field: string }>(`/api/v1/stats?dayStart=${encodeURIComponent(new Date(Date.now() - 72 * H).toISOString())}`);
    expect(old.status).toBe(400);
    expect(old.body).toMatchObject({ error: 'invalid_request', field: 'query.dayStart' });
  });
});
