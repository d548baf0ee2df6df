import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { findAccount, setIdentity } from '../identity/accounts.ts';
import { checkSignature, IdentityEventSchema } from '../identity/webhook.ts';
import { RefusalAudit } from '../security/refusal-audit.ts';
import { appendAudit } from '../store/audit.ts';
import { writeUnit, type UnitAudit } from '../store/journal/unit.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';

const STATUS = { 'identity.verified': 'verified', 'identity.pending': 'pending', 'identity.revoked': 'revoked', 'identity.failed': 'unverified' } as const;

/** The identity-verification provider's webhook (HMAC-SHA256 over the raw body; see gateway/identity/webhook.ts). */
export function identityWebhookRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  // Through the node's writer where there is one: during a database outage a refusal's audit row waits in
  // the local journal (the caller still gets its 401) instead of failing the request and being lost.
  const audit = (entry: UnitAudit): Promise<void> =>
    ctx.journal?.write
      ? ctx.journal.write(writeUnit({ id: `audit:${randomUUID()}`, at: entry.at, audits: [entry] })).then(() => undefined)
      : appendAudit(db, entry);

  // Unsigned and forged calls are audited per source and reason in windows (config abuse.auditWindowMs, one minute) (one row at once,
  // one with the count at the window's end), so a flood cannot grow the append-only log by a row per post.
  const refusals = new RefusalAudit(
    (r) =>
      audit({
        actor: 'webhook',
        action: 'identity.webhook.refused',
        targetType: 'webhook',
        targetId: 'unknown',
        reason: r.reason,
        detail: {
          remote: r.source,
          count: r.count,
          ...(r.aggregated ? { aggregated: true, firstAt: new Date(r.firstAt).toISOString(), lastAt: new Date(r.lastAt).toISOString() } : {}),
        },
        at: r.lastAt,
      }),
    { windowMs: ctx.config.abuse.auditWindowMs, limit: ctx.config.abuse.maxRefusalsPerWindow, maxSources: ctx.config.abuse.maxSources },
  );
  app.addHook('onClose', async () => {
    await refusals.flushAll();
  });

  const refuse = async (req: FastifyRequest, reason: string, eventId: string | null): Promise<never> => {
    if (eventId !== null) {
      // A replay carried a valid signature: the provider (or someone holding its secret) sent it; always audited.
      await audit({
        actor: 'webhook',
        action: 'identity.webhook.refused',
        targetType: 'webhook',
        targetId: eventId,
        reason,
        detail: { remote: req.ip },
        at: Date.now(),
      });
    } else if (!(await refusals.refuse(req.ip, reason))) {
      throw new HttpError(429, 'rate_limited', 'too many refused webhook calls from this source; slow down');
    }
    throw new HttpError(401, 'unauthorized', `webhook refused: ${reason}`);
  };

  /** Before the body is validated: an unsigned or forged request learns nothing about the event schema. */
  const verifySignature = async (req: FastifyRequest) => {
    const secret = ctx.config.identity.webhookSecret;
    if (!secret) throw new HttpError(404, 'not_configured', 'the identity webhook is not configured (identity.webhookSecret)');
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = checkSignature(
      secret,
      { timestamp: header('x-modgate-timestamp'), signature: header('x-modgate-signature') },
      req.rawBody ?? '',
      Date.now(),
      ctx.config.identity.webhookToleranceSeconds,
    );
    if (!check.ok) await refuse(req, check.reason, null);
  };

  app.route({
    method: 'POST',
    url: '/api/v1/identity/webhook',
    config: { auth: 'webhook' },
    preValidation: verifySignature,
    schema: {
      summary: 'Identity-verification provider webhook (HMAC-SHA256 signed)',
      tags: ['identity'],
      body: IdentityEventSchema,
      response: {
        200: json(
          z.object({
            eventId: z.string(),
            outcome: z.enum(['applied', 'unknown_account']),
            identityStatus: z.enum(['unverified', 'pending', 'verified', 'revoked']).optional().describe("Applied: the account's identity status now"),
          }),
          'Processed',
        ),
        ...errors({
          401: 'Missing, bad, stale or replayed signature (recorded in the audit log: per source and reason, one row at once and one with the count a minute later)',
          404: 'Webhook not configured',
          429: 'Over 100 refused calls from this source in a minute (code `rate_limited`); a correctly signed call is still accepted',
        }),
      },
    },
    handler: async (req) => {
      const event = req.body;
      const seen = await db.selectFrom('identity_events').select('event_id').where('event_id', '=', event.id).executeTakeFirst();
      // A correctly signed event seen before is a replay: refused and recorded, and it changes nothing.
      if (seen) return refuse(req, 'replayed', event.id);

      const account = await findAccount(db, event.handle);
      const outcome = account ? ('applied' as const) : ('unknown_account' as const);
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('identity_events')
          .values({ event_id: event.id, received_at: Date.now(), event_type: event.type, handle: event.handle, subject: event.subject ?? null, outcome })
          .execute();
      });
      if (!account) return { eventId: event.id, outcome };
      const actor = `webhook:${event.provider}`;
      const age =
        event.ageOver === undefined
          ? undefined
          : {
              over: event.ageOver,
              source: `${event.provider}:${event.ageSource ?? 'unspecified'}`,
              checkedAt: event.ageCheckedAt ? Date.parse(event.ageCheckedAt) : Date.now(),
            };
      const { after } = await setIdentity(db, { id: actor }, event.handle, {
        status: STATUS[event.type],
        subject: event.subject ?? null,
        reason: `provider event ${event.id}`,
        age,
      });
      await ctx.gate.refresh();
      await ctx.enforcer.enforce([after.id], actor);
      return { eventId: event.id, outcome, identityStatus: after.identity_status };
    },
  });
}
