import { z } from 'zod';
import { addAccount, getAccount, HandleSchema, setIdentity } from '../identity/accounts.ts';
import { issueKey, revokeKeys } from '../identity/keys.ts';
import { activeSuspensionsFor, suspendAccount, suspensionHistory, unsuspendAccount } from '../enforcement/suspensions.ts';
import { queryAudit } from '../store/audit.ts';
import { addManualStrike, strikesOf, voidStrike } from '../enforcement/strikes.ts';
import { notFound } from '../errors.ts';
import type { Suspension } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { streamView } from './streams.ts';
import { defineRoute, type RouteDef } from './route.ts';

const Reason = z.string().trim().min(1, 'a reason is required').max(500);
const MAX_SUSPENSION_SECONDS = 100 * 365 * 24 * 3600;

export function suspensionView(s: Suspension) {
  return {
    id: s.id,
    reason: s.reason,
    startsAt: new Date(s.starts_at).toISOString(),
    endsAt: s.ends_at === null ? null : new Date(s.ends_at).toISOString(),
    permanent: s.ends_at === null,
    createdBy: s.created_by,
    decisionId: s.decision_id,
    liftedAt: s.lifted_at === null ? null : new Date(s.lifted_at).toISOString(),
    liftedBy: s.lifted_by,
    liftReason: s.lift_reason,
  };
}

export function accountRoutes(ctx: ApiContext): RouteDef[] {
  const db = ctx.store.db;
  const handleParam = { handle: 'Account handle' };

  /** Applies an account change to the gate and to live streams at once (not at the next poll). */
  const enforceNow = async (accountId: string, actor: string) => {
    await ctx.gate.refresh();
    await ctx.enforcer.enforce([accountId], actor);
  };

  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts',
      summary: 'Create an account',
      tag: 'accounts',
      role: 'operator',
      body: z.object({ handle: HandleSchema, verified: z.boolean().default(false), subject: z.string().min(1).max(200).optional() }).strict(),
      responses: { 201: 'Created', 400: 'Invalid body', 409: 'Handle taken' },
      handler: async ({ body, principal, reply }) => {
        const account = await addAccount(db, { id: principal.actor }, { handle: body.handle, verified: body.verified, subject: body.subject ?? null });
        await ctx.gate.refresh();
        reply.code(201);
        return { handle: account.handle, identityStatus: account.identity_status };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/accounts/:handle',
      summary: 'Identity status, active suspension and history of an account',
      tag: 'accounts',
      role: 'moderator',
      params: handleParam,
      responses: { 200: 'The account', 404: 'No such account' },
      handler: async ({ params }) => {
        const account = await getAccount(db, params.handle ?? '');
        const now = Date.now();
        const [active, history, streams, refusals, keys, audit] = await Promise.all([
          activeSuspensionsFor(db, account.id, account.identity_subject, now),
          suspensionHistory(db, account.id),
          db.selectFrom('streams').selectAll().where('account_id', '=', account.id).orderBy('started_at', 'desc').limit(50).execute(),
          db.selectFrom('publish_refusals').selectAll().where('account_id', '=', account.id).orderBy('at', 'desc').limit(50).execute(),
          db.selectFrom('stream_keys').select(['id', 'key_prefix', 'created_at', 'revoked_at', 'last_used_at']).where('account_id', '=', account.id).execute(),
          queryAudit(db, { targetType: 'account', targetId: account.handle, limit: 100 }),
        ]);
        return {
          handle: account.handle,
          identity: {
            status: account.identity_status,
            subject: account.identity_subject,
            method: account.identity_method,
            changedAt: account.identity_changed_at === null ? null : new Date(account.identity_changed_at).toISOString(),
          },
          activeSuspension: active[0] ? suspensionView(active[0]) : null,
          live: ctx.registry.byAccount(account.id).map(streamView),
          suspensions: history.map(suspensionView),
          streams: streams.map((s) => ({
            id: s.id,
            protocol: s.protocol,
            startedAt: new Date(s.started_at).toISOString(),
            endedAt: s.ended_at === null ? null : new Date(s.ended_at).toISOString(),
            endReason: s.end_reason,
            endDetail: s.end_detail,
          })),
          refusals: refusals.map((r) => ({ at: new Date(r.at).toISOString(), protocol: r.protocol, reason: r.reason, detail: r.detail })),
          keys: keys.map((k) => ({
            id: k.id,
            prefix: k.key_prefix,
            createdAt: new Date(k.created_at).toISOString(),
            revokedAt: k.revoked_at === null ? null : new Date(k.revoked_at).toISOString(),
            lastUsedAt: k.last_used_at === null ? null : new Date(k.last_used_at).toISOString(),
          })),
          audit,
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/verify',
      summary: 'Mark the account identity-verified',
      tag: 'accounts',
      role: 'operator',
      params: handleParam,
      body: z.object({ reason: Reason.optional(), subject: z.string().min(1).max(200).optional() }).strict(),
      responses: { 200: 'Verified', 404: 'No such account' },
      handler: async ({ params, body, principal }) => {
        const { after } = await setIdentity(db, { id: principal.actor }, params.handle ?? '', { status: 'verified', subject: body.subject ?? null, reason: body.reason ?? null });
        await ctx.gate.refresh();
        return { handle: after.handle, identityStatus: after.identity_status, subject: after.identity_subject };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/revoke',
      summary: "Revoke the account's identity verification (ends its live streams at once)",
      tag: 'accounts',
      role: 'operator',
      params: handleParam,
      body: z.object({ reason: Reason }).strict(),
      responses: { 200: 'Revoked', 400: 'Invalid body', 404: 'No such account' },
      handler: async ({ params, body, principal }) => {
        const { after } = await setIdentity(db, { id: principal.actor }, params.handle ?? '', { status: 'revoked', reason: body.reason });
        await enforceNow(after.id, principal.actor);
        return { handle: after.handle, identityStatus: after.identity_status };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/suspend',
      summary: "Suspend the account's (and its person's) live-streaming rights; cuts any live stream",
      tag: 'accounts',
      role: 'moderator',
      params: handleParam,
      body: z
        .object({
          reason: Reason,
          durationSeconds: z.number().int('durationSeconds must be a whole number').positive().max(MAX_SUSPENSION_SECONDS).optional(),
        })
        .strict(),
      responses: { 200: 'Suspended', 400: 'Invalid body', 404: 'No such account' },
      handler: async ({ params, body, principal }) => {
        const handle = params.handle ?? '';
        const suspension = await suspendAccount(db, { id: principal.actor }, handle, { reason: body.reason, durationSeconds: body.durationSeconds });
        await enforceNow(suspension.account_id, principal.actor);
        return { handle, suspension: suspensionView(suspension) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/unsuspend',
      summary: 'Lift the active suspension',
      tag: 'accounts',
      role: 'moderator',
      params: handleParam,
      body: z.object({ reason: Reason }).strict(),
      responses: { 200: 'Lifted', 404: 'No such account', 409: 'Not suspended' },
      handler: async ({ params, body, principal }) => {
        const lifted = await unsuspendAccount(db, { id: principal.actor }, params.handle ?? '', body.reason);
        await ctx.gate.refresh();
        return { handle: params.handle, lifted: lifted.map(suspensionView) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/keys',
      summary: 'Issue a stream key (shown once)',
      tag: 'accounts',
      role: 'operator',
      params: handleParam,
      responses: { 201: 'The new key', 404: 'No such account' },
      handler: async ({ params, principal, reply }) => {
        const { key, record } = await issueKey(db, { id: principal.actor }, params.handle ?? '');
        await ctx.gate.refresh();
        reply.code(201);
        return { keyId: record.id, streamKey: key };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/keys/revoke',
      summary: "Revoke the account's stream keys (one, or all); live streams using them end",
      tag: 'accounts',
      role: 'operator',
      params: handleParam,
      body: z.object({ keyId: z.string().min(1).optional(), reason: Reason.optional() }).strict(),
      responses: { 200: 'Revoked', 404: 'No such account or key' },
      handler: async ({ params, body, principal }) => {
        const revoked = await revokeKeys(db, { id: principal.actor }, params.handle ?? '', { keyId: body.keyId, reason: body.reason ?? null });
        const accountId = revoked[0]?.account_id;
        if (accountId) await enforceNow(accountId, principal.actor);
        return { revoked: revoked.map((k) => k.id) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/strikes',
      summary: 'Record a strike by hand (counts toward escalation for every account of the person)',
      tag: 'accounts',
      role: 'moderator',
      params: handleParam,
      body: z
        .object({
          category: z.string().min(1).max(80).regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a category is lowercase a-z, 0-9, _ . -'),
          severity: z.enum(['low', 'medium', 'high', 'critical']),
          reason: Reason,
          expiresInDays: z.number().int().min(1).max(3650).default(90),
          streamId: z.string().min(1).optional(),
        })
        .strict(),
      responses: { 201: 'Recorded', 400: 'Invalid body', 404: 'No such account' },
      handler: async ({ params, body, principal, reply }) => {
        const strike = await addManualStrike(db, { id: principal.actor }, params.handle ?? '', body);
        reply.code(201);
        return { strike: { id: strike.id, category: strike.category, severity: strike.severity, expiresAt: new Date(strike.expires_at).toISOString() } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/accounts/:handle/strikes',
      summary: "The account's strikes (active, expired and voided)",
      tag: 'accounts',
      role: 'moderator',
      params: handleParam,
      responses: { 200: 'Strikes', 404: 'No such account' },
      handler: async ({ params }) => {
        const account = await getAccount(db, params.handle ?? '');
        const now = Date.now();
        return {
          strikes: (await strikesOf(db, account.id)).map((s) => ({
            id: s.id,
            category: s.category,
            severity: s.severity,
            ruleId: s.rule_id,
            decisionId: s.decision_id,
            at: new Date(s.at).toISOString(),
            expiresAt: new Date(s.expires_at).toISOString(),
            active: s.voided_at === null && s.expires_at > now,
            voided: s.voided_at !== null,
            voidReason: s.void_reason,
          })),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/strikes/:id/void',
      summary: 'Void a strike (it no longer counts toward escalation)',
      tag: 'accounts',
      role: 'moderator',
      params: { id: 'Strike id (stk_…)' },
      body: z.object({ reason: Reason }).strict(),
      responses: { 200: 'Voided', 404: 'No such active strike' },
      handler: async ({ params, body, principal }) => {
        const n = await voidStrike(db, { id: principal.actor }, params.id ?? '', body.reason);
        if (n === 0) throw notFound(`active strike '${params.id}'`);
        return { voided: params.id };
      },
    }),
  ];
}
