import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Role } from '../admin/tokens.ts';
import { DomainError } from '../errors.ts';
import { firstIssue } from '../validation.ts';

export interface Principal {
  /** `token:<name>` for admin tokens; recorded as the actor of every change. */
  actor: string;
  role: Role | 'webhook' | 'public';
  tokenId: string | null;
}

/** One API route: its schemas drive both validation and the OpenAPI document, so the two cannot drift. */
export interface RouteDef<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify path syntax (`/api/v1/streams/:id/cut`). */
  path: string;
  summary: string;
  tag: string;
  /** null: no bearer token (the handler authenticates some other way, or the route is public). */
  role: Role | null;
  params?: Record<string, string>;
  body?: B;
  query?: Q;
  responses: Record<number, string>;
  handler: (ctx: {
    req: FastifyRequest;
    reply: FastifyReply;
    body: z.infer<B>;
    query: z.infer<Q>;
    params: Record<string, string>;
    principal: Principal;
  }) => Promise<unknown>;
}

/** Keeps each route's body and query types inferred from its own schemas. */
export function defineRoute<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType>(def: RouteDef<B, Q>): RouteDef {
  return def as unknown as RouteDef;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query'): z.infer<S> {
  const parsed = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (parsed.success) return parsed.data;
  const { path, message } = firstIssue(parsed.error);
  const field = path === '(root)' ? where : `${where}.${path}`;
  throw new HttpError(400, 'invalid_request', `${field}: ${message}`, field);
}

export function errorStatus(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } };
  if (err instanceof DomainError) {
    const status = { not_found: 404, conflict: 409, invalid: 400, forbidden: 403 }[err.code];
    return { status, body: { error: err.code, message: err.message, ...err.details } };
  }
  if (err instanceof z.ZodError) {
    const { path, message } = firstIssue(err);
    return { status: 400, body: { error: 'invalid_request', message: `${path}: ${message}`, field: path } };
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Fastify's own client errors: malformed JSON, wrong content type, body too large.
    return { status: e.statusCode, body: { error: e.code ?? 'bad_request', message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}

export function registerRoutes(app: FastifyInstance, routes: RouteDef[], authenticate: (req: FastifyRequest, role: Role | null) => Promise<Principal>): void {
  for (const def of routes) {
    app.route({
      method: def.method,
      url: def.path,
      handler: async (req, reply) => {
        const principal = await authenticate(req, def.role);
        const body = def.body ? parseWith(def.body, req.body, 'body') : undefined;
        const query = def.query ? parseWith(def.query, req.query, 'query') : undefined;
        const result = await def.handler({ req, reply, body, query, params: req.params as Record<string, string>, principal });
        if (reply.sent) return reply;
        return result ?? { ok: true };
      },
    });
  }
}
