import type { RouteOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from './compilers.ts';
import { ResponseMismatchError } from './errors.ts';
import { errors, type ApiApp, type Auth } from './route.ts';

/**
 * What every API route gets without writing it (route.ts shows the pattern): zod validation and
 * serialization, the generic error statuses in its documented responses, and — with
 * `http.checkResponses` — a 500 for any answer its schema does not declare.
 */

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The error statuses a route can answer whatever it does, by how it is called. */
function genericErrors(route: RouteOptions): Record<number, string> {
  const method = String(route.method).toUpperCase();
  const takesBody = BODY_METHODS.has(method);
  const s = route.schema ?? {};
  const out: Record<number, string> = {};
  if (takesBody || s.body !== undefined || s.querystring !== undefined || s.params !== undefined)
    out[400] = 'Invalid request: `field` names the bad input (or invalid_json)';
  const auth = route.config?.auth;
  if (auth === 'moderator' || auth === 'operator' || auth === 'authority') {
    out[401] = 'Missing, invalid or revoked token';
    out[403] = `The token's role is not ${auth}${auth === 'moderator' ? ' or operator' : ''}`;
  }
  if (auth === 'streamer') out[401] = 'Missing, invalid or revoked account token';
  if (takesBody) {
    out[413] = 'Body too large';
    out[415] = 'Unsupported content type (JSON only)';
  }
  out[500] = 'Internal error';
  return out;
}

/** A registered API route, as `app.apiRoutes` lists it. */
export interface ApiRouteInfo {
  method: string;
  url: string;
  auth: Auth;
  /** The request parts it validates with a schema. */
  validates: Array<'params' | 'querystring' | 'body'>;
  /** Declared response statuses. */
  statuses: string[];
  /** Hidden from the OpenAPI document (the document itself). */
  hidden: boolean;
}

export function installConventions(api: ApiApp, opts: { checkResponses: boolean; registered: ApiRouteInfo[] }): void {
  api.setValidatorCompiler(validatorCompiler);
  api.setSerializerCompiler(serializerCompiler(opts.checkResponses));

  api.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response) throw new Error(`${String(route.method)} ${route.url}: declare its responses (schema.response, see gateway/api/route.ts)`);
    const generic = errors(genericErrors(route));
    for (const [code, entry] of Object.entries(generic)) if (!(code in response)) response[code] = entry;
    const validates = (['params', 'querystring', 'body'] as const).filter((part) => route.schema?.[part] !== undefined);
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      opts.registered.push({
        method,
        url: route.url,
        auth: route.config?.auth ?? 'public',
        validates,
        statuses: Object.keys(response),
        hidden: route.schema?.hide === true,
      });
    }
  });

  if (opts.checkResponses) {
    api.addHook('onSend', async (req, reply, payload) => {
      const response = (req.routeOptions.schema?.response ?? {}) as Record<string, { content?: Record<string, unknown> } | undefined>;
      const status = reply.statusCode;
      const declared = response[String(status)] ?? response[`${String(status)[0]}xx`];
      if (!declared) throw new ResponseMismatchError(`${req.method} ${req.routeOptions.url} answered ${status}, a status its schema does not declare`);
      const mediaType = String(reply.getHeader('content-type') ?? '')
        .split(';')[0]!
        .trim();
      if (declared.content && !(mediaType in declared.content) && !('*/*' in declared.content)) {
        throw new ResponseMismatchError(
          `${req.method} ${req.routeOptions.url} answered ${status} as ${mediaType || 'no content type'}, not ${Object.keys(declared.content).join(' or ')}`,
        );
      }
      return payload;
    });
  }
}
