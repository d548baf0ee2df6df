/**
 * How an API route is written. A route module exports one function that adds its routes to the API
 * instance with plain `app.route`; types flow from the zod schemas into the handler (fastify's zod type
 * provider), the same schemas validate the request, describe the response, and make the OpenAPI
 * document at /api/openapi.json (@fastify/swagger). Add the module to `API_ROUTES` in http.ts.
 * Shared shapes (the error body, ids, handles, reasons, times, paging) are in schemas.ts; a response
 * shape used by several routes sits in views/ beside the function that builds it (views/decision.ts).
 * Logic a route shares with the CLI or another module lives outside api/ (gateway/policy-ops/…).
 *
 * ```ts
 * export function widgetRoutes(app: ApiApp, ctx: ApiContext): void {
 *   app.route({
 *     method: 'POST',
 *     url: '/api/v1/widgets/:id/spin',
 *     config: { auth: 'moderator' },               // who may call it: see `Auth` (required, checked at start-up)
 *     schema: {
 *       summary: 'Spin a widget',
 *       tags: ['widgets'],
 *       params: idParams(WidgetId),                 // shared shapes live in schemas.ts
 *       body: z.object({ reason: Reason, turns: z.number().int().min(1) }).strict(),
 *       response: {
 *         200: json(WidgetView, 'The widget, spun'),
 *         ...errors({ 404: 'No such widget', 409: 'Already spinning' }),
 *       },
 *     },
 *     handler: async (req, reply) => {              // req.params.id, req.body.turns: typed and validated
 *       const w = await spin(ctx.store.db, req.principal.actor, req.params.id, req.body.turns);
 *       return widgetView(w);                       // typed against WidgetView; checked in tests
 *     },
 *   });
 * }
 * ```
 *
 * What every route gets without writing it (http.ts): authentication before validation (401/403 come
 * before any 400), request validation with the 400 naming the field (`body.turns`), errors thrown as
 * HttpError or DomainError answered as `{error, message, field?}`, and the generic error statuses
 * (400/401/403/413/415/500 as they apply) added to its documented responses. List only the statuses
 * that are particular to the route (404, 409, …) in `errors`. Non-JSON answers: `binary('image/jpeg', …)`
 * for a Buffer, `text(['text/csv'], …)` for a string or a stream (server-sent events:
 * `text(['text/event-stream'], …)` and send a Readable). A `webhook` route checks its signature in its
 * own `preValidation` hook (identity-webhook.ts). A new route is listed by test/gateway/openapi.test.ts
 * automatically; add it to SHIPPED_ROUTES there once it ships, so it cannot be lost later.
 *
 * Response schemas describe exactly what the handler returns: every field listed (zod objects, which
 * document `additionalProperties: false`), no defaults or transforms. The serializer sends the handler's
 * value untouched, never a schema-stripped copy, so a field is never silently dropped; with
 * `http.checkResponses` (on in the tests) a response with a field its schema does not list, a missing or
 * mistyped field, or an undeclared status is a 500 that fails the test. Use `JsonObject` for recorded
 * free-form JSON (audit details, evidence facts).
 */
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Role } from '../admin/tokens.ts';
import type { Account } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { ErrorBody } from './schemas.ts';

export { HttpError } from './errors.ts';

/**
 * Who may call a route, declared per route in `config.auth`:
 *  - `moderator`, `operator`: an admin bearer token (`modgate token issue`) with at least that role;
 *  - `streamer`: the account's own token (`Bearer at_…`); the handler reads `req.account`;
 *  - `webhook`: signed by a provider; the route checks the signature in its own `preValidation` hook
 *    (so a bad signature is refused before the body is validated);
 *  - `public`: anyone.
 */
export type Auth = Role | 'streamer' | 'webhook' | 'public';

export interface Principal {
  /** `token:<name>` for admin tokens, `account:<handle>` for streamers; recorded as the actor of every change. */
  actor: string;
  role: Auth;
  tokenId: string | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: Auth;
  }
  interface FastifyRequest {
    principal: Principal;
    /** The streamer's account on `streamer` routes; null elsewhere. */
    account: Account | null;
    /** The exact bytes of a JSON body (the identity webhook's HMAC is computed over them). */
    rawBody?: string;
  }
}

/** The API's fastify instance: the zod type provider types every route's request and reply. */
export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

/** A route module: adds its routes to the API. */
export type RouteModule = (app: ApiApp, ctx: ApiContext) => void;

/** A JSON response: its schema and what it means. */
export function json<S extends z.ZodType>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A binary response (an evidence image): the handler sends a Buffer with `reply.type(mediaType)`. */
export function binary(mediaType: string, description: string) {
  const schema = z.custom<Buffer>((v) => Buffer.isBuffer(v)).meta({ type: 'string', format: 'binary' });
  return { description, content: { [mediaType]: { schema } } };
}

/** A text response that is not JSON (a CSV file, metrics, server-sent events): the handler sends a string or a stream with `reply.type(mediaType)`. */
export function text(mediaTypes: string[], description: string) {
  const schema = z.custom<string | Readable>((v) => typeof v === 'string' || v instanceof Readable).meta({ type: 'string' });
  return { description, content: Object.fromEntries(mediaTypes.map((t) => [t, { schema }])) };
}

/** Error responses particular to a route (404, 409, …), each an `ErrorBody` with what it means there. */
export function errors<C extends number>(described: Record<C, string>): Record<C, ReturnType<typeof json<typeof ErrorBody>>> {
  const out = {} as Record<C, ReturnType<typeof json<typeof ErrorBody>>>;
  for (const [code, description] of Object.entries(described) as Array<[string, string]>) out[Number(code) as C] = json(ErrorBody, description);
  return out;
}
