import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database, Dialect } from '../store/schema.ts';

/**
 * The console dashboard's figures (GET /api/v1/stats), each computed in the database so the numbers are
 * exact however many decisions there are (the console used to count from capped list pages). The SQL is
 * shared by SQLite and PostgreSQL; the only dialect-specific parts are the two JSON reads below
 * (`actions.cut`, the first signal a decision cites). Medians and p95 follow the transparency report's
 * conventions (gateway/accountability/transparency/report.ts): the median of an even count is the mean
 * of the two middle values, p95 is the nearest rank, and time to cut runs from the first cited signal to
 * the decision, so the dashboard and the report agree on the same window.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** The overturn rate's window: reviews of the last 30 days. */
export const OVERTURN_WINDOW_MS = 30 * DAY_MS;

/** Backlog age buckets (upper bounds, ms; null: no bound). */
export const BACKLOG_AGES: ReadonlyArray<{ label: string; maxMs: number | null }> = [
  { label: '< 5 min', maxMs: 5 * 60_000 },
  { label: '5–30 min', maxMs: 30 * 60_000 },
  { label: '30 min – 2 h', maxMs: 2 * HOUR_MS },
  { label: '2–24 h', maxMs: DAY_MS },
  { label: '> 24 h', maxMs: null },
];

/** Time-to-cut histogram buckets (upper bounds, ms). */
export const CUT_TIMES: ReadonlyArray<{ label: string; maxMs: number | null }> = [
  { label: '< 250 ms', maxMs: 250 },
  { label: '250 ms – 1 s', maxMs: 1_000 },
  { label: '1–2 s', maxMs: 2_000 },
  { label: '2–5 s', maxMs: 5_000 },
  { label: '5–10 s', maxMs: 10_000 },
  { label: '10–30 s', maxMs: 30_000 },
  { label: '> 30 s', maxMs: null },
];

export interface HourStats {
  start: number;
  /** Enforced (not shadow) decisions that cut the feed. */
  cuts: number;
  /** Enforced decisions that did not cut (review, strike, suspension only). */
  other: number;
  /** Shadow decisions (what a shadow rule would have done). */
  shadow: number;
}

export interface DashboardStats {
  asOf: number;
  dayStart: number;
  live: { streams: number; rtmp: number; websocket: number };
  today: { decisions: number; cuts: number; suspensions: number; shadow: number };
  backlog: { pending: number; urgent: number; oldestAt: number | null; medianAgeMs: number | null; byAge: Array<{ label: string; count: number }> };
  timeToCut: { cuts: number; medianMs: number | null; p95Ms: number | null; byTime: Array<{ label: string; count: number }> };
  overturn: { reviewed: number; overturned: number; rate: number | null };
  reports: { open: number; streams: number };
  hourly: HourStats[];
}

/** `actions.cut` is true (1 in SQLite's JSON functions). */
function isCut(dialect: Dialect): RawBuilder<unknown> {
  return dialect === 'postgres' ? sql`((d.actions::jsonb ->> 'cut') = 'true')` : sql`(json_extract(d.actions, '$.cut') = 1)`;
}

/** `actions.suspend` is present. */
function isSuspension(dialect: Dialect): RawBuilder<unknown> {
  return dialect === 'postgres' ? sql`((d.actions::jsonb -> 'suspend') is not null)` : sql`(json_extract(d.actions, '$.suspend') is not null)`;
}

/**
 * Milliseconds from the first signal the decision's evidence cites to the decision (null: no signal cited):
 * from its media's arrival at the gateway where the ingest knew it (ingestedAt), else its observation.
 */
function msToCut(dialect: Dialect): RawBuilder<unknown> {
  return dialect === 'postgres'
    ? sql`(d.decided_at - (select min(coalesce((s ->> 'ingestedAt')::double precision, (s ->> 'observedAt')::double precision)) from jsonb_array_elements(case when jsonb_typeof(d.evidence::jsonb -> 'signals') = 'array' then d.evidence::jsonb -> 'signals' else '[]'::jsonb end) s))`
    : sql`(d.decided_at - (select min(coalesce(json_extract(s.value, '$.ingestedAt'), json_extract(s.value, '$.observedAt'))) from json_each(d.evidence, '$.signals') s))`;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Median and nearest-rank p95 of `values` (a subquery with one column `v`), read with window functions
 * (SQLite ≥ 3.25 and PostgreSQL both have them): only the two middle rows and the p95 row come back.
 */
async function percentiles(db: Kysely<Database>, values: RawBuilder<unknown>): Promise<{ n: number; median: number | null; p95: number | null }> {
  const rows = await sql<{ v: unknown; rn: unknown; n: unknown }>`
    with t as (${values}),
    r as (select v, row_number() over (order by v) as rn, count(*) over () as n from t where v is not null)
    select v, rn, n from r where rn = (n + 1) / 2 or rn = n / 2 + 1 or rn = (95 * n + 99) / 100`.execute(db);
  if (rows.rows.length === 0) return { n: 0, median: null, p95: null };
  const n = num(rows.rows[0]!.n);
  const at = (rank: number) => num(rows.rows.find((r) => num(r.rn) === rank)?.v);
  const median = n % 2 ? at((n + 1) / 2) : (at(n / 2) + at(n / 2 + 1)) / 2;
  return { n, median, p95: at(Math.ceil((95 * n) / 100)) };
}

/** Counts of `ms` (a SQL expression) in each bucket, as `sum(case …)` columns b0, b1, … */
function bucketColumns(ms: RawBuilder<unknown>, buckets: ReadonlyArray<{ maxMs: number | null }>): RawBuilder<unknown> {
  const cols = buckets.map((b, i) => {
    const lower = i === 0 ? null : buckets[i - 1]!.maxMs;
    const conds = [lower === null ? null : sql`${ms} >= ${lower}`, b.maxMs === null ? null : sql`${ms} < ${b.maxMs}`].filter((c) => c !== null);
    const cond = conds.length ? sql.join(conds, sql` and `) : sql`1 = 1`;
    return sql`coalesce(sum(case when ${cond} then 1 else 0 end), 0) as ${sql.ref(`b${i}`)}`;
  });
  return sql.join(cols);
}

export async function dashboardStats(db: Kysely<Database>, dialect: Dialect, opts: { now: number; dayStart: number }): Promise<DashboardStats> {
  const { now, dayStart } = opts;
  const since24 = now - DAY_MS;
  // 24 whole-hour buckets, the last one holding `now`.
  const firstHour = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const cut = isCut(dialect);
  const suspension = isSuspension(dialect);
  const age = sql`(${now} - d.decided_at)`;
  const toCut = msToCut(dialect);

  const [live, today, backlog, backlogAge, cutTimes, cutBuckets, overturn, reports, hours] = await Promise.all([
    sql<{ n: unknown; rtmp: unknown; websocket: unknown }>`
      select count(*) as n,
        coalesce(sum(case when protocol = 'rtmp' then 1 else 0 end), 0) as rtmp,
        coalesce(sum(case when protocol = 'websocket' then 1 else 0 end), 0) as websocket
      from streams where ended_at is null`.execute(db),
    sql<{ decisions: unknown; cuts: unknown; suspensions: unknown; shadow: unknown }>`
      select coalesce(sum(case when d.shadow = 0 then 1 else 0 end), 0) as decisions,
        coalesce(sum(case when d.shadow = 0 and ${cut} then 1 else 0 end), 0) as cuts,
        coalesce(sum(case when d.shadow = 0 and ${suspension} then 1 else 0 end), 0) as suspensions,
        coalesce(sum(case when d.shadow <> 0 then 1 else 0 end), 0) as shadow
      from decisions d where d.decided_at >= ${dayStart} and d.decided_at <= ${now}`.execute(db),
    sql<Record<string, unknown>>`
      select count(*) as n, min(d.decided_at) as oldest,
        coalesce(sum(case when d.review_priority = 'urgent' then 1 else 0 end), 0) as urgent,
        ${bucketColumns(age, BACKLOG_AGES)}
      from decisions d where d.review_status = 'pending'`.execute(db),
    percentiles(db, sql`select ${age} as v from decisions d where d.review_status = 'pending'`),
    percentiles(db, sql`select ${toCut} as v from decisions d where d.shadow = 0 and ${cut} and d.decided_at >= ${since24} and d.decided_at <= ${now}`),
    sql<Record<string, unknown>>`
      select ${bucketColumns(sql`t.v`, CUT_TIMES)}
      from (select ${toCut} as v from decisions d where d.shadow = 0 and ${cut} and d.decided_at >= ${since24} and d.decided_at <= ${now}) t
      where t.v is not null`.execute(db),
    sql<{ reviewed: unknown; overturned: unknown }>`
      select count(*) as reviewed, coalesce(sum(case when d.review_status = 'overturned' then 1 else 0 end), 0) as overturned
      from decisions d where d.review_status in ('confirmed', 'overturned') and d.reviewed_at >= ${now - OVERTURN_WINDOW_MS} and d.reviewed_at <= ${now}`.execute(
      db,
    ),
    sql<{ open: unknown; streams: unknown }>`select count(*) as open, count(distinct stream_id) as streams from viewer_reports where status = 'open'`.execute(
      db,
    ),
    sql<{ h: unknown; cuts: unknown; other: unknown; shadow: unknown }>`
      select cast((d.decided_at - ${firstHour}) / ${HOUR_MS} as integer) as h,
        coalesce(sum(case when d.shadow = 0 and ${cut} then 1 else 0 end), 0) as cuts,
        coalesce(sum(case when d.shadow = 0 and not ${cut} then 1 else 0 end), 0) as other,
        coalesce(sum(case when d.shadow <> 0 then 1 else 0 end), 0) as shadow
      from decisions d where d.decided_at >= ${firstHour} and d.decided_at <= ${now}
      group by 1`.execute(db),
  ]);

  const l = live.rows[0]!;
  const t = today.rows[0]!;
  const b = backlog.rows[0]!;
  const c = cutBuckets.rows[0] ?? {};
  const o = overturn.rows[0]!;
  const r = reports.rows[0]!;
  const byHour = new Map(hours.rows.map((h) => [num(h.h), h]));
  const reviewed = num(o.reviewed);
  const overturned = num(o.overturned);
  return {
    asOf: now,
    dayStart,
    live: { streams: num(l.n), rtmp: num(l.rtmp), websocket: num(l.websocket) },
    today: { decisions: num(t.decisions), cuts: num(t.cuts), suspensions: num(t.suspensions), shadow: num(t.shadow) },
    backlog: {
      pending: num(b.n),
      urgent: num(b.urgent),
      oldestAt: numOrNull(b.oldest),
      medianAgeMs: backlogAge.median,
      byAge: BACKLOG_AGES.map((a, i) => ({ label: a.label, count: num(b[`b${i}`]) })),
    },
    timeToCut: {
      cuts: cutTimes.n,
      medianMs: cutTimes.median,
      p95Ms: cutTimes.p95,
      byTime: CUT_TIMES.map((a, i) => ({ label: a.label, count: num(c[`b${i}`]) })),
    },
    overturn: { reviewed, overturned, rate: reviewed === 0 ? null : Math.round((overturned / reviewed) * 10_000) / 10_000 },
    reports: { open: num(r.open), streams: num(r.streams) },
    hourly: Array.from({ length: 24 }, (_, i) => {
      const h = byHour.get(i);
      return { start: firstHour + i * HOUR_MS, cuts: num(h?.cuts), other: num(h?.other), shadow: num(h?.shadow) };
    }),
  };
}
