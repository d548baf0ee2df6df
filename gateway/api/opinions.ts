import { z } from 'zod';
import { BankNameSchema } from '../banks/schema.ts';
import { listQuarantines, resolveQuarantine } from '../banks/quarantine.ts';
import { DELIVERIES } from '../exchanges/opinion-outbox.ts';
import { giveOpinion, listOpinions, OpinionBody, opinionView, receivePartnerOpinion } from '../exchanges/opinions.ts';
import { authenticatePartner } from '../exchanges/partners.ts';
import type { EntryQuarantine } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';
import { Reason } from './schemas.ts';

const Opinion = z
  .object({
    id: z.number().int(),
    at: z.number().describe('epoch ms'),
    bank: z.string().nullable(),
    entryId: z.string().nullable(),
    signalType: z.string(),
    hash: z.string(),
    category: z.enum(['negative_class', 'investigation_seed', 'positive_class']),
    tags: z.array(z.string()),
    isMine: z.boolean().describe('Given here (true) or received from a partner (false)'),
    source: z.string().describe('`moderator` or `partner:<name>`'),
    actor: z.string(),
    reason: z.string().nullable(),
    exchange: z.string().nullable().describe('The exchange our opinion was reported to'),
    reportedAt: z.number().nullable().describe('When the exchange took it'),
    reportError: z.string().nullable().describe('`code: message` of the last failed attempt'),
    delivery: z
      .enum(DELIVERIES)
      .nullable()
      .describe(
        'Our opinion to its exchange: pending (retried with back-off while the exchange is down, answers 5xx, 408 or 429, or times out), delivered, not_taken (its kind takes none), rejected (the exchange refused it with another 4xx, in reportError; not retried); null: nothing to deliver',
      ),
    attempts: z.number().int().describe('Delivery attempts so far'),
    nextAttemptAt: z.number().nullable().describe('epoch ms; when a pending opinion is tried next'),
  })
  .meta({ id: 'EntryOpinion' });

const Quarantine = z
  .object({
    id: z.string(),
    entryId: z.string(),
    bank: z.string(),
    reason: z.enum(['flood', 'partner_opinion']),
    detail: z.record(z.string(), z.unknown()),
    at: z.number(),
    status: z.enum(['open', 'cleared', 'removed']),
    handledBy: z.string().nullable(),
    handledAt: z.number().nullable(),
    handleReason: z.string().nullable(),
  })
  .meta({ id: 'EntryQuarantine' });

const quarantineView = (q: EntryQuarantine): z.infer<typeof Quarantine> => ({
  id: q.id,
  entryId: q.entry_id,
  bank: q.bank,
  reason: q.reason as 'flood' | 'partner_opinion',
  detail: JSON.parse(q.detail) as Record<string, unknown>,
  at: Number(q.at),
  status: q.status as 'open' | 'cleared' | 'removed',
  handledBy: q.handled_by,
  handledAt: q.handled_at === null ? null : Number(q.handled_at),
  handleReason: q.handle_reason,
});

/**
 * Opinions of shared signals (gateway/exchanges/opinions.ts) and the queue of quarantined entries
 * (gateway/banks/quarantine.ts): moderators confirm or deconfirm a bank entry (reported back to its
 * exchange), partners send their opinions of what we serve them, and moderators clear or remove entries
 * the flood guard or a partner's deconfirmation quarantined.
 */
export function opinionRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'POST',
    url: '/api/v1/banks/:name/opinions',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Confirm or deconfirm a bank entry (a third-party signal); a deconfirmation disables it and is reported to its exchange',
      tags: ['banks'],
      params: z.object({ name: BankNameSchema }),
      body: z
        .object({
          entryId: z.string().min(1).max(80).optional(),
          hash: z
            .string()
            .regex(/^[0-9a-fA-F]{64}$/)
            .optional()
            .describe('The entry by its hash, instead of entryId'),
          opinion: z.enum(['confirm', 'deconfirm']),
          reason: Reason,
        })
        .strict()
        .refine((b) => (b.entryId === undefined) !== (b.hash === undefined), { message: 'give entryId or hash', path: ['entryId'] }),
      response: {
        200: json(
          z.object({
            opinion: Opinion,
            reportedTo: z
              .string()
              .nullable()
              .describe('The exchange that took it; null: none fed the entry, its kind takes no opinions, or it is pending (see opinion.delivery)'),
            reportError: z.string().nullable().describe('Why the first attempt failed; the opinion stays pending and is sent again'),
          }),
          'Stored (and reported where possible)',
        ),
        ...errors({ 404: 'No such bank or entry' }),
      },
    },
    handler: async (req) => {
      let entryId = req.body.entryId;
      if (!entryId) {
        const row = await db
          .selectFrom('bank_entries')
          .select('id')
          .where('bank', '=', req.params.name)
          .where('hash', '=', req.body.hash!.toLowerCase())
          .where('derived_from', 'is', null)
          .executeTakeFirst();
        if (!row) throw new HttpError(404, 'not_found', `no entry of that hash in bank '${req.params.name}'`);
        entryId = row.id;
      }
      const given = await giveOpinion(db, ctx.exchanges?.opinions ?? null, req.principal.actor, req.params.name, entryId, req.body.opinion, req.body.reason);
      await ctx.banks.refresh();
      return { opinion: opinionView(given.opinion), reportedTo: given.reportedTo, reportError: given.reportError };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/opinions',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Opinions given here and received from partners (newest first)',
      tags: ['banks'],
      querystring: z
        .object({
          mine: z.enum(['true', 'false']).optional(),
          delivery: z.enum(DELIVERIES).optional().describe('Only our opinions in that delivery state (pending: waiting for their exchange)'),
          hash: z
            .string()
            .regex(/^[0-9a-fA-F]{64}$/)
            .optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        })
        .strict(),
      response: { 200: json(z.object({ opinions: z.array(Opinion) }), 'Opinions') },
    },
    handler: async (req) => ({
      opinions: (
        await listOpinions(db, {
          ...(req.query.mine ? { mine: req.query.mine === 'true' } : {}),
          ...(req.query.hash ? { hash: req.query.hash } : {}),
          ...(req.query.delivery ? { delivery: req.query.delivery } : {}),
          limit: req.query.limit,
        })
      ).map(opinionView),
    }),
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchange/opinions',
    // A partner's token (px_…), checked in the handler, as for the feed.
    config: { auth: 'public' },
    schema: {
      summary: "A partner's opinion of a hash we serve it (python-threatexchange SignalOpinion); a negative_class one quarantines the entry by default",
      tags: ['exchanges'],
      body: OpinionBody,
      response: {
        200: json(
          z.object({
            entries: z.number().int().describe('Entries of that hash in its banks'),
            quarantined: z.number().int(),
            duplicate: z.boolean().describe('The Idempotency-Key was seen before from this partner: recorded then, not again'),
          }),
          'Recorded',
        ),
        ...errors({ 401: 'No valid partner token' }),
      },
    },
    handler: async (req) => {
      const auth = req.headers.authorization ?? '';
      const partner = await authenticatePartner(db, auth.startsWith('Bearer ') ? auth.slice(7).trim() : '');
      if (!partner) throw new HttpError(401, 'unauthorized', 'a valid partner token is required (Authorization: Bearer px_…)');
      const key = req.headers['idempotency-key'];
      const idempotencyKey = typeof key === 'string' && key.length > 0 && key.length <= 200 ? key : null;
      const out = await receivePartnerOpinion(db, partner, req.body, ctx.config.exchanges.partnerOpinions, Date.now(), idempotencyKey);
      if (out.quarantined) await ctx.banks.refresh();
      return out;
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/entry-quarantines',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Quarantined bank entries (flood guard, partner deconfirmations): the review queue, newest first',
      tags: ['banks'],
      querystring: z.object({ status: z.enum(['open', 'cleared', 'removed', 'all']).default('open') }).strict(),
      response: { 200: json(z.object({ quarantines: z.array(Quarantine) }), 'Quarantines') },
    },
    handler: async (req) => ({ quarantines: (await listQuarantines(db, req.query.status)).map(quarantineView) }),
  });

  for (const verdict of ['clear', 'remove'] as const)
    app.route({
      method: 'POST',
      url: `/api/v1/entry-quarantines/:id/${verdict}`,
      config: { auth: 'moderator' },
      schema: {
        summary:
          verdict === 'clear'
            ? 'Clear a quarantined entry: it matches and acts again (a cleared flood is exempt from the guard)'
            : 'Remove a quarantined entry (disabled)',
        tags: ['banks'],
        params: z.object({ id: z.string().min(1).max(80) }),
        body: z.object({ reason: Reason }).strict(),
        response: { 200: json(Quarantine, 'Resolved'), ...errors({ 404: 'No such quarantine', 409: 'Already resolved' }) },
      },
      handler: async (req) => {
        const q = await resolveQuarantine(db, req.principal.actor, req.params.id, verdict, req.body.reason);
        await ctx.banks.refresh();
        ctx.onQuarantineResolved?.(q.entry_id);
        return quarantineView(q);
      },
    });
}
