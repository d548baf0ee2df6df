import { z } from 'zod';
import { activeSuspensionsFor, suspendAccount, suspensionHistory, unsuspendAccount } from '../enforcement/suspensions.ts';
import { addManualStrike, strikesOf, voidStrike } from '../enforcement/strikes.ts';
import { notFound } from '../errors.ts';
import { addAccount, getAccount, HandleSchema, setIdentity } from '../identity/accounts.ts';
import { listBans } from '../identity/bans.ts';
import { searchAccounts } from '../identity/search.ts';
import { issueKey, revokeKeys } from '../identity/keys.ts';
import { banView, BanView } from './bans.ts';
import { queryAudit } from '../store/audit.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { ContentCategory, HandleParams, idParams, iso, limitQuery, IsoTime, IsoTimeOrNull, isoOrNull, Reason, Severity, StrikeId } from './schemas.ts';
import { AuditRecordView } from './views/audit.ts';
import { streamView, StreamView } from './views/stream.ts';
import { suspensionView, SuspensionView } from './views/suspension.ts';

const MAX_SUSPENSION_SECONDS = 100 * 365 * 24 * 3600;
const IdentityStatus = z.enum(['unverified', 'pending', 'verified', 'revoked']);
const Subject = z.string().min(1).max(200);

const AccountDetail = z.object({
  id: z.string().describe('acc_…'),
  handle: z.string(),
  identity: z.object({
    status: IdentityStatus,
    subject: z.string().nullable().describe("The verified person's id at the identity provider (shared by their accounts)"),
    method: z.string().nullable().describe('`operator`, `webhook:<provider>`, `demo`'),
    changedAt: IsoTimeOrNull,
    age: z
      .object({ over: z.number().int(), source: z.string().nullable(), checkedAt: IsoTimeOrNull })
      .nullable()
      .describe("The provider's age-assurance claim (at least `over` years old); null: none on record"),
  }),
  activeSuspension: SuspensionView.nullable(),
  activeBans: z.array(BanView).describe('Unlifted bans of the person behind this account (court-ordered or platform)'),
  live: z.array(StreamView),
  suspensions: z.array(SuspensionView),
  streams: z.array(
    z.object({
      id: z.string(),
      protocol: z.enum(['rtmp', 'websocket', 'rtsp', 'srt', 'webrtc']),
      server: z.string().nullable().describe("The upstream media server it was published to; null: modgate's own ingest"),
      startedAt: IsoTime,
      endedAt: IsoTimeOrNull,
      endReason: z.string().nullable(),
      endDetail: z.string().nullable(),
    }),
  ),
  refusals: z.array(
    z.object({
      at: IsoTime,
      protocol: z.enum(['rtmp', 'websocket', 'rtsp', 'srt', 'webrtc']),
      server: z.string().nullable().describe("The upstream media server whose publish hook was refused; null: modgate's own ingest"),
      reason: z.string(),
      detail: z.string().nullable(),
    }),
  ),
  keys: z.array(z.object({ id: z.string(), prefix: z.string(), createdAt: IsoTime, revokedAt: IsoTimeOrNull, lastUsedAt: IsoTimeOrNull })),
  audit: z.array(AuditRecordView),
});

const StrikeView = z.object({
  id: z.string(),
  category: z.string(),
  severity: Severity,
  ruleId: z.string(),
  decisionId: z.string().nullable(),
  at: IsoTime,
  expiresAt: IsoTime,
  active: z.boolean(),
  voided: z.boolean(),
  voidReason: z.string().nullable(),
});

/** Accounts: identity verification, suspensions, stream keys and strikes. */
export function accountRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  /** Applies an account change to the gate and to live streams at once (not at the next poll). */
  const enforceNow = async (accountId: string, actor: string) => {
    await ctx.gate.refresh();
    await ctx.enforcer.enforce([accountId], actor);
  };

  app.route({
    method: 'POST',
    url: '/api/v1/accounts',
    config: { auth: 'operator' },
    schema: {
      summary: 'Create an account',
      tags: ['accounts'],
      body: z.object({ handle: HandleSchema, verified: z.boolean().default(false), subject: Subject.optional() }).strict(),
      response: { 201: json(z.object({ handle: z.string(), identityStatus: IdentityStatus }), 'Created'), ...errors({ 409: 'Handle taken' }) },
    },
    handler: async (req, reply) => {
      const { body } = req;
      const account = await addAccount(db, { id: req.principal.actor }, { handle: body.handle, verified: body.verified, subject: body.subject ?? null });
      await ctx.gate.refresh();
      reply.code(201);
      return { handle: account.handle, identityStatus: account.identity_status };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/accounts',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Search accounts by handle prefix or identity subject, a page at a time (handle order)',
      tags: ['accounts'],
      querystring: z
        .object({
          q: z.string().trim().max(200).optional().describe('Handle prefix (case-insensitive), or an exact identity subject'),
          subject: Subject.optional().describe('Exact identity subject: every account of one person'),
          status: IdentityStatus.optional(),
          suspended: z.enum(['true', 'false']).optional(),
          live: z.enum(['true', 'false']).optional(),
          after: HandleSchema.optional().describe("The previous page's `next`"),
          limit: limitQuery(200, 50),
        })
        .strict(),
      response: {
        200: json(
          z.object({
            accounts: z.array(
              z.object({
                id: z.string(),
                handle: z.string(),
                identity: z.object({ status: IdentityStatus, subject: z.string().nullable() }),
                suspended: z.boolean().describe('An active suspension of the account or of the person behind it'),
                live: z.boolean(),
                createdAt: IsoTime,
              }),
            ),
            next: z.string().nullable().describe('Pass as `after` for the next page; null on the last page'),
          }),
          'Accounts',
        ),
      },
    },
    handler: async ({ query }) => {
      const res = await searchAccounts(db, {
        limit: query.limit,
        now: Date.now(),
        ...(query.q ? { q: query.q } : {}),
        ...(query.subject ? { subject: query.subject } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(query.suspended ? { suspended: query.suspended === 'true' } : {}),
        ...(query.live ? { live: query.live === 'true' } : {}),
        ...(query.after ? { after: query.after } : {}),
      });
      return {
        accounts: res.accounts.map((a) => ({
          id: a.id,
          handle: a.handle,
          identity: { status: a.identity_status, subject: a.identity_subject },
          suspended: a.suspended,
          live: a.live,
          createdAt: iso(a.created_at),
        })),
        next: res.next,
      };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/accounts/:handle',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Identity status, active suspension and history of an account',
      tags: ['accounts'],
      params: HandleParams,
      response: { 200: json(AccountDetail, 'The account'), ...errors({ 404: 'No such account' }) },
    },
    handler: async (req) => {
      const account = await getAccount(db, req.params.handle);
      const now = Date.now();
      const [active, bans, history, streams, refusals, keys, audit] = await Promise.all([
        activeSuspensionsFor(db, account.id, account.identity_subject, now),
        account.identity_subject ? listBans(db, { subject: account.identity_subject }) : Promise.resolve([]),
        suspensionHistory(db, account.id),
        db.selectFrom('streams').selectAll().where('account_id', '=', account.id).orderBy('started_at', 'desc').limit(50).execute(),
        db.selectFrom('publish_refusals').selectAll().where('account_id', '=', account.id).orderBy('at', 'desc').limit(50).execute(),
        db.selectFrom('stream_keys').select(['id', 'key_prefix', 'created_at', 'revoked_at', 'last_used_at']).where('account_id', '=', account.id).execute(),
        queryAudit(db, { targetType: 'account', targetId: account.handle, limit: 100 }),
      ]);
      return {
        id: account.id,
        handle: account.handle,
        identity: {
          status: account.identity_status,
          subject: account.identity_subject,
          method: account.identity_method,
          changedAt: isoOrNull(account.identity_changed_at),
          age: account.age_over === null ? null : { over: account.age_over, source: account.age_source, checkedAt: isoOrNull(account.age_checked_at) },
        },
        activeSuspension: active[0] ? suspensionView(active[0]) : null,
        activeBans: bans.map((b) => banView(b, now)),
        live: ctx.registry.byAccount(account.id).map((s) => streamView(s, ctx.live)),
        suspensions: history.map(suspensionView),
        streams: streams.map((s) => ({
          id: s.id,
          protocol: s.protocol,
          server: s.server,
          startedAt: iso(s.started_at),
          endedAt: isoOrNull(s.ended_at),
          endReason: s.end_reason,
          endDetail: s.end_detail,
        })),
        refusals: refusals.map((r) => ({ at: iso(r.at), protocol: r.protocol, server: r.server, reason: r.reason, detail: r.detail })),
        keys: keys.map((k) => ({
          id: k.id,
          prefix: k.key_prefix,
          createdAt: iso(k.created_at),
          revokedAt: isoOrNull(k.revoked_at),
          lastUsedAt: isoOrNull(k.last_used_at),
        })),
        audit,
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/verify',
    config: { auth: 'operator' },
    schema: {
      summary: 'Mark the account identity-verified',
      tags: ['accounts'],
      params: HandleParams,
      body: z.object({ reason: Reason.optional(), subject: Subject.optional() }).strict(),
      response: {
        200: json(z.object({ handle: z.string(), identityStatus: IdentityStatus, subject: z.string().nullable() }), 'Verified'),
        ...errors({ 404: 'No such account' }),
      },
    },
    handler: async (req) => {
      const { after } = await setIdentity(db, { id: req.principal.actor }, req.params.handle, {
        status: 'verified',
        subject: req.body.subject ?? null,
        reason: req.body.reason ?? null,
      });
      await ctx.gate.refresh();
      return { handle: after.handle, identityStatus: after.identity_status, subject: after.identity_subject };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/revoke',
    config: { auth: 'operator' },
    schema: {
      summary: "Revoke the account's identity verification (ends its live streams at once)",
      tags: ['accounts'],
      params: HandleParams,
      body: z.object({ reason: Reason }).strict(),
      response: { 200: json(z.object({ handle: z.string(), identityStatus: IdentityStatus }), 'Revoked'), ...errors({ 404: 'No such account' }) },
    },
    handler: async (req) => {
      const { after } = await setIdentity(db, { id: req.principal.actor }, req.params.handle, { status: 'revoked', reason: req.body.reason });
      await enforceNow(after.id, req.principal.actor);
      return { handle: after.handle, identityStatus: after.identity_status };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/suspend',
    config: { auth: 'moderator' },
    schema: {
      summary: "Suspend the account's (and its person's) live-streaming rights; cuts any live stream",
      tags: ['accounts'],
      params: HandleParams,
      body: z
        .object({
          reason: Reason,
          durationSeconds: z
            .number()
            .int('durationSeconds must be a whole number')
            .positive()
            .max(MAX_SUSPENSION_SECONDS)
            .optional()
            .describe('omitted: permanent'),
          category: ContentCategory.optional().describe(
            'What the content was (a bank or strike category such as `graphic-violence`): the statement of reasons states its ground; omitted: the terms of service',
          ),
        })
        .strict(),
      response: { 200: json(z.object({ handle: z.string(), suspension: SuspensionView }), 'Suspended'), ...errors({ 404: 'No such account' }) },
    },
    handler: async (req) => {
      const { handle } = req.params;
      const suspension = await suspendAccount(db, { id: req.principal.actor }, handle, {
        reason: req.body.reason,
        durationSeconds: req.body.durationSeconds,
        category: req.body.category ?? null,
      });
      await enforceNow(suspension.account_id, req.principal.actor);
      return { handle, suspension: suspensionView(suspension) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/unsuspend',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Lift the active suspension',
      tags: ['accounts'],
      params: HandleParams,
      body: z.object({ reason: Reason }).strict(),
      response: {
        200: json(z.object({ handle: z.string(), lifted: z.array(SuspensionView) }), 'Lifted'),
        ...errors({ 404: 'No such account', 409: 'Not suspended' }),
      },
    },
    handler: async (req) => {
      const lifted = await unsuspendAccount(db, { id: req.principal.actor }, req.params.handle, req.body.reason);
      await ctx.gate.refresh();
      return { handle: req.params.handle, lifted: lifted.map(suspensionView) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/keys',
    config: { auth: 'operator' },
    schema: {
      summary: 'Issue a stream key (shown once)',
      tags: ['accounts'],
      params: HandleParams,
      response: {
        201: json(z.object({ keyId: z.string(), streamKey: z.string().describe('sk_…, shown only here') }), 'The new key'),
        ...errors({ 404: 'No such account' }),
      },
    },
    handler: async (req, reply) => {
      const { key, record } = await issueKey(db, { id: req.principal.actor }, req.params.handle);
      await ctx.gate.refresh();
      reply.code(201);
      return { keyId: record.id, streamKey: key };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/keys/revoke',
    config: { auth: 'operator' },
    schema: {
      summary: "Revoke the account's stream keys (one, or all); live streams using them end",
      tags: ['accounts'],
      params: HandleParams,
      body: z.object({ keyId: z.string().min(1).optional().describe('omitted: every key'), reason: Reason.optional() }).strict(),
      response: { 200: json(z.object({ revoked: z.array(z.string()).describe('Key ids') }), 'Revoked'), ...errors({ 404: 'No such account or key' }) },
    },
    handler: async (req) => {
      const revoked = await revokeKeys(db, { id: req.principal.actor }, req.params.handle, { keyId: req.body.keyId, reason: req.body.reason ?? null });
      const accountId = revoked[0]?.account_id;
      if (accountId) await enforceNow(accountId, req.principal.actor);
      return { revoked: revoked.map((k) => k.id) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/strikes',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Record a strike by hand (counts toward escalation for every account of the person)',
      tags: ['accounts'],
      params: HandleParams,
      body: z
        .object({
          category: z
            .string()
            .min(1)
            .max(80)
            .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a category is lowercase a-z, 0-9, _ . -'),
          severity: Severity,
          reason: Reason,
          expiresInDays: z.number().int().min(1).max(3650).default(90),
          streamId: z.string().min(1).optional(),
        })
        .strict(),
      response: {
        201: json(z.object({ strike: z.object({ id: z.string(), category: z.string(), severity: Severity, expiresAt: IsoTime }) }), 'Recorded'),
        ...errors({ 404: 'No such account' }),
      },
    },
    handler: async (req, reply) => {
      const strike = await addManualStrike(db, { id: req.principal.actor }, req.params.handle, req.body);
      reply.code(201);
      return { strike: { id: strike.id, category: strike.category, severity: strike.severity, expiresAt: iso(strike.expires_at) } };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/accounts/:handle/strikes',
    config: { auth: 'moderator' },
    schema: {
      summary: "The account's strikes (active, expired and voided)",
      tags: ['accounts'],
      params: HandleParams,
      response: { 200: json(z.object({ strikes: z.array(StrikeView) }), 'Strikes'), ...errors({ 404: 'No such account' }) },
    },
    handler: async (req) => {
      const account = await getAccount(db, req.params.handle);
      const now = Date.now();
      return {
        strikes: (await strikesOf(db, account.id)).map((s) => ({
          id: s.id,
          category: s.category,
          severity: s.severity,
          ruleId: s.rule_id,
          decisionId: s.decision_id,
          at: iso(s.at),
          expiresAt: iso(s.expires_at),
          active: s.voided_at === null && s.expires_at > now,
          voided: s.voided_at !== null,
          voidReason: s.void_reason,
        })),
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/strikes/:id/void',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Void a strike (it no longer counts toward escalation)',
      tags: ['accounts'],
      params: idParams(StrikeId),
      body: z.object({ reason: Reason }).strict(),
      response: { 200: json(z.object({ voided: z.string().describe('The strike id') }), 'Voided'), ...errors({ 404: 'No such active strike' }) },
    },
    handler: async (req) => {
      const { id } = req.params;
      const n = await voidStrike(db, { id: req.principal.actor }, id, req.body.reason);
      if (n === 0) throw notFound(`active strike '${id}'`);
      return { voided: id };
    },
  });
}
