import { z } from 'zod';
import { distinctSources, RateLimited, REPORT_CATEGORIES } from '../accountability/reports/service.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';
import { idParams, iso, IsoTime, Reason, StreamId } from './schemas.ts';
import { streamView, StreamView } from './views/stream.ts';

const Category = z.enum(REPORT_CATEGORIES);

const ReportedStream = z.object({
  streamId: z.string(),
  account: z.string().nullable().describe('Account handle'),
  live: StreamView.nullable().describe('The stream while it is live (null once it ended)'),
  independentReports: z.number().int().describe('Distinct reporters'),
  reports: z.number().int(),
  categories: z.record(z.string(), z.number().int()),
  firstAt: IsoTime,
  lastAt: IsoTime,
  notes: z.array(z.object({ at: IsoTime, category: Category, note: z.string() })),
});

/** Viewer reports: anyone can report a live stream; moderators see them as a queue, most reported first. */
export function reportRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const reports = () => {
    if (!ctx.accountability) throw new HttpError(404, 'not_configured', 'reports are not running in this server');
    return ctx.accountability.reports;
  };

  app.route({
    method: 'POST',
    url: '/api/v1/reports',
    config: { auth: 'public' },
    schema: {
      summary: 'Report a live stream (no account needed; rate-limited per source)',
      tags: ['reports'],
      body: z
        .object({
          streamId: StreamId,
          category: Category.describe('imminent_harm: someone is about to be hurt; terrorism; child_safety; violence; hate; self_harm; other'),
          note: z.string().trim().min(1).max(500).optional().describe('What you saw (optional)'),
        })
        .strict(),
      response: {
        202: json(z.object({ reportId: z.string(), received: z.literal(true) }), 'Received: moderators see it now'),
        ...errors({ 404: 'No such live stream', 429: 'Too many reports from this source (Retry-After says when to try again)' }),
      },
    },
    handler: async (req, reply) => {
      try {
        const r = await reports().submit({ streamId: req.body.streamId, category: req.body.category, note: req.body.note, source: req.ip });
        reply.code(202);
        return { reportId: r.report.id, received: true as const };
      } catch (err) {
        if (err instanceof RateLimited) {
          reply.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
          throw new HttpError(429, 'rate_limited', err.message);
        }
        throw err;
      }
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/reports',
    config: { auth: 'moderator' },
    schema: {
      summary: "Moderators' queue of reported streams, most independent reports first",
      tags: ['reports'],
      querystring: z.object({ status: z.enum(['open', 'actioned', 'dismissed']).default('open') }).strict(),
      response: { 200: json(z.object({ streams: z.array(ReportedStream) }), 'Reported streams') },
    },
    handler: async (req) => {
      const queue = await reports().queue(req.query.status);
      const ids = [...new Set(queue.map((q) => q.accountId))];
      const accounts = ids.length ? await db.selectFrom('accounts').select(['id', 'handle']).where('id', 'in', ids).execute() : [];
      const handle = new Map(accounts.map((a) => [a.id, a.handle]));
      return {
        streams: queue.map((q) => {
          const live = ctx.registry.get(q.streamId);
          const categories: Record<string, number> = {};
          for (const r of q.reports) categories[r.category] = (categories[r.category] ?? 0) + 1;
          return {
            streamId: q.streamId,
            account: handle.get(q.accountId) ?? null,
            live: live ? streamView(live, ctx.live) : null,
            independentReports: distinctSources(q.reports),
            reports: q.reports.length,
            categories,
            firstAt: iso(q.reports[0]!.created_at),
            lastAt: iso(q.reports[q.reports.length - 1]!.created_at),
            notes: q.reports.flatMap((r) =>
              r.note ? [{ at: iso(r.created_at), category: r.category as (typeof REPORT_CATEGORIES)[number], note: r.note }] : [],
            ),
          };
        }),
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/streams/:id/reports/resolve',
    config: { auth: 'moderator' },
    schema: {
      summary: "Close a stream's open reports with what was done (cut, suspended, none)",
      tags: ['reports'],
      params: idParams(StreamId),
      body: z.object({ action: z.enum(['cut', 'suspended', 'none']), reason: Reason }).strict(),
      response: { 200: json(z.object({ resolved: z.number().int() }), 'Reports closed'), ...errors({ 409: 'No open reports for this stream' }) },
    },
    handler: async (req) => ({ resolved: await reports().resolve(req.params.id, req.principal.actor, req.body.action, req.body.reason) }),
  });
}
