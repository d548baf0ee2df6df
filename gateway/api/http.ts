import Fastify, { type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { consoleRoutes } from '../../console/serve.ts';
import type { WsIngest } from '../ingest/websocket.ts';
import type { Database } from '../store/schema.ts';
import { accountRoutes } from './accounts.ts';
import { appealRoutes } from './appeals.ts';
import { auditRoutes } from './audit.ts';
import { installAuth } from './auth.ts';
import { bankEntryRoutes } from './bank-entries.ts';
import { bankRoutes } from './banks.ts';
import { banRoutes } from './bans.ts';
import type { ApiContext } from './context.ts';
import { installConventions, type ApiRouteInfo } from './conventions.ts';
import { decisionRoutes } from './decisions.ts';
import { eventRoutes } from './events.ts';
import { exchangeRoutes } from './exchanges.ts';
import { opinionRoutes } from './opinions.ts';
import { hmaRoutes } from './hma.ts';
import { hmaHashRoutes } from './hma-hash.ts';
import { incidentRoutes } from './incidents.ts';
import { HttpError, installErrorHandlers } from './errors.ts';
import { identityWebhookRoutes } from './identity-webhook.ts';
import { mediaHookRoutes } from './media-hooks.ts';
import { openApiRoute, registerOpenApi } from './openapi.ts';
import { operationsRoutes } from './operations.ts';
import { policyRoutes } from './policy.ts';
import type { ApiApp, RouteModule } from './route.ts';
import { orderRoutes } from './orders.ts';
import { transparencyRoutes } from './transparency.ts';
import { reportRoutes } from './reports.ts';
import { statementRoutes } from './statements.ts';
import { statsRoutes } from './stats.ts';
import { streamerRoutes } from './streamer.ts';
import { streamRoutes } from './streams.ts';
import { streamTimelineRoutes } from './stream-timeline.ts';

export type { RouteModule } from './route.ts';

/** Route modules of the core gateway (each file's routes; route.ts shows how one is written). Later stages add theirs through `extraRoutes`. */
export const API_ROUTES: RouteModule[] = [
  operationsRoutes,
  streamRoutes,
  streamTimelineRoutes,
  accountRoutes,
  identityWebhookRoutes,
  mediaHookRoutes,
  auditRoutes,
  decisionRoutes,
  bankRoutes,
  bankEntryRoutes,
  policyRoutes,
  streamerRoutes,
  appealRoutes,
  banRoutes,
  statementRoutes,
  eventRoutes,
  reportRoutes,
  exchangeRoutes,
  hmaRoutes,
  hmaHashRoutes,
  opinionRoutes,
  incidentRoutes,
  orderRoutes,
  transparencyRoutes,
  statsRoutes,
];

declare module 'fastify' {
  interface FastifyInstance {
    /** Every API route as registered (method, URL, who may call it), for the OpenAPI checks and tools. */
    apiRoutes: readonly ApiRouteInfo[];
  }
}

export interface ApiServerOptions {
  log: Logger;
  version: string;
  db: Kysely<Database>;
  /** `http.checkResponses`: answer 500 to a response its schema does not describe (tests). */
  checkResponses: boolean;
  /** Adds the routes to the API context. */
  routes: (api: ApiApp) => void;
  /** Slow-client bounds (config `http`); Node's defaults otherwise (60 s for headers, 300 s for a request). */
  limits?: { headersTimeoutMs: number; requestTimeoutMs: number; maxConnections: number };
}

/** The fastify server with the API's conventions; `buildHttpServer` fills it with the gateway's routes. */
export async function createApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request access logs stay off (info); warnings and errors still reach the gateway's log (unless it is quieter still).
    loggerInstance: opts.log.child({ component: 'http' }, { level: opts.log.levelVal > 40 ? opts.log.level : 'warn' }) as unknown as Logger,
    bodyLimit: 256 * 1024,
    // Stream keys never travel in URLs, but tokens could be pasted into one by mistake: keep URLs out of logs.
    trustProxy: false,
    // Long-lived responses (the push event stream, live FLV) would keep close() waiting: a stopping
    // gateway has cut every stream already, so close whatever connection is left.
    forceCloseConnections: true,
    // A client sending its headers a byte a second (a WebSocket upgrade included) is closed after
    // headersTimeout; Node checks every connectionsCheckingInterval, so keep that well below it.
    ...(opts.limits
      ? {
          requestTimeout: opts.limits.requestTimeoutMs,
          http: { headersTimeout: opts.limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, Math.floor(opts.limits.headersTimeoutMs / 4)) },
        }
      : {}),
  }) as unknown as FastifyInstance;
  if (opts.limits) app.server.maxConnections = opts.limits.maxConnections;

  // Keep the raw body: the identity webhook's HMAC is computed over the exact bytes received.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    req.rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new HttpError(400, 'invalid_json', 'the request body is not valid JSON'), undefined);
    }
  });
  installErrorHandlers(app);
  await registerOpenApi(app, opts.version);

  const routes: ApiRouteInfo[] = [];
  app.decorate('apiRoutes', routes);
  // The API is one encapsulated context: its conventions (auth, zod compilers, response checks) apply to
  // its routes only, so a plugin registered beside it (static files for the console) is left alone.
  await app.register(async (instance) => {
    const api: ApiApp = instance.withTypeProvider<ZodTypeProvider>();
    installConventions(api, { checkResponses: opts.checkResponses, registered: routes });
    installAuth(api, opts.db);
    // One line per admin action (a change made with an admin token): who, which route, the outcome. The
    // route's pattern, not the URL, is written (a token pasted into a URL stays out of the log).
    instance.addHook('onResponse', (req, reply, done) => {
      const actor = req.principal?.actor;
      if (req.method !== 'GET' && req.method !== 'HEAD' && actor?.startsWith('token:')) {
        opts.log.info({ actor, method: req.method, route: req.routeOptions.url, status: reply.statusCode }, 'admin action');
      }
      done();
    });
    openApiRoute(api);
    opts.routes(api);
  });
  return app;
}

export async function buildHttpServer(ctx: ApiContext, ws: WsIngest | null, extraRoutes: RouteModule[] = []): Promise<FastifyInstance> {
  const app = await createApiServer({
    log: ctx.log,
    version: ctx.version,
    db: ctx.store.db,
    checkResponses: ctx.config.http.checkResponses,
    limits: {
      headersTimeoutMs: ctx.config.http.headersTimeoutMs,
      requestTimeoutMs: ctx.config.http.requestTimeoutMs,
      maxConnections: ctx.config.http.maxConnections,
    },
    routes: (api) => {
      for (const module of [...API_ROUTES, ...extraRoutes]) module(api, ctx);
    },
  });
  // The console and /broadcast pages (built into console/dist at install), beside the API context.
  await app.register(consoleRoutes);
  app.server.on('upgrade', (req, socket, head) => {
    if (ws && ws.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  return app;
}
