import { automatedReason, DETECTION_INTERNALS, isAutomated, streamerReason } from '../enforcement/streamer-words.ts';
import { z } from 'zod';
import { appealBlocker, banAppealBlocker, fileAppeal, listAppeals, STATEMENT_MAX, suspensionAppealBlocker, type AppealTarget } from '../enforcement/appeals.ts';
import { isBanActive, listBans } from '../identity/bans.ts';
import { statementsOf, streamerText } from '../accountability/statements/service.ts';
import { activeSuspensionsFor } from '../enforcement/suspensions.ts';
import { authorizeAccount } from '../identity/gate.ts';
import { issueAccountToken } from '../identity/account-tokens.ts';
import type { Account, AppealRow, PersonBan, Suspension } from '../store/schema.ts';
import { ownAccount } from './auth.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { HandleParams, iso as isoOf, IsoTime, IsoTimeOrNull, isoOrNull } from './schemas.ts';
import { appealOutcome, deciderKind, streamerAppealView, StreamerAppealView } from './views/appeal.ts';
import { EnforcementSummary, GoLive, MyAppealRef, MyStatus, StreamerBan, StreamerSuspension } from './views/streamer-status.ts';

const RestrictionId = z.string().trim().min(1).max(100);
const AppealBodySchema = z
  .object({
    decisionId: RestrictionId.optional().describe('The decision appealed'),
    suspensionId: RestrictionId.optional().describe('Or: a suspension that came with no decision (a moderator set it on the account)'),
    banId: RestrictionId.optional().describe('Or: a platform ban of you as a person'),
    statement: z.string().trim().min(1, 'a statement is required').max(STATEMENT_MAX, `at most ${STATEMENT_MAX} characters`),
  })
  .strict()
  .refine((b) => [b.decisionId, b.suspensionId, b.banId].filter((x) => x !== undefined).length === 1, {
    message: 'name exactly one of decisionId, suspensionId, banId',
    path: ['decisionId'],
  });

function appealTargetOf(b: z.infer<typeof AppealBodySchema>): AppealTarget {
  if (b.decisionId !== undefined) return { kind: 'decision', id: b.decisionId };
  if (b.suspensionId !== undefined) return { kind: 'suspension', id: b.suspensionId };
  return { kind: 'ban', id: b.banId! };
}

const HOW_TO_APPEAL = {
  text:
    'If you think a decision against you was wrong, you may appeal it once. Send the decision id and a statement ' +
    `(1–${STATEMENT_MAX} characters) saying why; a moderator will uphold or overturn it. If it is overturned, its strike ` +
    'is voided and its suspension lifted, and you may go live again at once. A suspension that came with no decision, ' +
    'or a ban of you by the platform, is appealed the same way with its suspensionId or banId. Read the outcome at GET /api/v1/me/appeals.',
  method: 'POST',
  endpoint: '/api/v1/me/appeals',
  body: { decisionId: 'dec_… (or suspensionId: sus_…, or banId: ban_…)', statement: 'why the decision was wrong' },
  outcomes: 'GET /api/v1/me/appeals',
} as const;

const appealRef = (a: AppealRow): z.infer<typeof MyAppealRef> => ({ id: a.id, status: a.status, createdAt: isoOf(a.created_at), outcome: appealOutcome(a) });

/** The suspension that keeps the account off air longest (permanent first). */
function bindingSuspension(active: Suspension[]): Suspension | null {
  let best: Suspension | null = null;
  for (const s of active) {
    if (!best || s.ends_at === null || (best.ends_at !== null && s.ends_at > best.ends_at)) best = s;
    if (best.ends_at === null) break;
  }
  return best;
}

/**
 * A suspension's reason as its streamer reads it. An automated one stored before reasons were written in
 * plain words (gateway/enforcement/decisions.ts) still holds the engine's text: it is replaced here.
 */
function suspensionReason(s: Pick<Suspension, 'reason' | 'created_by'>): string {
  return isAutomated(s.created_by) && DETECTION_INTERNALS.test(s.reason) ? automatedReason(null) : s.reason;
}

function streamerSuspensionView(s: Suspension, own: Account, appeals: ReadonlyMap<string, AppealRow>, now: number): z.infer<typeof StreamerSuspension> {
  const appeal = appeals.get(s.id) ?? null;
  // Another account's suspension binds this one through the person: it is appealed from that account.
  const blocker = s.account_id === own.id ? suspensionAppealBlocker(s, appeal, now) : 'it was set on another of your accounts: appeal it from there';
  return {
    appealable: blocker === null,
    notAppealableBecause: blocker,
    appeal: appeal ? appealRef(appeal) : null,
    id: s.id,
    reason: suspensionReason(s),
    decidedBy: deciderKind(s.created_by),
    rule: s.created_by.startsWith('policy:') ? s.created_by.slice('policy:'.length) : null,
    // Only the account's own decisions can be appealed from this account.
    decisionId: s.account_id === own.id ? s.decision_id : null,
    viaOtherAccount: s.account_id !== own.id,
    startsAt: isoOf(s.starts_at),
    endsAt: isoOrNull(s.ends_at),
    permanent: s.ends_at === null,
  };
}

function enforcementSummary(actionsJson: string): z.infer<typeof EnforcementSummary> {
  const a = JSON.parse(actionsJson) as {
    cut?: boolean;
    suspend?: { untilMs: number | null };
    strike?: { category: string; severity: string; expiresAt: number };
    warn?: { message: string };
  };
  return {
    cut: a.cut === true,
    suspension: a.suspend ? { until: isoOrNull(a.suspend.untilMs), permanent: a.suspend.untilMs === null } : null,
    strike: a.strike ? { category: a.strike.category, severity: a.strike.severity, expiresAt: isoOf(a.strike.expiresAt) } : null,
    warning: a.warn?.message ?? null,
  };
}

function streamerBanView(b: PersonBan, appeals: ReadonlyMap<string, AppealRow>, now: number): z.infer<typeof StreamerBan> {
  const appeal = appeals.get(b.id) ?? null;
  const blocker = banAppealBlocker(b, appeal, now);
  return {
    id: b.id,
    kind: b.kind,
    reason: b.reason,
    legalReference: b.legal_reference,
    startsAt: isoOf(b.starts_at),
    endsAt: isoOrNull(b.ends_at),
    appealable: blocker === null,
    notAppealableBecause: blocker,
    appeal: appeal ? appealRef(appeal) : null,
  };
}

const MyAppeals = z.object({
  appeals: z.array(
    StreamerAppealView.extend({
      decision: z
        .object({
          id: z.string(),
          rule: z.string(),
          reason: z.string(),
          decidedAt: IsoTime,
          reviewStatus: z.enum(['none', 'pending', 'confirmed', 'overturned']),
        })
        .nullable(),
      restriction: z
        .object({ kind: z.enum(['suspension', 'ban']), id: z.string(), reason: z.string(), startsAt: IsoTime, endsAt: IsoTimeOrNull, liftedAt: IsoTimeOrNull })
        .nullable()
        .describe('The suspension or ban appealed (target.kind suspension or ban)'),
    }),
  ),
});

/**
 * Streamer-facing routes, authenticated by the account's own token (`Authorization: Bearer at_…`), not by an
 * admin token. They show the account only its own records; anything else is "not found".
 */
export function streamerRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'POST',
    url: '/api/v1/accounts/:handle/token',
    config: { auth: 'operator' },
    schema: {
      summary: "Issue the account's streamer token (at_…, shown once) for /api/v1/me; revokes the previous one",
      tags: ['accounts'],
      params: HandleParams,
      response: {
        201: json(
          z.object({
            handle: z.string(),
            tokenId: z.string(),
            accountToken: z.string().describe('at_…, shown only here'),
            revoked: z.array(z.string()).describe('Ids of the tokens it replaces'),
          }),
          'The new token',
        ),
        ...errors({ 404: 'No such account' }),
      },
    },
    handler: async (req, reply) => {
      const { token, record, revoked } = await issueAccountToken(db, { id: req.principal.actor }, req.params.handle);
      reply.code(201);
      return { handle: req.params.handle, tokenId: record.id, accountToken: token, revoked };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/me',
    config: { auth: 'streamer' },
    schema: {
      summary: 'Streamer (Bearer at_… account token): status, whether you can go live, suspension, strikes, recent decisions and how to appeal',
      tags: ['streamer'],
      response: { 200: json(MyStatus, 'Your account status') },
    },
    handler: async (req) => {
      const account = ownAccount(req);
      const now = Date.now();
      const subject = account.identity_subject;
      const [active, strikes, decisions, appeals, liveKeys, statements, bans] = await Promise.all([
        activeSuspensionsFor(db, account.id, subject, now),
        db
          .selectFrom('strikes')
          .selectAll()
          .where((eb) => (subject ? eb.or([eb('account_id', '=', account.id), eb('identity_subject', '=', subject)]) : eb('account_id', '=', account.id)))
          .where('voided_at', 'is', null)
          .where('expires_at', '>', now)
          .orderBy('at', 'desc')
          .execute(),
        db.selectFrom('decisions').selectAll().where('account_id', '=', account.id).where('shadow', '=', 0).orderBy('decided_at', 'desc').limit(50).execute(),
        db.selectFrom('appeals').selectAll().where('account_id', '=', account.id).execute(),
        db.selectFrom('stream_keys').select('id').where('account_id', '=', account.id).where('revoked_at', 'is', null).execute(),
        statementsOf(db, account.id),
        subject ? listBans(db, { subject }) : Promise.resolve([]),
      ]);
      // Bans of the person and the age check live in the gate; it says why, in the words the ingest refuses with.
      const gateVerdict = authorizeAccount(ctx.gate, account.id, null, now);
      const gateBlock =
        !gateVerdict.ok && (gateVerdict.reason === 'banned' || gateVerdict.reason === 'under_age' || gateVerdict.reason === 'age_unverified')
          ? gateVerdict
          : null;
      const suspension = bindingSuspension(active);
      const appealByTarget = new Map(appeals.map((a) => [a.target_id, a]));

      let goLive: z.infer<typeof GoLive>;
      if (account.identity_status === 'revoked') goLive = { allowed: false, reason: 'identity_revoked', message: 'identity verification was revoked' };
      else if (account.identity_status !== 'verified') goLive = { allowed: false, reason: 'not_verified', message: 'live streaming needs a verified identity' };
      else if (gateBlock) goLive = { allowed: false, reason: gateBlock.reason as 'banned' | 'under_age' | 'age_unverified', message: gateBlock.message };
      else if (suspension)
        goLive = {
          allowed: false,
          reason: 'suspended',
          message:
            suspension.ends_at === null
              ? `live streaming is suspended permanently: ${suspensionReason(suspension)}`
              : `live streaming is suspended until ${isoOf(suspension.ends_at)}: ${suspensionReason(suspension)}`,
        };
      else if (liveKeys.length === 0)
        goLive = { allowed: false, reason: 'no_stream_key', message: 'the account has no live stream key; ask an operator for one' };
      else goLive = { allowed: true, reason: null, message: 'you may go live' };

      return {
        handle: account.handle,
        identity: { status: account.identity_status, changedAt: isoOrNull(account.identity_changed_at) },
        canGoLive: goLive.allowed,
        goLive,
        live: ctx.registry.byAccount(account.id).length > 0,
        activeSuspension: suspension ? streamerSuspensionView(suspension, account, appealByTarget, now) : null,
        activeSuspensions: active.map((s) => streamerSuspensionView(s, account, appealByTarget, now)),
        bans: bans.filter((b) => isBanActive(b, now)).map((b) => streamerBanView(b, appealByTarget, now)),
        strikes: strikes.map((s) => ({
          id: s.id,
          category: s.category,
          severity: s.severity,
          rule: s.rule_id,
          at: isoOf(s.at),
          expiresAt: isoOf(s.expires_at),
          decisionId: s.account_id === account.id ? s.decision_id : null,
          viaOtherAccount: s.account_id !== account.id,
        })),
        decisions: decisions.map((d) => {
          const appeal = appealByTarget.get(d.id) ?? null;
          const blocker = appealBlocker(d, appeal);
          return {
            id: d.id,
            streamId: d.stream_id,
            rule: d.rule_id,
            reason: streamerReason(d),
            decidedAt: isoOf(d.decided_at),
            decidedBy: deciderKind(d.decided_by),
            enforcement: enforcementSummary(d.actions),
            reviewStatus: d.review_status,
            appealable: blocker === null,
            notAppealableBecause: blocker,
            appeal: appeal ? appealRef(appeal) : null,
          };
        }),
        statements: statements.map((s) => {
          const body = JSON.parse(s.body) as { decision_ground: string; category: string; automated_decision: string };
          return {
            id: s.id,
            decisionId: s.decision_id,
            decidedAt: isoOf(s.decided_at),
            status: s.status,
            text: streamerText(s),
            ground: body.decision_ground === 'DECISION_GROUND_ILLEGAL_CONTENT' ? ('illegal_content' as const) : ('incompatible_content' as const),
            category: body.category,
            automatedDecision: body.automated_decision === 'AUTOMATED_DECISION_FULLY',
          };
        }),
        howToAppeal: HOW_TO_APPEAL,
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/me/appeals',
    config: { auth: 'streamer' },
    schema: {
      summary: `Streamer (Bearer at_…): appeal one of your enforced decisions, a suspension with no decision, or a platform ban of you, once. Body: {decisionId | suspensionId | banId, statement (1–${STATEMENT_MAX} chars)}`,
      tags: ['streamer'],
      body: AppealBodySchema,
      response: {
        201: json(z.object({ appeal: StreamerAppealView }), 'Appeal filed'),
        ...errors({ 404: 'No such decision, suspension or ban of yours', 409: 'Already appealed, overturned or lifted, or not appealable here' }),
      },
    },
    handler: async (req, reply) => {
      const account = ownAccount(req);
      const appeal = await fileAppeal(db, account, { target: appealTargetOf(req.body), statement: req.body.statement });
      ctx.events.publish('appeal.created', {
        at: new Date(appeal.created_at).toISOString(),
        appealId: appeal.id,
        decisionId: appeal.target_kind === 'decision' ? appeal.target_id : null,
        target: { kind: appeal.target_kind, id: appeal.target_id },
        account: account.handle,
      });
      reply.code(201);
      return { appeal: streamerAppealView(appeal) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/me/appeals',
    config: { auth: 'streamer' },
    schema: {
      summary: 'Streamer (Bearer at_…): your appeals with their outcomes, newest first',
      tags: ['streamer'],
      response: { 200: json(MyAppeals, 'Your appeals') },
    },
    handler: async (req) => {
      const account = ownAccount(req);
      const rows = await listAppeals(db, { accountId: account.id, limit: 1000 });
      const ids = (kind: AppealRow['target_kind']) => rows.filter((r) => r.target_kind === kind).map((r) => r.target_id);
      const [decisionIds, suspensionIds, banIds] = [ids('decision'), ids('suspension'), ids('ban')];
      const [decisions, suspensions, bans] = await Promise.all([
        decisionIds.length
          ? db
              .selectFrom('decisions')
              .select(['id', 'rule_id', 'reason', 'decided_at', 'review_status', 'decided_by', 'actions'])
              .where('id', 'in', decisionIds)
              .execute()
          : [],
        suspensionIds.length ? db.selectFrom('suspensions').selectAll().where('id', 'in', suspensionIds).execute() : [],
        banIds.length ? db.selectFrom('person_bans').selectAll().where('id', 'in', banIds).execute() : [],
      ]);
      const byId = new Map(decisions.map((d) => [d.id, d]));
      type Appealed = NonNullable<z.infer<typeof MyAppeals>['appeals'][number]['restriction']>;
      const restrictions = new Map<string, Appealed>([
        ...suspensions.map(
          (x) =>
            [
              x.id,
              {
                kind: 'suspension' as const,
                id: x.id,
                reason: suspensionReason(x),
                startsAt: isoOf(x.starts_at),
                endsAt: isoOrNull(x.ends_at),
                liftedAt: isoOrNull(x.lifted_at),
              },
            ] as const,
        ),
        ...bans.map(
          (x) =>
            [
              x.id,
              {
                kind: 'ban' as const,
                id: x.id,
                reason: x.reason,
                startsAt: isoOf(x.starts_at),
                endsAt: isoOrNull(x.ends_at),
                liftedAt: isoOrNull(x.lifted_at),
              },
            ] as const,
        ),
      ]);
      return {
        appeals: rows.map((a) => {
          const d = a.target_kind === 'decision' ? byId.get(a.target_id) : undefined;
          return {
            ...streamerAppealView(a),
            decision: d ? { id: d.id, rule: d.rule_id, reason: streamerReason(d), decidedAt: isoOf(d.decided_at), reviewStatus: d.review_status } : null,
            restriction: restrictions.get(a.target_id) ?? null,
          };
        }),
      };
    },
  });
}
