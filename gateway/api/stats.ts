import { z } from 'zod';
import { dashboardStats, DAY_MS } from '../stats/dashboard.ts';
import type { ApiContext } from './context.ts';
import { HttpError, json, type ApiApp } from './route.ts';
import { iso, isoOrNull } from './schemas.ts';
import { StatsView } from '../stats/view.ts';

/** GET /api/v1/stats: the console dashboard's figures, computed in the database (gateway/stats/dashboard.ts). */
export function statsRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/api/v1/stats',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Dashboard figures: live streams, decisions and cuts today, review backlog and its age, time to cut (24 h), overturn rate, decisions per hour',
      tags: ['stats'],
      querystring: z
        .object({
          dayStart: z
            .string()
            .refine((v) => !Number.isNaN(Date.parse(v)), 'an ISO 8601 time')
            .optional()
            .describe("Start of 'today' in the viewer's time zone (within the last 48 h); default: UTC midnight"),
        })
        .strict(),
      response: { 200: json(StatsView, 'The figures, as of now') },
    },
    handler: async (req) => {
      const now = Date.now();
      let dayStart = Math.floor(now / DAY_MS) * DAY_MS;
      if (req.query.dayStart !== undefined) {
        dayStart = Date.parse(req.query.dayStart);
        if (dayStart > now || now - dayStart > 2 * DAY_MS)
          throw new HttpError(400, 'invalid_request', 'query.dayStart: must be within the last 48 hours', 'query.dayStart');
      }
      const s = await dashboardStats(ctx.store.db, ctx.store.dialect, { now, dayStart });
      return {
        asOf: iso(s.asOf),
        dayStart: iso(s.dayStart),
        live: s.live,
        today: s.today,
        backlog: { ...s.backlog, oldestAt: isoOrNull(s.backlog.oldestAt), oldestAgeMs: s.backlog.oldestAt === null ? null : now - s.backlog.oldestAt },
        timeToCut: s.timeToCut,
        overturn: s.overturn,
        reports: s.reports,
        hourly: s.hourly.map((h) => ({ ...h, start: iso(h.start) })),
      };
    },
  });
}
