import { z } from 'zod';
import {
  AddExchangeSchema,
  addExchange,
  exchangeView,
  ExchangeNameSchema,
  getExchange,
  listExchanges,
  quarantined,
  setExchangeEnabled,
} from '../exchanges/manage.ts';
import { feedDeltaCount, serveFeed } from '../exchanges/serve-feed.ts';
import { FeedPage, SIGNATURE_HEADER } from '../exchanges/feed-format.ts';
import { AddPartnerSchema, addPartner, listPartners, partnerView, revokePartner } from '../exchanges/partners.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';

const ExchangeView = z
  .object({
    name: z.string(),
    kind: z.string(),
    url: z.string(),
    bank: z.string().describe('The bank it feeds'),
    hasCredential: z.boolean().describe('A credential is stored (sealed; never shown)'),
    intervalMs: z.number().int(),
    enabled: z.boolean(),
    checkpoint: z.string().nullable().describe('Where the next fetch resumes'),
    lastFetchAt: z.number().nullable().describe('epoch ms'),
    lastSuccessAt: z.number().nullable(),
    lastError: z.string().nullable().describe('`code: message` of the last failed fetch'),
    lastErrorAt: z.number().nullable(),
    failures: z.number().int().describe('Consecutive failed fetches'),
    nextFetchAt: z.number().nullable(),
    upserts: z.number().int().describe('Entries added or re-enabled, all time'),
    deletes: z.number().int().describe('Entries deleted by tombstones, all time'),
    quarantined: z.number().int().describe('Records or pages set aside, all time'),
  })
  .meta({ id: 'Exchange' });

const NameParams = z.object({ name: ExchangeNameSchema });
const PartnerView = z
  .object({
    id: z.string(),
    name: z.string(),
    banks: z.array(z.string()),
    createdAt: z.number(),
    revokedAt: z.number().nullable(),
    lastSeenAt: z.number().nullable(),
    lastCheckpoint: z.string().nullable(),
  })
  .meta({ id: 'ExchangePartner' });

/** Hash exchanges: the ones this gateway fetches from, and the partners it serves its own feed to. */
export function exchangeRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const runner = () => {
    if (!ctx.exchanges) throw new HttpError(503, 'exchanges_unavailable', 'exchanges do not run in this server');
    return ctx.exchanges;
  };

  app.route({
    method: 'GET',
    url: '/api/v1/exchanges',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Exchanges this gateway fetches from, with their status',
      tags: ['exchanges'],
      response: { 200: json(z.object({ exchanges: z.array(ExchangeView) }), 'Exchanges') },
    },
    handler: async () => ({ exchanges: (await listExchanges(db)).map(exchangeView) }),
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchanges',
    config: { auth: 'operator' },
    schema: {
      summary: 'Add an exchange (and the bank it feeds)',
      tags: ['exchanges'],
      body: AddExchangeSchema,
      response: {
        201: json(ExchangeView, 'Added; the first fetch starts at once'),
        ...errors({ 409: 'The name or the bank is taken', 503: 'Exchanges do not run here' }),
      },
    },
    handler: async (req, reply) => {
      if (!ctx.secretKey) throw new HttpError(503, 'exchanges_unavailable', 'exchanges do not run in this server');
      const row = await addExchange(db, ctx.secretKey, req.principal.actor, req.body);
      void ctx.exchanges?.runDue();
      reply.code(201);
      return exchangeView(row);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchanges/:name/fetch',
    config: { auth: 'operator' },
    schema: {
      summary: 'Fetch from an exchange now and wait for the run',
      tags: ['exchanges'],
      params: NameParams,
      response: {
        200: json(
          z.object({
            pages: z.number().int(),
            upserts: z.number().int(),
            deletes: z.number().int(),
            quarantined: z.number().int(),
            error: z.string().nullable(),
            exchange: ExchangeView,
          }),
          'The run',
        ),
        ...errors({ 404: 'No such exchange', 503: 'Exchanges do not run here' }),
      },
    },
    handler: async (req) => {
      await getExchange(db, req.params.name);
      const outcome = await runner().run(req.params.name);
      return { ...outcome, exchange: exchangeView(await getExchange(db, req.params.name)) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchanges/:name/enabled',
    config: { auth: 'operator' },
    schema: {
      summary: 'Enable or disable fetching from an exchange',
      tags: ['exchanges'],
      params: NameParams,
      body: z.object({ enabled: z.boolean() }).strict(),
      response: { 200: json(ExchangeView, 'The exchange'), ...errors({ 404: 'No such exchange' }) },
    },
    handler: async (req) => {
      await setExchangeEnabled(db, req.principal.actor, req.params.name, req.body.enabled);
      return exchangeView(await getExchange(db, req.params.name));
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/exchanges/:name/quarantine',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Records and pages of an exchange set aside as malformed (newest first)',
      tags: ['exchanges'],
      params: NameParams,
      response: {
        200: json(
          z.object({
            records: z.array(z.object({ id: z.number().int(), at: z.number(), checkpoint: z.string().nullable(), reason: z.string(), raw: z.string() })),
          }),
          'Quarantined',
        ),
        ...errors({ 404: 'No such exchange' }),
      },
    },
    handler: async (req) => {
      await getExchange(db, req.params.name);
      return {
        records: (await quarantined(db, req.params.name)).map((r) => ({
          id: Number(r.id),
          at: Number(r.at),
          checkpoint: r.checkpoint,
          reason: r.reason,
          raw: r.raw,
        })),
      };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/exchange/partners',
    config: { auth: 'operator' },
    schema: {
      summary: 'Partners this gateway serves its feed to',
      tags: ['exchanges'],
      response: { 200: json(z.object({ partners: z.array(PartnerView) }), 'Partners') },
    },
    handler: async () => ({ partners: (await listPartners(db)).map(partnerView) }),
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchange/partners',
    config: { auth: 'operator' },
    schema: {
      summary: 'Add a partner with the banks it may read; answers its token once',
      tags: ['exchanges'],
      body: AddPartnerSchema,
      response: {
        201: json(z.object({ token: z.string().describe('px_…: give it to the partner; it is not shown again'), partner: PartnerView }), 'Added'),
        ...errors({ 404: 'No such bank', 409: 'Exists' }),
      },
    },
    handler: async (req, reply) => {
      const { token, partner } = await addPartner(db, req.principal.actor, req.body);
      reply.code(201);
      return { token, partner: partnerView(partner) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/exchange/partners/:name/revoke',
    config: { auth: 'operator' },
    schema: {
      summary: "Revoke a partner's token",
      tags: ['exchanges'],
      params: z.object({ name: z.string().min(1).max(64) }),
      response: { 200: json(z.object({ revoked: z.string() }), 'Revoked'), ...errors({ 404: 'No such live partner' }) },
    },
    handler: async (req) => {
      await revokePartner(db, req.principal.actor, req.params.name);
      return { revoked: req.params.name };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/exchange/feed',
    // A partner's token (px_…), checked in the handler: partners are not admin principals.
    config: { auth: 'public' },
    schema: {
      summary: "The partner's feed: changes of its banks after a checkpoint (long-poll), signed",
      description: `Answers at once when changes wait after \`checkpoint\`, otherwise when one lands or after \`wait\` seconds. The body is signed: \`${SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body, keyed by the SHA-256 of the partner token>\`.`,
      tags: ['exchanges'],
      querystring: z
        .object({
          checkpoint: z.string().max(8000).optional(),
          wait: z.coerce.number().int().min(0).max(60).default(0),
          limit: z.coerce.number().int().min(1).max(5000).default(500),
        })
        .strict(),
      response: { 200: json(FeedPage, 'A page of the feed'), ...errors({ 401: 'No valid partner token' }) },
    },
    handler: async (req, reply) => {
      const auth = req.headers.authorization ?? '';
      const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
      const closed = new AbortController();
      req.raw.once('close', () => closed.abort());
      const served = await serveFeed(db, ctx.store.dialect, token, req.query, closed.signal);
      if (served.status === 'unauthorized') throw new HttpError(401, 'unauthorized', 'a valid partner token is required (Authorization: Bearer px_…)');
      if (served.status === 'bad_checkpoint') throw new HttpError(400, 'invalid', 'checkpoint is not one this feed handed out', 'query.checkpoint');
      feedDeltaCount(served.deltas);
      reply.header(SIGNATURE_HEADER, served.signature).type('application/json');
      // Sent as the exact bytes the signature covers (fastify sends a string with a JSON type as is).
      return reply.send(served.body as unknown as z.infer<typeof FeedPage>);
    },
  });
}
