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
import { errors, HttpError, json, type ApiApp, type RouteModule } from './route.ts';
import { IsoTime, JsonObject, Reason } from './schemas.ts';
import { ActionsView } from './views/decision.ts';

const Format = z.enum(['yaml', 'json']);
const VersionId = z.number().int().positive();

const TIME_HINT = 'expected an ISO 8601 time (2025-03-01T00:00:00Z) or epoch milliseconds';
const TimeSchema = z
  .union([z.string(), z.number()], { error: TIME_HINT })
  .transform((v, ctx) => {
    const ms = parseTime(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: TIME_HINT });
      return z.NEVER;
    }
    return ms;
  })
  .describe('ISO 8601 time or epoch milliseconds');

export const BacktestBodySchema = z
  .object({
    text: z.string().min(1, 'the candidate policy text is required').max(1_000_000).describe('The candidate policy text'),
    format: Format.optional(),
    since: TimeSchema,
    until: TimeSchema,
    baselineVersionId: VersionId.optional().describe('Compare against this stored version instead of the active policy'),
    maxExamples: z.number().int().min(0).max(50).default(5),
  })
  .strict();

const EnforcedShadow = z.object({ enforced: z.number().int(), shadow: z.number().int() });
const Tally = z.object({
  decisions: z.number().int(),
  enforced: z.number().int(),
  shadow: z.number().int(),
  cuts: z.number().int(),
  suspensions: z.number().int(),
  permanentSuspensions: z.number().int(),
  strikes: z.number().int(),
  reviews: z.number().int(),
  streamsCut: z.number().int(),
});
const DecisionSummary = z.object({
  decidedAt: z.number(),
  at: IsoTime,
  shadow: z.boolean(),
  actions: ActionsView,
  summary: z.string().describe('`cut, suspend 30d, strike graphic-violence/high, review high` (prefixed `shadow:` for shadow)'),
  reason: z.string(),
  evidenceRefs: z.array(z.string()),
  signalRefs: z.array(
    z.object({
      index: z.number().int(),
      observedAt: z.number(),
      ingestedAt: z.number().optional().describe("when the signal's media reached the gateway, where the ingest knew it"),
    }),
  ),
  escalationStep: z.number().int().nullable(),
});
const PolicyName = z.object({ name: z.string(), version: z.string() });

/** policy/backtest.ts `BacktestReport` as the API answers it (gateway/policy-ops `backtestResponse`). */
const BacktestResponse = z
  .object({
    baseline: PolicyName.extend({ versionId: z.number().int().describe('0: the built-in default policy') }),
    candidate: PolicyName,
    range: z.object({ since: z.number().nullable(), until: z.number().nullable() }),
    since: IsoTime,
    until: IsoTime,
    streams: z.number().int(),
    signals: z.number().int(),
    totals: z.object({
      baseline: Tally,
      candidate: Tally,
      recorded: Tally.nullable(),
      added: z.number().int(),
      removed: z.number().int(),
      changed: z.number().int(),
      retimed: z.number().int(),
      unchanged: z.number().int(),
      streamsAffected: z.number().int(),
      streamsNewlyCut: z.number().int(),
      streamsNoLongerCut: z.number().int(),
    }),
    rules: z.array(
      z.object({
        ruleId: z.string(),
        inBaseline: z.boolean(),
        inCandidate: z.boolean(),
        baseline: EnforcedShadow,
        candidate: EnforcedShadow,
        recorded: EnforcedShadow.nullable(),
        added: EnforcedShadow,
        removed: EnforcedShadow,
        changed: z.number().int(),
        retimed: z.number().int(),
        unchanged: z.number().int(),
        examples: z.array(
          z.object({
            change: z.enum(['added', 'removed', 'changed', 'retimed']),
            streamId: z.string(),
            accountId: z.string(),
            ruleId: z.string(),
            decidedAt: z.number(),
            at: IsoTime,
            differences: z.array(z.string()),
            baseline: DecisionSummary.nullable(),
            candidate: DecisionSummary.nullable(),
          }),
        ),
      }),
    ),
    recorded: z
      .object({
        decisions: z.number().int(),
        reproducedByBaseline: z.number().int(),
        missedByBaseline: z.number().int(),
        extraInBaseline: z.number().int(),
        keptByCandidate: z.number().int(),
        droppedByCandidate: z.number().int(),
        newInCandidate: z.number().int(),
      })
      .nullable(),
    notes: z.array(z.string()).describe('What the replay could not cover'),
  })
  .meta({ id: 'BacktestReport' });

/** Policy: the active version, submitting and rolling back versions, and backtesting a candidate. */
export function makePolicyRoutes(limits: BacktestLimits = DEFAULT_BACKTEST_LIMITS): RouteModule {
  return (app: ApiApp, ctx: ApiContext) => {
    app.route({
      method: 'GET',
      url: '/api/v1/policy',
      config: { auth: 'moderator' },
      schema: {
        summary: 'The active policy (text and parsed form)',
        tags: ['policy'],
        response: {
          200: json(
            z.object({
              versionId: z.number().int().describe('0: the built-in default policy'),
              format: Format,
              text: z.string(),
              policy: JsonObject.describe('The parsed policy, normalised (docs/policy.md): durations in milliseconds, defaults filled in'),
            }),
            'Active policy',
          ),
        },
      },
      handler: async () => {
        const a = ctx.policies.current();
        return { versionId: a.versionId, format: a.format, text: a.text, policy: a.policy };
      },
    });

    app.route({
      method: 'PUT',
      url: '/api/v1/policy',
      config: { auth: 'operator' },
      schema: {
        summary: 'Submit a new policy version (validated; applies to running streams without a restart)',
        tags: ['policy'],
        body: z
          .object({
            text: z.string().min(1).max(1_000_000),
            format: Format.default('yaml'),
            comment: z.string().max(500).optional(),
            activate: z.boolean().default(true),
          })
          .strict(),
        response: {
          200: json(
            z.object({ versionId: z.number().int(), name: z.string(), version: z.string(), active: z.boolean() }),
            'Stored (and active unless activate=false)',
          ),
          ...errors({ 400: 'Invalid policy: every error with its key path (`errors`), or an invalid body' }),
        },
      },
      handler: async (req) => {
        const { body } = req;
        const res = await ctx.policies.submit(body.text, body.format, req.principal.actor, body.comment ?? null, body.activate);
        return { versionId: res.versionId, name: res.policy.name, version: res.policy.version, active: body.activate };
      },
    });

    app.route({
      method: 'GET',
      url: '/api/v1/policy/versions',
      config: { auth: 'operator' },
      schema: {
        summary: 'Stored policy versions, newest first',
        tags: ['policy'],
        response: {
          200: json(
            z.object({
              versions: z.array(
                z.object({ id: z.number().int(), author: z.string(), comment: z.string().nullable(), createdAt: IsoTime, active: z.boolean() }),
              ),
            }),
            'Versions',
          ),
        },
      },
      handler: async () => ({ versions: await ctx.policies.versions() }),
    });

    app.route({
      method: 'GET',
      url: '/api/v1/policy/versions/:id',
      config: { auth: 'operator' },
      schema: {
        summary: "One stored policy version with its text (the console's version history shows it and its diff against the active one)",
        tags: ['policy'],
        params: z.object({ id: z.coerce.number().int().min(1).describe('Version id (the shipped default, 0, is GET /api/v1/policy while active)') }),
        response: {
          200: json(
            z.object({
              id: z.number().int(),
              author: z.string(),
              comment: z.string().nullable(),
              createdAt: IsoTime,
              active: z.boolean(),
              format: Format,
              text: z.string(),
            }),
            'The version',
          ),
          ...errors({ 404: 'No such version' }),
        },
      },
      handler: async (req) => {
        const [meta, v] = await Promise.all([ctx.policies.versions(), ctx.policies.version(req.params.id)]);
        const m = meta.find((x) => x.id === v.id)!;
        return { ...m, format: v.format, text: v.text };
      },
    });

    app.route({
      method: 'POST',
      url: '/api/v1/policy/rollback',
      config: { auth: 'operator' },
      schema: {
        summary: 'Activate an earlier policy version; versionId 0 is the shipped default (stored as a new version and activated)',
        tags: ['policy'],
        body: z.object({ versionId: z.number().int().min(0), reason: Reason }).strict(),
        response: {
          200: json(z.object({ versionId: z.number().int(), name: z.string(), version: z.string(), shippedDefault: z.boolean() }), 'Activated'),
          ...errors({ 404: 'No such version' }),
        },
      },
      handler: async (req) => {
        if (req.body.versionId === 0) {
          const a = await ctx.policies.rollbackToShipped(req.principal.actor, req.body.reason);
          return { versionId: a.versionId, name: a.policy.name, version: a.policy.version, shippedDefault: true };
        }
        const a = await ctx.policies.rollback(req.body.versionId, req.principal.actor, req.body.reason);
        if (a.versionId !== req.body.versionId) throw new HttpError(500, 'internal', 'rollback did not take effect');
        return { versionId: a.versionId, name: a.policy.name, version: a.policy.version, shippedDefault: false };
      },
    });

    app.route({
      method: 'POST',
      url: '/api/v1/policy/backtest',
      config: { auth: 'operator' },
      schema: {
        summary: 'Dry-run a candidate policy: replay the stored signals of a time range and report which decisions would differ',
        tags: ['policy'],
        body: BacktestBodySchema,
        response: {
          200: json(
            BacktestResponse,
            'Per-rule counts of decisions added, removed, changed and retimed, with examples, and a comparison with the recorded decisions',
          ),
          ...errors({
            400: 'Invalid candidate policy (invalid_policy, every error with its key path), bad range (invalid_range), or too many streams/signals in the range (too_large)',
            404: 'No such baseline version',
          }),
        },
      },
      handler: async ({ body }, reply) => {
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
    });
  };
}

export const policyRoutes = makePolicyRoutes();
