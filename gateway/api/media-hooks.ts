import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { MediaServerConfig } from '../config.ts';
import { addressAllowed, serverBySecret } from '../hooks/access.ts';
import type { AuthorizeResult, HookAdapter, HookEvent } from '../hooks/adapter.ts';
import { MediaMtxAdapter, MediaMtxAuthRequest } from '../hooks/mediamtx.ts';
import { NginxRtmpAdapter, NginxRtmpCall } from '../hooks/nginx-rtmp.ts';
import { OmeAdapter, OmeAdmission, omeSignatureValid } from '../hooks/ome.ts';
import { SrsAdapter, SrsHookRequest } from '../hooks/srs.ts';
import { firstIssue } from '../validation.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';

/**
 * The publish hooks of upstream media servers (gateway/hooks/): one route per server kind, each callable
 * only by a configured server of that kind — its secret in the hook URL's query and a source address on
 * its allow-list — and answering in that server's own terms.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** The configured media server a hook request was recognised as (set by the hook's preValidation). */
    mediaServer?: MediaServerConfig;
  }
}

export const HookAnswer = z
  .object({
    allowed: z.boolean(),
    stream: z.string().nullable().describe('The live stream id (str_…), when the answer concerns one'),
    name: z.string().nullable().describe('The public name the stream is published under (nginx-rtmp: the rename)'),
  })
  .meta({ id: 'HookAnswer' });

const SecretQuery = z.object({ secret: z.string().min(1).max(512).describe("The server's shared secret (servers[].secret)") }).strict();

/** Identifies the calling server: secret first (which server it claims to be), then its allow-list. */
function identify(ctx: ApiContext, kind: MediaServerConfig['kind']) {
  return async (req: FastifyRequest) => {
    const servers = ctx.config.servers.filter((s) => s.kind === kind);
    if (servers.length === 0) throw new HttpError(404, 'not_configured', `no ${kind} server is configured (servers: in the config)`);
    const secret = (req.query as Record<string, unknown> | undefined)?.secret;
    const server = serverBySecret(servers, kind, typeof secret === 'string' ? secret : undefined);
    if (!server) {
      ctx.log.warn({ remote: req.ip, kind }, 'media-server hook refused: missing or wrong secret');
      throw new HttpError(401, 'unauthorized', 'missing or wrong hook secret');
    }
    if (!addressAllowed(server, req.ip)) {
      ctx.log.warn({ remote: req.ip, server: server.name }, 'media-server hook refused: source address not allowed');
      throw new HttpError(403, 'forbidden', `source address ${req.ip} is not allowed for server '${server.name}'`);
    }
    req.mediaServer = server;
  };
}

/** OME signs instead of carrying a secret: the server is the one whose SecretKey verifies X-OME-Signature. */
function identifyOme(ctx: ApiContext) {
  return async (req: FastifyRequest) => {
    const servers = ctx.config.servers.filter((s) => s.kind === 'ome');
    if (servers.length === 0) throw new HttpError(404, 'not_configured', 'no ome server is configured (servers: in the config)');
    const header = req.headers['x-ome-signature'];
    const signature = Array.isArray(header) ? header[0] : header;
    const server = servers.find((s) => omeSignatureValid(s.secret, req.rawBody ?? '', signature)) ?? null;
    if (!server) {
      ctx.log.warn({ remote: req.ip, kind: 'ome' }, 'media-server hook refused: missing or bad X-OME-Signature');
      throw new HttpError(401, 'unauthorized', 'missing or bad X-OME-Signature');
    }
    if (!addressAllowed(server, req.ip)) {
      ctx.log.warn({ remote: req.ip, server: server.name }, 'media-server hook refused: source address not allowed');
      throw new HttpError(403, 'forbidden', `source address ${req.ip} is not allowed for server '${server.name}'`);
    }
    req.mediaServer = server;
  };
}

/** Runs one hook event through the shared publish path; `null` result: nothing to decide (ended, other). */
function decide(
  ctx: ApiContext,
  adapter: HookAdapter,
  server: MediaServerConfig,
  event: HookEvent,
): AuthorizeResult | { ok: true; streamId: string | null; publicName: null } | { ok: false; reason: 'not_allowed'; message: string } {
  const hooks = ctx.hooks;
  switch (event.type) {
    case 'publish':
      return hooks.authorize(adapter, server, event.publish, event.publish.names.fixedName);
    case 'recheck':
      return hooks.recheck(server, event.publish);
    case 'ended':
      return { ok: true, streamId: hooks.ended(server, event.publish), publicName: null };
    case 'other':
      return event.allow ? { ok: true, streamId: null, publicName: null } : { ok: false, reason: 'not_allowed', message: `${event.what} is not allowed` };
  }
}

function parseForm(body: unknown): Record<string, string> {
  if (typeof body !== 'string') return {};
  return Object.fromEntries(new URLSearchParams(body));
}

export function mediaHookRoutes(app: ApiApp, ctx: ApiContext): void {
  const nginx = new NginxRtmpAdapter();

  // nginx-rtmp posts urlencoded forms; the parser is scoped to this route's context (the API stays JSON-only).
  app.register(async (child: ApiApp) => {
    child.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    child.route({
      method: 'POST',
      url: '/api/v1/hooks/nginx-rtmp',
      config: { auth: 'webhook' },
      preValidation: identify(ctx, 'nginx-rtmp'),
      schema: {
        summary: 'nginx-rtmp notify callbacks (on_publish, on_update, on_publish_done): 2xx allows, 3xx renames, other refuses',
        description:
          "Point `on_publish`, `on_update` and `on_publish_done` at this URL with `?secret=…`. The body is nginx-rtmp's urlencoded form (app, name, tcurl, addr, clientid, call…); " +
          'a publish whose key is its name is answered 302 with `Location: <public name>` (nginx renames the stream, so the key never names a play or HLS URL).',
        tags: ['hooks'],
        querystring: SecretQuery,
        response: {
          200: json(HookAnswer, "Allowed (or noted: publish_done, viewers' calls)"),
          302: json(HookAnswer, 'Allowed, renamed: `Location` is the public name nginx publishes the stream under'),
          ...errors({
            401: 'Missing or wrong secret',
            403: "Refused: the error code is the gate's reason (unknown_key, not_verified, suspended, …), or not_live for a re-check of an ended stream; or a source address not allowed",
            404: 'No nginx-rtmp server configured',
          }),
        },
      },
      handler: async (req, reply: FastifyReply) => {
        const parsed = NginxRtmpCall.safeParse(parseForm(req.body));
        if (!parsed.success) {
          const issue = firstIssue(parsed.error);
          throw new HttpError(400, 'invalid_request', issue.message, `body.${issue.path}`);
        }
        const server = req.mediaServer!;
        const event = nginx.parse(parsed.data);
        const result = decide(ctx, nginx, server, event);
        if (!result.ok) throw new HttpError(403, result.reason, result.message);
        const name = result.publicName;
        const answer = { allowed: true, stream: result.streamId, name };
        if (event.type === 'publish' && name !== null && name !== parsed.data.name) {
          return reply.code(302).header('location', name).send(answer);
        }
        return answer;
      },
    });
  });

  const mediamtx = new MediaMtxAdapter();
  app.route({
    method: 'POST',
    url: '/api/v1/hooks/mediamtx',
    config: { auth: 'webhook' },
    preValidation: identify(ctx, 'mediamtx'),
    schema: {
      summary: 'MediaMTX external HTTP authentication (authMethod: http): 2xx allows',
      description:
        'Set `authHTTPAddress` to this URL with `?secret=…`. Publishes are gated (the key as password, token or `?key=`); reads are allowed; api/metrics/pprof only with the configured control credentials.',
      tags: ['hooks'],
      querystring: SecretQuery,
      body: MediaMtxAuthRequest,
      response: {
        200: json(HookAnswer, 'Allowed'),
        ...errors({ 401: 'Missing or wrong secret', 403: "Refused: the gate's reason as the error code", 404: 'No MediaMTX server configured' }),
      },
    },
    handler: async (req) => {
      const server = req.mediaServer!;
      const result = decide(ctx, mediamtx, server, mediamtx.parse(req.body, server));
      if (!result.ok) throw new HttpError(403, result.reason, result.message);
      return { allowed: true, stream: result.streamId, name: result.publicName };
    },
  });

  const srs = new SrsAdapter();
  app.route({
    method: 'POST',
    url: '/api/v1/hooks/srs',
    config: { auth: 'webhook' },
    preValidation: identify(ctx, 'srs'),
    schema: {
      summary: 'SRS http_hooks (on_publish, on_unpublish, …): HTTP 200 with body 0 allows',
      description:
        "Point `on_publish` and `on_unpublish` (and optionally on_play/on_stop) at this URL with `?secret=…`. The key travels in the publisher's query (`?key=sk_…`).",
      tags: ['hooks'],
      querystring: SecretQuery,
      body: SrsHookRequest,
      response: {
        200: json(z.literal(0), 'Allowed: SRS reads the body `0` as success'),
        ...errors({ 401: 'Missing or wrong secret', 403: "Refused: the gate's reason as the error code", 404: 'No SRS server configured' }),
      },
    },
    handler: async (req) => {
      const server = req.mediaServer!;
      const result = decide(ctx, srs, server, srs.parse(req.body));
      if (!result.ok) throw new HttpError(403, result.reason, result.message);
      return 0 as const;
    },
  });

  const ome = new OmeAdapter();
  const OmeAnswer = z
    .object({
      allowed: z.boolean().optional().describe('Absent in the answer to a closing'),
      new_url: z.string().optional().describe('The publish renamed to its public stream id (a key-named stream)'),
      lifetime: z.number().int().optional().describe('ms until OME ends the publish and asks again (servers[].recheckSeconds)'),
      reason: z.string().optional(),
    })
    .meta({ id: 'OmeAdmissionAnswer' });
  app.route({
    method: 'POST',
    url: '/api/v1/hooks/ome',
    config: { auth: 'webhook' },
    preValidation: identifyOme(ctx),
    schema: {
      summary: 'OvenMediaEngine AdmissionWebhooks (X-OME-Signature, HMAC-SHA1): answered {allowed, new_url, lifetime, reason}',
      description:
        "Set `<AdmissionWebhooks><ControlServerUrl>` to this URL and `<SecretKey>` to the server's secret. A refusal is HTTP 200 with `allowed: false`, as OME expects.",
      tags: ['hooks'],
      body: OmeAdmission,
      response: {
        200: json(OmeAnswer, 'The admission answer (`{}` to a closing)'),
        ...errors({ 401: 'Missing or bad signature', 403: 'Source address not allowed', 404: 'No OME server configured' }),
      },
    },
    handler: async (req) => {
      const server = req.mediaServer!;
      const event = ome.parse(req.body);
      if (req.body.request.status === 'closing') {
        decide(ctx, ome, server, event);
        return {};
      }
      const result = decide(ctx, ome, server, event);
      if (!result.ok) return { allowed: false, reason: `${result.reason}: ${result.message}` };
      if (event.type !== 'publish') return { allowed: true };
      const newUrl = result.publicName !== null ? ome.newUrl(event.publish, result.publicName) : null;
      return {
        allowed: true,
        ...(newUrl ? { new_url: newUrl } : {}),
        ...(server.recheckSeconds > 0 ? { lifetime: server.recheckSeconds * 1000 } : {}),
        reason: 'authorized',
      };
    },
  });
}
