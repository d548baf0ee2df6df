import { z } from 'zod';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, text, type ApiApp } from './route.ts';

/** For whoever runs the gateway: liveness and Prometheus metrics. */
export function operationsRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/healthz',
    config: { auth: 'public' },
    schema: {
      summary: 'Liveness: the database answers',
      tags: ['operations'],
      response: { 200: json(z.object({ status: z.literal('ok'), version: z.string(), liveStreams: z.number().int() }), 'Healthy') },
    },
    handler: async () => {
      await ctx.store.db.selectFrom('accounts').select('id').limit(1).execute();
      return { status: 'ok' as const, version: ctx.version, liveStreams: ctx.registry.list().length };
    },
  });

  app.route({
    method: 'GET',
    url: '/metrics',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Prometheus metrics',
      tags: ['operations'],
      response: { 200: text(['text/plain', 'application/openmetrics-text'], 'Metrics in the Prometheus text format'), ...errors({ 404: 'Metrics are not enabled' }) },
    },
    handler: async (_req, reply) => {
      if (!ctx.metrics) throw new HttpError(404, 'not_found', 'metrics are not enabled');
      return reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics());
    },
  });
}
