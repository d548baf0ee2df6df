import type { Kysely } from 'kysely';
import { z } from 'zod';
import { decideAppeal, getAppeal, listAppeals } from '../enforcement/appeals.ts';
import { publishReviewed } from '../events/feed.ts';
import type { AppealRow, Database } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { AppealId, idParams, limitQuery, Reason } from './schemas.ts';
import { appealedRestrictionView, moderatorAppealView, ModeratorAppealView } from './views/appeal.ts';
import { decisionView } from './views/decision.ts';

async function withDecisions(db: Kysely<Database>, rows: AppealRow[]) {
  if (rows.length === 0) return [];
  const ids = (kind: AppealRow['target_kind']) => [...new Set(rows.filter((r) => r.target_kind === kind).map((r) => r.target_id))];
  const [decisionIds, suspensionIds, banIds] = [ids('decision'), ids('suspension'), ids('ban')];
  const [decisions, suspensions, bans, accounts] = await Promise.all([
    decisionIds.length ? db.selectFrom('decisions').selectAll().where('id', 'in', decisionIds).execute() : [],
    suspensionIds.length ? db.selectFrom('suspensions').selectAll().where('id', 'in', suspensionIds).execute() : [],
    banIds.length ? db.selectFrom('person_bans').selectAll().where('id', 'in', banIds).execute() : [],
    db
      .selectFrom('accounts')
      .select(['id', 'handle'])
      .where('id', 'in', [...new Set(rows.map((r) => r.account_id))])
      .execute(),
  ]);
  const byId = new Map(decisions.map((d) => [d.id, d]));
  const restrictions = new Map([
    ...suspensions.map((s) => [s.id, appealedRestrictionView({ kind: 'suspension', row: s })] as const),
    ...bans.map((b) => [b.id, appealedRestrictionView({ kind: 'ban', row: b })] as const),
  ]);
  const handles = new Map(accounts.map((a) => [a.id, a.handle]));
  return rows.map((r) =>
    moderatorAppealView(
      r,
      handles.get(r.account_id) ?? null,
      r.target_kind === 'decision' ? (byId.get(r.target_id) ?? null) : null,
      restrictions.get(r.target_id) ?? null,
    ),
  );
}

/** Moderator routes: the appeal queue, one appeal, and deciding it. */
export function appealRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'GET',
    url: '/api/v1/appeals',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Streamer appeals: open ones oldest first (a queue), decided ones newest first; each with its decision and evidence links',
      tags: ['appeals'],
      querystring: z.object({ status: z.enum(['open', 'upheld', 'overturned']).default('open'), limit: limitQuery(500) }).strict(),
      response: { 200: json(z.object({ appeals: z.array(ModeratorAppealView) }), 'Appeals') },
    },
    handler: async ({ query }) => ({ appeals: await withDecisions(db, await listAppeals(db, { status: query.status, limit: query.limit })) }),
  });

  app.route({
    method: 'GET',
    url: '/api/v1/appeals/:id',
    config: { auth: 'moderator' },
    schema: {
      summary: 'One appeal with its decision',
      tags: ['appeals'],
      params: idParams(AppealId),
      response: { 200: json(ModeratorAppealView, 'The appeal'), ...errors({ 404: 'No such appeal' }) },
    },
    handler: async (req) => {
      const [view] = await withDecisions(db, [await getAppeal(db, req.params.id)]);
      return view!;
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/appeals/:id/decide',
    config: { auth: 'moderator' },
    schema: {
      summary:
        "Decide an open appeal: 'overturn' voids the decision's strike and lifts its suspension, or lifts the appealed suspension or ban (the streamer may go live again); 'uphold' keeps them",
      tags: ['appeals'],
      params: idParams(AppealId),
      body: z.object({ outcome: z.enum(['uphold', 'overturn']), reason: Reason }).strict(),
      response: {
        200: json(
          z.object({
            appeal: ModeratorAppealView,
            strikesVoided: z.number().int(),
            suspensionsLifted: z.number().int(),
            bansLifted: z.number().int(),
            decisionConfirmed: z.boolean().describe("Upheld: the decision's pending review was confirmed with it"),
          }),
          'Decided',
        ),
        ...errors({ 404: 'No such appeal', 409: 'Already decided' }),
      },
    },
    handler: async (req) => {
      const { body } = req;
      const res = await decideAppeal(db, req.principal.actor, req.params.id, body);
      if (body.outcome === 'overturn') await ctx.gate.refresh();
      ctx.events.publish('appeal.decided', {
        at: new Date().toISOString(),
        appealId: res.appeal.id,
        outcome: res.appeal.status === 'overturned' ? 'overturned' : 'upheld',
      });
      if (res.decision && (body.outcome === 'overturn' || res.decisionConfirmed)) await publishReviewed(ctx.events, db, res.decision.id);
      const [view] = await withDecisions(db, [res.appeal]);
      return {
        appeal: { ...view!, decision: res.decision ? decisionView(res.decision, view!.account) : null },
        strikesVoided: res.strikesVoided,
        suspensionsLifted: res.suspensionsLifted,
        bansLifted: res.bansLifted,
        decisionConfirmed: res.decisionConfirmed,
      };
    },
  });
}
