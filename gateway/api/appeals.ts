import type { Kysely } from 'kysely';
import { z } from 'zod';
import { decideAppeal, getAppeal, listAppeals } from '../enforcement/appeals.ts';
import type { AppealRow, Database, DecisionRow } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, type RouteDef } from './route.ts';
import { decisionView } from './moderation.ts';

const Reason = z.string().trim().min(1, 'a reason is required').max(500);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Who decided, as a streamer may see it: the rule, or "a moderator" (never which one). */
export function deciderKind(decidedBy: string): 'rule' | 'moderator' {
  return decidedBy.startsWith('policy:') ? 'rule' : 'moderator';
}

/** An appeal's outcome as the streamer reads it (no moderator identity). */
export function appealOutcome(a: AppealRow) {
  return a.status === 'open' ? null : { result: a.status, reason: a.outcome_reason, decidedAt: iso(a.decided_at) };
}

export function streamerAppealView(a: AppealRow) {
  return { id: a.id, decisionId: a.decision_id, status: a.status, statement: a.statement, createdAt: iso(a.created_at), outcome: appealOutcome(a) };
}

export function moderatorAppealView(a: AppealRow, handle: string | null, d: DecisionRow | null) {
  return {
    id: a.id,
    status: a.status,
    account: handle,
    accountId: a.account_id,
    statement: a.statement,
    createdAt: iso(a.created_at),
    decidedBy: a.decided_by,
    decidedAt: iso(a.decided_at),
    outcomeReason: a.outcome_reason,
    decision: d ? decisionView(d) : null,
  };
}

async function withDecisions(db: Kysely<Database>, rows: AppealRow[]) {
  if (rows.length === 0) return [];
  const [decisions, accounts] = await Promise.all([
    db.selectFrom('decisions').selectAll().where('id', 'in', [...new Set(rows.map((r) => r.decision_id))]).execute(),
    db.selectFrom('accounts').select(['id', 'handle']).where('id', 'in', [...new Set(rows.map((r) => r.account_id))]).execute(),
  ]);
  const byId = new Map(decisions.map((d) => [d.id, d]));
  const handles = new Map(accounts.map((a) => [a.id, a.handle]));
  return rows.map((r) => moderatorAppealView(r, handles.get(r.account_id) ?? null, byId.get(r.decision_id) ?? null));
}

/** Moderator routes: the appeal queue, one appeal, and deciding it. */
export function appealRoutes(ctx: ApiContext): RouteDef[] {
  const db = ctx.store.db;
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/appeals',
      summary: 'Streamer appeals: open ones oldest first (a queue), decided ones newest first; each with its decision and evidence links',
      tag: 'appeals',
      role: 'moderator',
      query: z
        .object({
          status: z.enum(['open', 'upheld', 'overturned']).default('open'),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        })
        .strict(),
      responses: { 200: 'Appeals', 400: 'Invalid query' },
      handler: async ({ query }) => ({ appeals: await withDecisions(db, await listAppeals(db, { status: query.status, limit: query.limit })) }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/appeals/:id',
      summary: 'One appeal with its decision',
      tag: 'appeals',
      role: 'moderator',
      params: { id: 'Appeal id (apl_…)' },
      responses: { 200: 'The appeal', 404: 'No such appeal' },
      handler: async ({ params }) => {
        const [view] = await withDecisions(db, [await getAppeal(db, params.id ?? '')]);
        return view;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/appeals/:id/decide',
      summary: "Decide an open appeal: 'overturn' voids the strike and lifts the suspension (the streamer may go live again); 'uphold' keeps them",
      tag: 'appeals',
      role: 'moderator',
      params: { id: 'Appeal id (apl_…)' },
      body: z.object({ outcome: z.enum(['uphold', 'overturn']), reason: Reason }).strict(),
      responses: { 200: 'Decided', 400: 'Invalid body', 404: 'No such appeal', 409: 'Already decided' },
      handler: async ({ params, body, principal }) => {
        const res = await decideAppeal(db, principal.actor, params.id ?? '', body);
        if (body.outcome === 'overturn') await ctx.gate.refresh();
        const [view] = await withDecisions(db, [res.appeal]);
        return {
          appeal: { ...view!, decision: decisionView(res.decision) },
          strikesVoided: res.strikesVoided,
          suspensionsLifted: res.suspensionsLifted,
          decisionConfirmed: res.decisionConfirmed,
        };
      },
    }),
  ];
}
