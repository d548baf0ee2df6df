import { z } from 'zod';
import {
  backtestResponse,
  BacktestRequestError,
  baselinePolicy,
  checkRange,
  DEFAULT_BACKTEST_LIMITS,
  parseCandidate,
  parseTime,
  runStoredBacktest,
  type BacktestLimits,
} from '../policy-ops/backtest.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, HttpError, type RouteDef } from './route.ts';

/** `POST /api/v1/policy/backtest`: the HTTP side of the backtest service (gateway/policy-ops/backtest.ts). */

const TIME_HINT = 'expected an ISO 8601 time (2025-03-01T00:00:00Z) or epoch milliseconds';
const TimeSchema = z.union([z.string(), z.number()], { error: TIME_HINT }).transform((v, ctx) => {
  const ms = parseTime(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: TIME_HINT });
    return z.NEVER;
  }
  return ms;
});

export const BacktestBodySchema = z
  .object({
    /** The candidate policy text. */
    text: z.string().min(1, 'the candidate policy text is required').max(1_000_000),
    format: z.enum(['yaml', 'json']).optional(),
    since: TimeSchema,
    until: TimeSchema,
    /** Compare against this stored version instead of the active policy. */
    baselineVersionId: z.number().int().positive().optional(),
    maxExamples: z.number().int().min(0).max(50).default(5),
  })
  .strict();

export function makePolicyBacktestRoutes(limits: BacktestLimits = DEFAULT_BACKTEST_LIMITS): (ctx: ApiContext) => RouteDef[] {
  return (ctx) => [
    defineRoute({
      method: 'POST',
      path: '/api/v1/policy/backtest',
      summary: 'Dry-run a candidate policy: replay the stored signals of a time range and report which decisions would differ',
      tag: 'policy',
      role: 'operator',
      body: BacktestBodySchema,
      responses: {
        200: 'Per-rule counts of decisions added, removed, changed and retimed, with examples, and a comparison with the recorded decisions',
        400: 'Invalid candidate policy (every error with its key path), bad range, or too many streams/signals in the range',
        404: 'No such baseline version',
      },
      handler: async ({ body, reply }) => {
        try {
          const candidate = parseCandidate(body.text, body.format);
          checkRange(body.since, body.until, limits);
          const base = await baselinePolicy(ctx.policies, body.baselineVersionId);
          const report = await runStoredBacktest(ctx.store.db, {
            baseline: base.policy,
            candidate,
            since: body.since,
            until: body.until,
            maxExamples: body.maxExamples,
            limits,
            storedSignalsFloor: ctx.config.policy.storeSignalsFloor,
          });
          return backtestResponse(report, base.versionId);
        } catch (err) {
          if (!(err instanceof BacktestRequestError)) throw err;
          if (err.code === 'invalid_policy') {
            return reply.code(400).send({ error: err.code, message: err.message, field: 'body.text', errors: err.errors ?? [] });
          }
          throw new HttpError(400, err.code, `body.${err.field ?? 'since'}: ${err.message}`, err.field === undefined ? undefined : `body.${err.field}`);
        }
      },
    }),
  ];
}

export const policyBacktestRoutes = makePolicyBacktestRoutes();
