import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import type { z } from 'zod';
import { formatIssuePath, firstIssue } from '../validation.ts';
import { RequestValidationError, ResponseMismatchError } from './errors.ts';

/**
 * fastify's schema compilers for zod schemas (its declared extension point; fastify-type-provider-zod
 * supplies the types and the OpenAPI transform). Ours differ from that package's in two ways:
 *  - the validator keeps the ZodError, so a 400 names the field exactly as before (`body.entries[0].hash`);
 *  - the serializer never rewrites a response: it sends what the handler returned, as JSON. A zod
 *    object strips unknown keys, so serializing through the schema would silently drop a field a client
 *    reads; instead, with `check` on (tests), a response the schema does not describe exactly — a wrong
 *    type, a missing field, or a field the schema does not list — is a 500 naming the path.
 */

export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: new RequestValidationError(result.error) };
  };

export function serializerCompiler(check: boolean): FastifySerializerCompiler<z.ZodType> {
  return ({ schema, method, url, httpStatus }) =>
    (data) => {
      if (check) {
        const mismatch = responseMismatch(schema, data);
        if (mismatch !== null) throw new ResponseMismatchError(`${method} ${url} → ${httpStatus}: the response does not match its schema at ${mismatch}`);
      }
      return JSON.stringify(data);
    };
}

/** Where `value`, as a client reads it (JSON), departs from `schema`; null when the schema describes it exactly. */
export function responseMismatch(schema: z.ZodType, value: unknown): string | null {
  const sent: unknown = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  const parsed = schema.safeParse(sent);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    return `${path}: ${message}`;
  }
  return firstDifference(sent, parsed.data, []);
}

/** Parsing must give back what was sent: a key it dropped is undocumented, one it added or changed is a default or transform in a response schema. */
function firstDifference(sent: unknown, parsed: unknown, path: PropertyKey[]): string | null {
  const at = () => formatIssuePath(path);
  if (Array.isArray(sent) && Array.isArray(parsed)) {
    for (let i = 0; i < sent.length; i++) {
      const d = firstDifference(sent[i], parsed[i], [...path, i]);
      if (d !== null) return d;
    }
    return null;
  }
  if (isObject(sent) && isObject(parsed)) {
    for (const key of Object.keys(sent)) {
      if (!(key in parsed)) return `${formatIssuePath([...path, key])}: a field the schema does not list`;
      const d = firstDifference(sent[key], parsed[key], [...path, key]);
      if (d !== null) return d;
    }
    for (const key of Object.keys(parsed))
      if (!(key in sent)) return `${formatIssuePath([...path, key])}: added by the schema (no default belongs in a response schema)`;
    return null;
  }
  return Object.is(sent, parsed) ? null : `${at()}: changed by the schema (no transform belongs in a response schema)`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
