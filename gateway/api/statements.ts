import { z } from 'zod';
import type { StatementRow } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';
import { idOf, idParams, iso, IsoTime, IsoTimeOrNull, isoOrNull, JsonObject, limitQuery } from './schemas.ts';

const StatementId = idOf('sor', 'Statement of reasons id (sor_…)');
const Delivery = z.enum(['pending', 'submitted', 'rejected']);

export const StatementView = z
  .object({
    id: z.string(),
    puid: z.string().describe('Platform unique id sent to the Transparency Database'),
    source: z.object({ kind: z.enum(['decision', 'suspension', 'ban']), id: z.string() }),
    account: z.string().nullable().describe('Account handle'),
    decisionId: z.string().nullable(),
    decidedAt: IsoTime,
    status: z.enum(['in_force', 'overturned']),
    overturnedAt: IsoTimeOrNull,
    overturnReason: z.string().nullable(),
    delivery: Delivery,
    attempts: z.number().int(),
    submittedAt: IsoTimeOrNull,
    lastError: z.string().nullable(),
    plain: z.array(z.string()).describe('What the streamer reads'),
    statement: JsonObject.describe('The Transparency Database fields, as submitted'),
  })
  .meta({ id: 'StatementOfReasons' });

function statementView(s: StatementRow, handle: string | null): z.infer<typeof StatementView> {
  return {
    id: s.id,
    puid: s.puid,
    source: { kind: s.source_kind, id: s.source_id },
    account: handle,
    decisionId: s.decision_id,
    decidedAt: iso(s.decided_at),
    status: s.status,
    overturnedAt: isoOrNull(s.overturned_at),
    overturnReason: s.overturn_reason,
    delivery: s.delivery,
    attempts: s.attempts,
    submittedAt: isoOrNull(s.submitted_at),
    lastError: s.last_error,
    plain: JSON.parse(s.plain) as string[],
    statement: JSON.parse(s.body) as Record<string, unknown>,
  };
}

/** Statements of reasons (DSA Art. 17) and their delivery to the Transparency Database. */
export function statementRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const handles = async (ids: string[]) => {
    if (ids.length === 0) return new Map<string, string>();
    const rows = await db
      .selectFrom('accounts')
      .select(['id', 'handle'])
      .where('id', 'in', [...new Set(ids)])
      .execute();
    return new Map(rows.map((r) => [r.id, r.handle]));
  };

  app.route({
    method: 'GET',
    url: '/api/v1/statements',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Statements of reasons, newest first (by account, delivery state or status)',
      tags: ['accountability'],
      querystring: z
        .object({
          account: z.string().min(1).max(40).optional(),
          delivery: Delivery.optional(),
          status: z.enum(['in_force', 'overturned']).optional(),
          limit: limitQuery(1000),
        })
        .strict(),
      response: { 200: json(z.object({ statements: z.array(StatementView) }), 'Statements') },
    },
    handler: async (req) => {
      const q = req.query;
      let query = db.selectFrom('statements').selectAll();
      if (q.account) {
        const acc = await db.selectFrom('accounts').select('id').where('handle', '=', q.account).executeTakeFirst();
        if (!acc) return { statements: [] };
        query = query.where('account_id', '=', acc.id);
      }
      if (q.delivery) query = query.where('delivery', '=', q.delivery);
      if (q.status) query = query.where('status', '=', q.status);
      const rows = await query.orderBy('decided_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
      const names = await handles(rows.map((r) => r.account_id));
      return { statements: rows.map((r) => statementView(r, names.get(r.account_id) ?? null)) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/statements/:id',
    config: { auth: 'moderator' },
    schema: {
      summary: 'One statement of reasons with its Transparency Database fields',
      tags: ['accountability'],
      params: idParams(StatementId),
      response: { 200: json(StatementView, 'The statement'), ...errors({ 404: 'No such statement' }) },
    },
    handler: async (req) => {
      const row = await db.selectFrom('statements').selectAll().where('id', '=', req.params.id).executeTakeFirst();
      if (!row) throw new HttpError(404, 'not_found', `statement '${req.params.id}' not found`);
      const names = await handles([row.account_id]);
      return statementView(row, names.get(row.account_id) ?? null);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/statements/flush',
    config: { auth: 'operator' },
    schema: {
      summary: 'Make missing statements now and submit what is due to the Transparency Database',
      tags: ['accountability'],
      response: {
        200: json(
          z.object({
            submitting: z.boolean().describe('An endpoint is configured'),
            pending: z.number().int(),
            submitted: z.number().int(),
            rejected: z.number().int(),
          }),
          'Counts after the pass',
        ),
        ...errors({ 404: 'Accountability is not running in this server' }),
      },
    },
    handler: async () => {
      if (!ctx.accountability) throw new HttpError(404, 'not_configured', 'accountability is not running in this server');
      await ctx.accountability.syncNow();
      const rows = await db
        .selectFrom('statements')
        .select(['delivery', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('delivery')
        .execute();
      const count = (d: string) => Number(rows.find((r) => r.delivery === d)?.n ?? 0);
      return { submitting: ctx.accountability.outbox !== null, pending: count('pending'), submitted: count('submitted'), rejected: count('rejected') };
    },
  });
}
