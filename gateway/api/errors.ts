import type { FastifyError, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { firstIssue } from '../validation.ts';
import type { ErrorBody } from './schemas.ts';

/**
 * Every failure becomes one JSON shape, `{error, message, field?}` (schemas.ts `ErrorBody`), with a
 * stable code: errors thrown by handlers (HttpError, DomainError, ZodError), request validation (the
 * 400 names the field as `body.x`, `query.x` or `params.x`), fastify's own client errors (malformed
 * JSON, body too large, wrong content type) and anything unexpected (500, logged, no details leaked).
 */

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

/** A request part that does not match its route's schema; fastify adds which part (`validationContext`). */
export class RequestValidationError extends Error {
  validationContext?: string;
  constructor(readonly zodError: z.ZodError) {
    super(zodError.message);
  }
}

/** A response that does not match its route's schema: a bug in the gateway (checked when `http.checkResponses` is on). */
export class ResponseMismatchError extends Error {}

/** fastify names the query `querystring`; clients (and our messages) call it `query`. */
const PART: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

export function errorReply(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } };
  if (err instanceof RequestValidationError) {
    const { path, message } = firstIssue(err.zodError);
    const where = PART[err.validationContext ?? 'body'] ?? 'body';
    const field = path === '(root)' ? where : `${where}.${path}`;
    return { status: 400, body: { error: 'invalid_request', message: `${field}: ${message}`, field } };
  }
  if (err instanceof DomainError) {
    const status = { not_found: 404, conflict: 409, invalid: 400, forbidden: 403 }[err.code];
    return { status, body: { error: err.code, message: err.message, ...err.details } };
  }
  if (err instanceof z.ZodError) {
    const { path, message } = firstIssue(err);
    return { status: 400, body: { error: 'invalid_request', message: `${path}: ${message}`, field: path } };
  }
  const e = err as Partial<FastifyError>;
  if (!(err instanceof ResponseMismatchError) && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Fastify's own client errors: wrong content type (415), body too large (413), and the like.
    return { status: e.statusCode, body: { error: e.code ?? 'bad_request', message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = errorReply(err);
    if (status >= 500) req.log.error({ err, url: req.routeOptions.url }, 'request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));
}
