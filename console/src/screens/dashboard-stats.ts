import type { Decision } from '../api/types.ts';

/**
 * Dashboard figures computed from the list endpoints (phase 1: there is no stats endpoint). Each list is
 * capped at 500 rows; `capped` says when a figure may be an undercount, and the screen says so.
 */
export const LIST_CAP = 500;

export interface HourBucket {
  label: string;
  cuts: number;
  reviewOnly: number;
  shadow: number;
}

export function hourly(decisions: readonly Decision[], now: number, hours = 24): HourBucket[] {
  const end = Math.ceil(now / 3_600_000) * 3_600_000;
  const buckets: HourBucket[] = [];
  for (let i = hours - 1; i >= 0; i--) {
    const start = end - (i + 1) * 3_600_000;
    buckets.push({ label: `${String(new Date(start).getHours()).padStart(2, '0')}:00`, cuts: 0, reviewOnly: 0, shadow: 0 });
  }
  for (const d of decisions) {
    const t = Date.parse(d.decidedAt);
    const idx = hours - 1 - Math.floor((end - 1 - t) / 3_600_000);
    const b = buckets[idx];
    if (!b || t > now) continue;
    if (d.shadow) b.shadow++;
    else if (d.actions.cut) b.cuts++;
    else b.reviewOnly++;
  }
  return buckets;
}

export function startOfToday(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function today(decisions: readonly Decision[], now: number): { decisions: number; cuts: number } {
  const since = startOfToday(now);
  const mine = decisions.filter((d) => !d.shadow && Date.parse(d.decidedAt) >= since);
  return { decisions: mine.length, cuts: mine.filter((d) => d.actions.cut).length };
}

export const AGE_BUCKETS: Array<[string, number]> = [
  ['< 5 min', 5 * 60_000],
  ['5–30 min', 30 * 60_000],
  ['30 min – 2 h', 2 * 3_600_000],
  ['2–24 h', 24 * 3_600_000],
  ['> 24 h', Infinity],
];

export function backlogAges(pending: readonly Decision[], now: number): Array<{ label: string; value: number }> {
  const rows = AGE_BUCKETS.map(([label]) => ({ label, value: 0 }));
  for (const d of pending) {
    const age = now - Date.parse(d.decidedAt);
    const i = AGE_BUCKETS.findIndex(([, max]) => age < max);
    rows[i]!.value++;
  }
  return rows;
}

/** Overturned share of the decisions reviewed in the window (by review time). */
export function overturnRate(
  confirmed: readonly Decision[],
  overturned: readonly Decision[],
  now: number,
  windowMs = 30 * 86_400_000,
): { rate: number | null; reviewed: number; overturned: number } {
  const inWindow = (d: Decision) => d.review.at !== null && now - Date.parse(d.review.at) <= windowMs;
  const o = overturned.filter(inWindow).length;
  const n = o + confirmed.filter(inWindow).length;
  return { rate: n === 0 ? null : o / n, reviewed: n, overturned: o };
}
