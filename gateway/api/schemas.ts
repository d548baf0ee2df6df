import { z } from 'zod';
import { HandleSchema } from '../identity/handle.ts';

/**
 * Shapes shared by many routes: the error body, ids in paths, reasons, times, paging. A route module
 * imports these rather than writing its own, so the same thing validates and documents the same way
 * everywhere (and appears once in the OpenAPI document's components).
 */

/** Every error answer: a stable `error` code (tests and clients branch on it), a message, and the bad field for a 400. */
export const ErrorBody = z
  .object({
    error: z.string().describe('Stable error code: invalid_request, invalid_json, unauthorized, forbidden, not_found, conflict, invalid_policy, …'),
    message: z.string(),
    field: z.string().optional().describe('The offending input for a 400: `body.x`, `query.x` or `params.x`'),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('Every error of an invalid policy, with its key path'),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** An opaque prefixed id as the gateway makes them (`str_…`, `dec_…`): anything else is a 400 before any lookup. */
export function idOf(prefix: string, description: string) {
  return z
    .string()
    .regex(new RegExp(`^${prefix}_[A-Za-z0-9_-]{1,64}$`), `expected a ${prefix}_… id`)
    .describe(description);
}

export const StreamId = idOf('str', 'Stream id (str_…)');
export const DecisionId = idOf('dec', 'Decision id (dec_…)');
export const StrikeId = idOf('stk', 'Strike id (stk_…)');
export const AppealId = idOf('apl', 'Appeal id (apl_…)');

/** `/:handle` path parameter. */
export const HandleParams = z.object({ handle: HandleSchema.describe('Account handle') });
/** `/:id` path parameter of the given id kind. */
export const idParams = <S extends z.ZodString>(id: S) => z.object({ id });

export const Severity = z.enum(['low', 'medium', 'high', 'critical']);

/** A human reason, recorded in the audit log. */
export const Reason = z.string().trim().min(1, 'a reason is required').max(500);

/** What restricted content was (a bank or strike category such as `graphic-violence`): the statement of reasons states its ground. */
export const ContentCategory = z.string().regex(/^[a-z0-9][a-z0-9-]{0,59}$/);

/** ISO 8601 text for a time the API reports (epoch ms in the database). */
export const IsoTime = z.string().describe('ISO 8601 time');
export const IsoTimeOrNull = IsoTime.nullable();
export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `?limit=` of a list: how many items at most. */
export const limitQuery = (max: number, byDefault = 100) => z.coerce.number().int().min(1).max(max).default(byDefault);
/** `?before=` of a list paged backwards by numeric id: items with a smaller id (pass the previous page's `next`). */
export const BeforeQuery = z.coerce.number().int().positive().optional();
/** `next` of such a page: the cursor for the following page, null on the last one. */
export const NextCursor = z.number().int().nullable().describe('Pass as `before` for the next page; null on the last page');

/** An item's JSON kept as it was recorded (audit details, evidence facts): documented as an object, not checked further. */
export const JsonObject = z.record(z.string(), z.unknown());
