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
  const Journal = z
    .object({
      depth: z
        .number()
        .int()
        .describe(
          'Units of work (decision, strike, suspension, audit; cut, stream start or end; publish refusal; stored signals) kept locally, not yet in the database',
        ),
      since: z.string().nullable().describe('Since when the journal has held units (ISO 8601); null while empty'),
      replayed: z.number().int().describe('Units replayed into the database since start'),
      duplicates: z.number().int().describe('Units the replay found already on record (not written twice)'),
      rejected: z.number().int().describe('Units the database refused for good (kept in the .rejected file)'),
    })
    .describe("The node's local journal (gateway/store/journal/)");
  const journal = () => {
    const v = ctx.journal?.view() ?? { depth: 0, since: null, replayed: 0, duplicates: 0, rejected: 0 };
    return {
      depth: v.depth,
      since: v.since === null ? null : new Date(v.since).toISOString(),
      replayed: v.replayed,
      duplicates: v.duplicates,
      rejected: v.rejected,
    };
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
      response: {
        200: json(z.object({ status: z.literal('ok'), version: z.string(), liveStreams: z.number().int(), database: Database, journal: Journal }), 'Alive'),
      },
    },
    handler: async () => ({ status: 'ok' as const, version: ctx.version, liveStreams: ctx.registry.list().length, database: database(), journal: journal() }),
  });

  app.route({
    method: 'GET',
    url: '/readyz',
    config: { auth: 'public' },
    schema: {
      summary: 'Readiness: the database answers, the local journal is replayed, and the node is not shutting down',
      description:
        "Probes the database now. 503 degraded while it is unreachable (`database_unreachable`): the node keeps relaying and sampling its live streams, deciding, and refusing the accounts it knows to be suspended, and keeps each decision, strike, suspension and audit record in its local journal; changes from other nodes do not reach it. 503 `journal_replaying` once it answers, until the journal is in the database. Both carry the journal's depth and since when it holds units.",
      tags: ['operations'],
      response: {
        200: json(z.object({ status: z.literal('ready'), database: Database, journal: Journal }), 'Ready'),
        ...errors({
          503: 'Degraded: `database_unreachable` (the database does not answer) or `journal_replaying` (it answers; the journal kept during the outage is not all in it yet; the message gives the journal depth and since when, /healthz has them as fields); or `shutting_down` (the node got SIGTERM and takes no new publishes)',
        }),
      },
    },
    handler: async () => {
      const since = ctx.lifecycle?.shuttingDownSince ?? null;
      if (since !== null)
        throw new HttpError(503, 'shutting_down', `the node is shutting down since ${new Date(since).toISOString()}; it takes no new publishes`);
      const up = await ctx.health.probe();
      const j = journal();
      if (up && j.depth === 0) return { status: 'ready' as const, database: database(), journal: j };
      const v = ctx.health.view();
      const held = j.depth > 0 ? `; journal depth ${j.depth} since ${j.since}` : '; journal empty';
      if (up) throw new HttpError(503, 'journal_replaying', `degraded: replaying the local journal into the database${held}`);
      throw new HttpError(
        503,
        'database_unreachable',
        `degraded: the database is unreachable since ${new Date(v.since).toISOString()} (${v.error ?? 'no answer'})${held}`,
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
