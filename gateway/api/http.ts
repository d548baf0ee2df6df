import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { authenticateToken, roleAllows, type Role } from '../admin/tokens.ts';
import type { WsIngest } from '../ingest/websocket.ts';
import { accountRoutes } from './accounts.ts';
import { auditRoutes } from './audit.ts';
import type { ApiContext } from './context.ts';
import { identityWebhookRoutes } from './identity-webhook.ts';
import { openApiDocument } from './openapi.ts';
import { errorStatus, HttpError, registerRoutes, type Principal, type RouteDef } from './route.ts';
import { streamRoutes } from './streams.ts';
import { moderationRoutes } from './moderation.ts';
import { policyBacktestRoutes } from './policy-backtest.ts';
import { appealRoutes } from './appeals.ts';
import { streamerRoutes } from './streamer.ts';
import { consoleRoutes } from '../../console/serve.ts';

export type RouteModule = (ctx: ApiContext) => RouteDef[];

/** Route modules of the core gateway; later stages (banks, policy, review) add theirs through `extraRoutes`. */
export const CORE_ROUTES: RouteModule[] = [streamRoutes, accountRoutes, identityWebhookRoutes, auditRoutes, moderationRoutes, streamerRoutes, appealRoutes, policyBacktestRoutes];

export async function buildHttpServer(ctx: ApiContext, ws: WsIngest | null, extraRoutes: RouteModule[] = []): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request access logs stay off (info); warnings and errors still reach the gateway's log.
    loggerInstance: ctx.log.child({ component: 'http' }, { level: 'warn' }) as unknown as Logger,
    bodyLimit: 256 * 1024,
    // Stream keys never travel in URLs, but tokens could be pasted into one by mistake: keep URLs out of logs.
    trustProxy: false,
  }) as unknown as FastifyInstance;

  // Keep the raw body: the identity webhook's HMAC is computed over the exact bytes received.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    (req as FastifyRequest & { rawBody?: string }).rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new HttpError(400, 'invalid_json', 'the request body is not valid JSON'), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = errorStatus(err);
    if (status >= 500) req.log.error({ err, url: req.routeOptions.url }, 'request failed');
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  const authenticate = async (req: FastifyRequest, role: Role | null): Promise<Principal> => {
    if (role === null) return { actor: 'anonymous', role: 'public', tokenId: null };
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null;
    if (!match) throw new HttpError(401, 'unauthorized', 'missing bearer token');
    const token = await authenticateToken(ctx.store.db, match[1]!);
    if (!token) throw new HttpError(401, 'unauthorized', 'invalid or revoked token');
    if (!roleAllows(token.role, role)) throw new HttpError(403, 'forbidden', `this action needs the ${role} role`);
    return { actor: `token:${token.name}`, role: token.role, tokenId: token.id };
  };

  const routes = [...CORE_ROUTES, ...extraRoutes].flatMap((m) => m(ctx));
  registerRoutes(app, routes, authenticate);

  app.get('/healthz', async () => {
    await ctx.store.db.selectFrom('accounts').select('id').limit(1).execute();
    return { status: 'ok', version: ctx.version, liveStreams: ctx.registry.list().length };
  });
  app.get('/metrics', async (req, reply) => {
    await authenticate(req, 'moderator');
    if (!ctx.metrics) throw new HttpError(404, 'not_found', 'metrics are not enabled');
    return reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics());
  });
  const doc = openApiDocument(routes, ctx.version);
  app.get('/api/openapi.json', async () => doc);
  // The console and /broadcast pages (built into console/dist at install).
  await app.register(consoleRoutes);

  app.server.on('upgrade', (req, socket, head) => {
    if (ws && ws.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
  return app;
}
