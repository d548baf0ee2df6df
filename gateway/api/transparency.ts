import { z } from 'zod';
import { buildTransparencyReport } from '../accountability/transparency/load.ts';
import { toCsv } from '../accountability/transparency/report.ts';
import type { ApiContext } from './context.ts';
import { HttpError, type ApiApp } from './route.ts';
import { JsonObject } from './schemas.ts';
import { Readable } from 'node:stream';

const When = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'an ISO 8601 date or time')
  .describe('ISO 8601 date or time (UTC)');

/** The DSA transparency report (Art. 15/24) for any period, as JSON or CSV. */
export function transparencyRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/api/v1/transparency',
    config: { auth: 'operator' },
    schema: {
      summary:
        'Transparency report for a period [from, to): own-initiative measures, automation, accuracy, appeals, suspensions, bans of a person, removal orders, viewer reports, time to cut (modgate’s own layout, not the Implementing Regulation 2024/2835 template)',
      tags: ['accountability'],
      querystring: z.object({ from: When, to: When, format: z.enum(['json', 'csv']).default('json') }).strict(),
      response: {
        200: {
          description: 'The report (README, "Transparency report", says how each number is counted)',
          content: {
            'application/json': { schema: JsonObject },
            'text/csv': { schema: z.custom<string | Readable>((v) => typeof v === 'string' || v instanceof Readable).meta({ type: 'string' }) },
          },
        },
      },
    },
    handler: async (req, reply) => {
      const from = Date.parse(req.query.from);
      const to = Date.parse(req.query.to);
      if (!(to > from)) throw new HttpError(400, 'invalid_request', 'query.to: must be after from', 'query.to');
      const report = await buildTransparencyReport(ctx.store.db, { from, to }, ctx.policies.current().policy);
      if (req.query.format === 'csv') {
        reply.type('text/csv; charset=utf-8');
        return toCsv(report);
      }
      return report as unknown as Record<string, unknown>;
    },
  });
}
