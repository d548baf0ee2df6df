import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { appealBlocker, fileAppeal, listAppeals, STATEMENT_MAX } from '../enforcement/appeals.ts';
import { activeSuspensionsFor } from '../enforcement/suspensions.ts';
import { authenticateAccountToken, issueAccountToken } from '../identity/account-tokens.ts';
import type { Account, Suspension } from '../store/schema.ts';
import { appealOutcome, deciderKind, streamerAppealView } from './appeals.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, HttpError, parseWith, type RouteDef } from './route.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const AppealBodySchema = z
  .object({
    decisionId: z.string().trim().min(1, 'a decisionId is required').max(100),
    statement: z.string().trim().min(1, 'a statement is required').max(STATEMENT_MAX, `at most ${STATEMENT_MAX} characters`),
  })
  .strict();

const HOW_TO_APPEAL = {
  text:
    'If you think a decision against you was wrong, you may appeal it once. Send the decision id and a statement ' +
    `(1–${STATEMENT_MAX} characters) saying why; a moderator will uphold or overturn it. If it is overturned, its strike ` +
    'is voided and its suspension lifted, and you may go live again at once. Read the outcome at GET /api/v1/me/appeals.',
  method: 'POST',
  endpoint: '/api/v1/me/appeals',
  body: { decisionId: 'dec_…', statement: 'why the decision was wrong' },
  outcomes: 'GET /api/v1/me/appeals',
} as const;

/** The suspension that keeps the account off air longest (permanent first). */
function bindingSuspension(active: Suspension[]): Suspension | null {
  let best: Suspension | null = null;
  for (const s of active) {
    if (!best || s.ends_at === null || (best.ends_at !== null && s.ends_at > best.ends_at)) best = s;
    if (best.ends_at === null) break;
  }
  return best;
}

function streamerSuspensionView(s: Suspension, own: Account) {
  return {
    id: s.id,
    reason: s.reason,
    decidedBy: deciderKind(s.created_by),
    rule: s.created_by.startsWith('policy:') ? s.created_by.slice('policy:'.length) : null,
    // Only the account's own decisions can be appealed from this account.
    decisionId: s.account_id === own.id ? s.decision_id : null,
    viaOtherAccount: s.account_id !== own.id,
    startsAt: iso(s.starts_at),
    endsAt: iso(s.ends_at),
    permanent: s.ends_at === null,
  };
}

function enforcementSummary(actionsJson: string) {
  const a = JSON.parse(actionsJson) as {
    cut?: boolean;
    suspend?: { untilMs: number | null };
    strike?: { category: string; severity: string; expiresAt: number };
    warn?: { message: string };
  };
  return {
    cut: a.cut === true,
    suspension: a.suspend ? { until: iso(a.suspend.untilMs), permanent: a.suspend.untilMs === null } : null,
    strike: a.strike ? { category: a.strike.category, severity: a.strike.severity, expiresAt: iso(a.strike.expiresAt) } : null,
    warning: a.warn?.message ?? null,
  };
}

/**
 * Streamer-facing routes, authenticated by the account's own token (`Authorization: Bearer at_…`), not by an
 * admin token. They show the account only its own records; anything else is "not found".
 */
export function streamerRoutes(ctx: ApiContext): RouteDef[] {
  const db = ctx.store.db;

  const authenticateStreamer = async (req: FastifyRequest): Promise<Account> => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null;
    if (!match) throw new HttpError(401, 'unauthorized', 'missing bearer token (the account token, at_…)');
    const found = await authenticateAccountToken(db, match[1]!);
    if (!found) throw new HttpError(401, 'unauthorized', 'invalid or revoked account token');
    return found.account;
  };

  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/accounts/:handle/token',
      summary: "Issue the account's streamer token (at_…, shown once) for /api/v1/me; revokes the previous one",
      tag: 'accounts',
      role: 'operator',
      params: { handle: 'Account handle' },
      responses: { 201: 'The new token', 404: 'No such account' },
      handler: async ({ params, principal, reply }) => {
        const { token, record, revoked } = await issueAccountToken(db, { id: principal.actor }, params.handle ?? '');
        reply.code(201);
        return { handle: params.handle, tokenId: record.id, accountToken: token, revoked };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/me',
      summary: 'Streamer (Bearer at_… account token): status, whether you can go live, suspension, strikes, recent decisions and how to appeal',
      tag: 'streamer',
      role: null,
      responses: { 200: 'Your account status', 401: 'Missing, invalid or revoked account token' },
      handler: async ({ req }) => {
        const account = await authenticateStreamer(req);
        const now = Date.now();
        const subject = account.identity_subject;
        const [active, strikes, decisions, appeals, liveKeys] = await Promise.all([
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
        ]);
        const suspension = bindingSuspension(active);
        const appealByDecision = new Map(appeals.map((a) => [a.decision_id, a]));

        let goLive: { allowed: boolean; reason: string | null; message: string };
        if (account.identity_status === 'revoked') goLive = { allowed: false, reason: 'identity_revoked', message: 'identity verification was revoked' };
        else if (account.identity_status !== 'verified') goLive = { allowed: false, reason: 'not_verified', message: 'live streaming needs a verified identity' };
        else if (suspension)
          goLive = {
            allowed: false,
            reason: 'suspended',
            message:
              suspension.ends_at === null
                ? `live streaming is suspended permanently: ${suspension.reason}`
                : `live streaming is suspended until ${iso(suspension.ends_at)}: ${suspension.reason}`,
          };
        else if (liveKeys.length === 0) goLive = { allowed: false, reason: 'no_stream_key', message: 'the account has no live stream key; ask an operator for one' };
        else goLive = { allowed: true, reason: null, message: 'you may go live' };

        return {
          handle: account.handle,
          identity: { status: account.identity_status, changedAt: iso(account.identity_changed_at) },
          canGoLive: goLive.allowed,
          goLive,
          live: ctx.registry.byAccount(account.id).length > 0,
          activeSuspension: suspension ? streamerSuspensionView(suspension, account) : null,
          activeSuspensions: active.map((s) => streamerSuspensionView(s, account)),
          strikes: strikes.map((s) => ({
            id: s.id,
            category: s.category,
            severity: s.severity,
            rule: s.rule_id,
            at: iso(s.at),
            expiresAt: iso(s.expires_at),
            decisionId: s.account_id === account.id ? s.decision_id : null,
            viaOtherAccount: s.account_id !== account.id,
          })),
          decisions: decisions.map((d) => {
            const appeal = appealByDecision.get(d.id) ?? null;
            const blocker = appealBlocker(d, appeal);
            return {
              id: d.id,
              streamId: d.stream_id,
              rule: d.rule_id,
              reason: d.reason,
              decidedAt: iso(d.decided_at),
              decidedBy: deciderKind(d.decided_by),
              enforcement: enforcementSummary(d.actions),
              reviewStatus: d.review_status,
              appealable: blocker === null,
              notAppealableBecause: blocker,
              appeal: appeal ? { id: appeal.id, status: appeal.status, createdAt: iso(appeal.created_at), outcome: appealOutcome(appeal) } : null,
            };
          }),
          howToAppeal: HOW_TO_APPEAL,
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/me/appeals',
      summary: `Streamer (Bearer at_…): appeal one of your enforced decisions, once. Body: {decisionId, statement (1–${STATEMENT_MAX} chars)}`,
      tag: 'streamer',
      role: null,
      responses: { 201: 'Appeal filed', 400: 'Invalid body (names the field)', 401: 'Missing, invalid or revoked account token', 404: 'No such decision of yours', 409: 'Already appealed or overturned' },
      handler: async ({ req, reply }) => {
        // Authenticate before looking at the body: without a valid token, the answer is 401 whatever was sent.
        const account = await authenticateStreamer(req);
        const body = parseWith(AppealBodySchema, req.body, 'body');
        const appeal = await fileAppeal(db, account, body);
        reply.code(201);
        return { appeal: streamerAppealView(appeal) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/me/appeals',
      summary: 'Streamer (Bearer at_…): your appeals with their outcomes, newest first',
      tag: 'streamer',
      role: null,
      responses: { 200: 'Your appeals', 401: 'Missing, invalid or revoked account token' },
      handler: async ({ req }) => {
        const account = await authenticateStreamer(req);
        const rows = await listAppeals(db, { accountId: account.id, limit: 1000 });
        const decisions = rows.length
          ? await db.selectFrom('decisions').select(['id', 'rule_id', 'reason', 'decided_at', 'review_status']).where('id', 'in', rows.map((r) => r.decision_id)).execute()
          : [];
        const byId = new Map(decisions.map((d) => [d.id, d]));
        return {
          appeals: rows.map((a) => {
            const d = byId.get(a.decision_id);
            return {
              ...streamerAppealView(a),
              decision: d ? { id: d.id, rule: d.rule_id, reason: d.reason, decidedAt: iso(d.decided_at), reviewStatus: d.review_status } : null,
            };
          }),
        };
      },
    }),
  ];
}
