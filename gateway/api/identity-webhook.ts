import type { FastifyRequest } from 'fastify';
import { findAccount, setIdentity } from '../identity/accounts.ts';
import { checkSignature, IdentityEventSchema } from '../identity/webhook.ts';
import { appendAudit } from '../store/audit.ts';
import { firstIssue } from '../validation.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, HttpError, type RouteDef } from './route.ts';

const STATUS = { 'identity.verified': 'verified', 'identity.pending': 'pending', 'identity.revoked': 'revoked', 'identity.failed': 'unverified' } as const;

export function identityWebhookRoutes(ctx: ApiContext): RouteDef[] {
  const db = ctx.store.db;

  const refuse = async (req: FastifyRequest, reason: string, eventId: string | null): Promise<never> => {
    await appendAudit(db, {
      actor: 'webhook',
      action: 'identity.webhook.refused',
      targetType: 'webhook',
      targetId: eventId ?? 'unknown',
      reason,
      detail: { remote: req.ip },
    });
    throw new HttpError(401, 'unauthorized', `webhook refused: ${reason}`);
  };

  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/identity/webhook',
      summary: 'Identity-verification provider webhook (HMAC-SHA256 signed)',
      tag: 'identity',
      role: null,
      responses: { 200: 'Processed (or already processed)', 400: 'Invalid event', 401: 'Bad, stale or replayed signature', 404: 'Webhook not configured' },
      handler: async ({ req }) => {
        const secret = ctx.config.identity.webhookSecret;
        if (!secret) throw new HttpError(404, 'not_configured', 'the identity webhook is not configured (identity.webhookSecret)');
        const raw = (req as FastifyRequest & { rawBody?: string }).rawBody ?? '';
        const header = (name: string) => {
          const v = req.headers[name];
          return Array.isArray(v) ? v[0] : v;
        };
        const check = checkSignature(secret, { timestamp: header('x-modgate-timestamp'), signature: header('x-modgate-signature') }, raw, Date.now(), ctx.config.identity.webhookToleranceSeconds);
        if (!check.ok) return refuse(req, check.reason, null);

        const parsed = IdentityEventSchema.safeParse(req.body);
        if (!parsed.success) {
          const { path, message } = firstIssue(parsed.error);
          throw new HttpError(400, 'invalid_request', `body.${path}: ${message}`, `body.${path}`);
        }
        const event = parsed.data;
        const seen = await db.selectFrom('identity_events').select('event_id').where('event_id', '=', event.id).executeTakeFirst();
        // A correctly signed event seen before is a replay: refused and recorded, and it changes nothing.
        if (seen) return refuse(req, 'replayed', event.id);

        const account = await findAccount(db, event.handle);
        const outcome = account ? 'applied' : 'unknown_account';
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto('identity_events')
            .values({ event_id: event.id, received_at: Date.now(), event_type: event.type, handle: event.handle, subject: event.subject ?? null, outcome })
            .execute();
        });
        if (!account) return { eventId: event.id, outcome };
        const actor = `webhook:${event.provider}`;
        const { after } = await setIdentity(db, { id: actor }, event.handle, { status: STATUS[event.type], subject: event.subject ?? null, reason: `provider event ${event.id}` });
        await ctx.gate.refresh();
        await ctx.enforcer.enforce([after.id], actor);
        return { eventId: event.id, outcome, identityStatus: after.identity_status };
      },
    }),
  ];
}
