import { z } from 'zod';

/**
 * The response of GET /api/v1/stats. Its own module with no imports but zod, so the console's type
 * checker reads the same schema (console/src/api/types.ts) without the gateway's server types.
 */
const IsoTime = z.string().describe('ISO 8601 time');
const Bucket = z.object({ label: z.string(), count: z.number().int() });
const Ms = z.number().nullable().describe('Milliseconds; null when there is nothing to measure');

export const StatsView = z
  .object({
    asOf: IsoTime,
    dayStart: IsoTime.describe('Start of "today" (the dayStart asked for, or UTC midnight)'),
    live: z.object({ streams: z.number().int(), rtmp: z.number().int(), websocket: z.number().int() }).describe('Live streams now, on every node'),
    today: z
      .object({
        decisions: z.number().int().describe('Enforced decisions since dayStart'),
        cuts: z.number().int(),
        suspensions: z.number().int(),
        shadow: z.number().int().describe('Shadow decisions (not enforced)'),
      })
      .describe('Since dayStart'),
    backlog: z.object({
      pending: z.number().int(),
      urgent: z.number().int(),
      oldestAt: IsoTime.nullable(),
      oldestAgeMs: Ms,
      medianAgeMs: Ms,
      byAge: z.array(Bucket),
    }),
    timeToCut: z
      .object({ cuts: z.number().int(), medianMs: Ms, p95Ms: Ms, byTime: z.array(Bucket) })
      .describe('Enforced cuts of the last 24 h: first cited signal to decision (as in the transparency report)'),
    overturn: z
      .object({ reviewed: z.number().int(), overturned: z.number().int(), rate: z.number().nullable() })
      .describe('Decisions reviewed in the last 30 days, and the share overturned'),
    reports: z.object({ open: z.number().int(), streams: z.number().int() }).describe('Open viewer reports, and the streams they name'),
    hourly: z
      .array(z.object({ start: IsoTime, cuts: z.number().int(), other: z.number().int(), shadow: z.number().int() }))
      .describe('Decisions per hour, the 24 hours up to now (oldest first): cuts, other enforced decisions, shadow'),
  })
  .meta({ id: 'DashboardStats' });
