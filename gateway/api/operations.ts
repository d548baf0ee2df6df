import { z } from 'zod';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, text, type ApiApp } from './route.ts';

/** For whoever runs the gateway: liveness and Prometheus metrics. */
export function operationsRoutes(app: ApiApp, ctx: ApiContext): void {
  const Database = z.object({
    state: z.enum(['ok', 'unreachable']),
    since: z.string().describe('When the database entered this state (ISO 8601)'),
    error: z.string().nullable(),
  });
  const database = () => {
    const v = ctx.health.view();
    return { state: v.state, since: new Date(v.since).toISOString(), error: v.error };
  };

  app.route({
    method: 'GET',
    url: '/healthz',
    config: { auth: 'public' },
    schema: {
      summary: 'Liveness: the process serves (also while the database is unreachable)',
      description:
        'Answers 200 as long as the process runs: a database outage degrades readiness (/readyz), never liveness, so an orchestrator does not restart a node that is still relaying and gating its live streams.',
      tags: ['operations'],
      response: { 200: json(z.object({ status: z.literal('ok'), version: z.string(), liveStreams: z.number().int(), database: Database }), 'Alive') },
    },
    handler: async () => ({ status: 'ok' as const, version: ctx.version, liveStreams: ctx.registry.list().length, database: database() }),
  });

  app.route({
    method: 'GET',
    url: '/readyz',
    config: { auth: 'public' },
    schema: {
      summary: 'Readiness: the database answers and the node is not shutting down',
      description:
        'Probes the database now. 503 (`database_unreachable`, degraded) while it is unreachable: the node keeps relaying its live streams and refusing the accounts it knows to be suspended, but new changes from other nodes do not reach it.',
      tags: ['operations'],
      response: {
        200: json(z.object({ status: z.literal('ready'), database: Database }), 'Ready'),
        ...errors({
          503: 'Degraded (code `database_unreachable`): the database does not answer; or (code `shutting_down`) the node got SIGTERM and takes no new publishes',
        }),
      },
    },
    handler: async () => {
      const since = ctx.lifecycle?.shuttingDownSince ?? null;
      if (since !== null)
        throw new HttpError(503, 'shutting_down', `the node is shutting down since ${new Date(since).toISOString()}; it takes no new publishes`);
      if (await ctx.health.probe()) return { status: 'ready' as const, database: database() };
      const v = ctx.health.view();
      throw new HttpError(
        503,
        'database_unreachable',
        `degraded: the database is unreachable since ${new Date(v.since).toISOString()} (${v.error ?? 'no answer'})`,
      );
    },
  });

  app.route({
    method: 'GET',
    url: '/metrics',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Prometheus metrics',
      tags: ['operations'],
      response: {
        200: text(['text/plain', 'application/openmetrics-text'], 'Metrics in the Prometheus text format'),
        ...errors({ 404: 'Metrics are not enabled' }),
      },
    },
    handler: async (_req, reply) => {
      if (!ctx.metrics) throw new HttpError(404, 'not_found', 'metrics are not enabled');
      return reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics());
    },
  });
}
