import { z } from 'zod';
import { isOverdue } from '../accountability/orders/service.ts';
import { HandleSchema } from '../identity/accounts.ts';
import type { RemovalOrderRow } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';
import { idOf, idParams, iso, IsoTime, IsoTimeOrNull, isoOrNull, Reason, StreamId } from './schemas.ts';

const OrderId = idOf('ord', 'Removal order id (ord_…)');

export const OrderView = z
  .object({
    id: z.string(),
    authority: z.string(),
    memberState: z.string(),
    reference: z.string().describe("The authority's reference"),
    orderType: z.enum(['tco_removal', 'dsa_art9']),
    legalBasis: z.string(),
    target: z.object({ kind: z.enum(['stream', 'account']), streamId: z.string().nullable(), account: z.string().nullable() }),
    description: z.string().nullable(),
    receivedAt: IsoTime,
    deadline: IsoTime.describe('Receipt + 1 hour (Regulation (EU) 2021/784, Art. 3(3))'),
    acknowledgedAt: IsoTimeOrNull,
    executedAt: IsoTimeOrNull,
    msToExecute: z.number().int().nullable(),
    actions: z.array(z.enum(['cut', 'suspended', 'banked', 'already_offline'])),
    status: z.enum(['open', 'executed', 'rejected']),
    statusReason: z.string().nullable(),
    overdue: z.boolean().describe('Open past its deadline now'),
    overdueAt: IsoTimeOrNull.describe('When it was first seen overdue (the alert)'),
  })
  .meta({ id: 'RemovalOrder' });

/** Removal orders: intake for competent authorities (role `authority`), execution by moderators, the overdue queue. */
export function orderRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const orders = () => {
    if (!ctx.accountability) throw new HttpError(404, 'not_configured', 'removal orders are not running in this server');
    return ctx.accountability.orders;
  };
  const view = async (o: RemovalOrderRow): Promise<z.infer<typeof OrderView>> => {
    const acc = o.account_id ? await db.selectFrom('accounts').select('handle').where('id', '=', o.account_id).executeTakeFirst() : undefined;
    return {
      id: o.id,
      authority: o.authority,
      memberState: o.member_state,
      reference: o.reference,
      orderType: o.order_type as 'tco_removal' | 'dsa_art9',
      legalBasis: o.legal_basis,
      target: { kind: o.target_kind, streamId: o.stream_id, account: acc?.handle ?? null },
      description: o.description,
      receivedAt: iso(o.received_at),
      deadline: iso(o.deadline_at),
      acknowledgedAt: isoOrNull(o.acknowledged_at),
      executedAt: isoOrNull(o.executed_at),
      msToExecute: o.executed_at === null ? null : o.executed_at - o.received_at,
      actions: o.actions ? (JSON.parse(o.actions) as Array<'cut' | 'suspended' | 'banked' | 'already_offline'>) : [],
      status: o.status,
      statusReason: o.status_reason,
      overdue: isOverdue(o, Date.now()),
      overdueAt: isoOrNull(o.overdue_at),
    };
  };

  app.route({
    method: 'POST',
    url: '/api/v1/orders',
    config: { auth: 'authority' },
    schema: {
      summary: 'Submit a removal order (competent authority token, or an operator entering one received otherwise)',
      tags: ['orders'],
      body: z
        .object({
          authority: z
            .string()
            .trim()
            .min(1)
            .max(200)
            .optional()
            .describe("Operators only: the issuing authority (an authority token's name is used otherwise)"),
          memberState: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2, e.g. FR'),
          reference: z.string().trim().min(1).max(200),
          orderType: z.enum(['tco_removal', 'dsa_art9']).default('tco_removal'),
          legalBasis: z.string().trim().min(1).max(500).optional(),
          streamId: StreamId.optional(),
          handle: HandleSchema.optional(),
          description: z.string().trim().min(1).max(2000).optional(),
        })
        .strict()
        .refine((b) => (b.streamId === undefined) !== (b.handle === undefined), {
          message: 'name the content: streamId or handle (one of them)',
          path: ['streamId'],
        }),
      response: {
        201: json(z.object({ order: OrderView }), 'Received: the one-hour deadline runs from now'),
        200: json(z.object({ order: OrderView }), 'Already received (same authority and reference)'),
        ...errors({ 404: 'No such stream or account' }),
      },
    },
    handler: async (req, reply) => {
      const b = req.body;
      const isAuthority = req.principal.role === 'authority';
      const authority = isAuthority ? req.principal.actor.replace(/^token:/, '') : b.authority;
      if (!authority) throw new HttpError(400, 'invalid_request', 'body.authority: required when an operator enters an order', 'body.authority');
      const { order, duplicate } = await orders().receive(req.principal.actor, {
        authority,
        memberState: b.memberState,
        reference: b.reference,
        orderType: b.orderType,
        legalBasis: b.legalBasis,
        target: b.streamId ? { streamId: b.streamId } : { handle: b.handle! },
        description: b.description,
      });
      reply.code(duplicate ? 200 : 201);
      return { order: await view(order) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/orders',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Removal orders, earliest deadline first (status=overdue: the review queue of orders past their deadline)',
      tags: ['orders'],
      querystring: z.object({ status: z.enum(['open', 'executed', 'rejected', 'overdue']).optional() }).strict(),
      response: { 200: json(z.object({ orders: z.array(OrderView) }), 'Orders') },
    },
    handler: async (req) => ({ orders: await Promise.all((await orders().list({ status: req.query.status })).map(view)) }),
  });

  app.route({
    method: 'GET',
    url: '/api/v1/orders/:id',
    config: { auth: 'authority' },
    schema: {
      summary: 'One removal order (an authority sees only its own)',
      tags: ['orders'],
      params: idParams(OrderId),
      response: { 200: json(OrderView, 'The order'), ...errors({ 404: 'No such order' }) },
    },
    handler: async (req) => {
      const o = await orders().get(req.params.id);
      if (req.principal.role === 'authority' && o.received_by !== req.principal.actor)
        throw new HttpError(404, 'not_found', `order '${req.params.id}' not found`);
      return view(o);
    },
  });

  for (const [verb, summary] of [
    ['acknowledge', 'Acknowledge receipt of a removal order'],
    ['reject', 'Refuse a removal order (manifest error, not competent), with the reason'],
  ] as const) {
    app.route({
      method: 'POST',
      url: `/api/v1/orders/:id/${verb}`,
      config: { auth: verb === 'reject' ? 'operator' : 'moderator' },
      schema: {
        summary,
        tags: ['orders'],
        params: idParams(OrderId),
        body: verb === 'reject' ? z.object({ reason: Reason }).strict() : z.object({}).strict(),
        response: { 200: json(z.object({ order: OrderView }), 'The order'), ...errors({ 404: 'No such order', 409: 'Already executed or rejected' }) },
      },
      handler: async (req) => {
        const body = req.body as { reason?: string };
        const o =
          verb === 'reject'
            ? await orders().reject(req.params.id, req.principal.actor, body.reason!)
            : await orders().acknowledge(req.params.id, req.principal.actor);
        return { order: await view(o) };
      },
    });
  }

  app.route({
    method: 'POST',
    url: '/api/v1/orders/:id/execute',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Carry out a removal order: cut the stream, suspend the account, record the banked entry',
      tags: ['orders'],
      params: idParams(OrderId),
      body: z
        .object({
          cut: z.boolean().default(true),
          suspendDays: z.number().int().min(1).max(36500).nullable().optional().describe('null: permanently; absent: no suspension'),
          bankEntryId: z.string().min(1).max(100).optional(),
          reason: Reason,
        })
        .strict(),
      response: {
        200: json(z.object({ order: OrderView }), 'Executed; msToExecute is the time from receipt'),
        ...errors({ 404: 'No such order', 409: 'Already executed or rejected' }),
      },
    },
    handler: async (req) => {
      const o = await orders().execute(req.params.id, req.principal.actor, req.body);
      await ctx.gate.refresh();
      if (o.account_id) await ctx.enforcer.enforce([o.account_id], req.principal.actor);
      return { order: await view(o) };
    },
  });
}
