import { z } from 'zod';
import { pictureConfirmedEntries } from '../banks/pictures.ts';
import { CONFIRMED_BANK, confirmDecision, overturnDecision } from '../enforcement/review.ts';
import { notFound } from '../errors.ts';
import { publishReviewed } from '../events/feed.ts';
import type { DecisionRow } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { binary, errors, json, type ApiApp } from './route.ts';
import { DecisionId, idParams, limitQuery, Reason } from './schemas.ts';
import { decisionViews, DecisionView, evidenceRefs } from './views/decision.ts';
import { StrikeRowSchema } from './views/strike.ts';
import { SuspensionRowSchema } from './views/suspension.ts';

const Decisions = z.object({ decisions: z.array(DecisionView) });

/** Review: the queue, decisions with their evidence, and a moderator's confirm or overturn. */
export function decisionRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const loadEvidence = async (d: DecisionRow) => {
    const found = await Promise.all(evidenceRefs(d).map((r) => ctx.evidence.read(r)));
    return found.filter((f) => f !== null);
  };
  const getDecision = async (id: string) => {
    const d = await db.selectFrom('decisions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!d) throw notFound(`decision '${id}'`);
    return d;
  };

  app.route({
    method: 'GET',
    url: '/api/v1/reviews',
    config: { auth: 'moderator' },
    schema: {
      summary: 'The review queue: decisions awaiting a moderator, oldest first, with evidence',
      tags: ['review'],
      querystring: z.object({ status: z.enum(['pending', 'confirmed', 'overturned']).default('pending'), limit: limitQuery(500) }).strict(),
      response: { 200: json(Decisions, 'Decisions') },
    },
    handler: async ({ query }) => {
      const rows = await db
        .selectFrom('decisions')
        .selectAll()
        .where('review_status', '=', query.status)
        .orderBy('decided_at', query.status === 'pending' ? 'asc' : 'desc')
        .limit(query.limit)
        .execute();
      return { decisions: await decisionViews(db, rows) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/decisions',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Decisions (enforced and shadow), newest first; filter by account or stream',
      tags: ['review'],
      querystring: z
        .object({ accountId: z.string().optional(), streamId: z.string().optional(), shadow: z.enum(['true', 'false']).optional(), limit: limitQuery(500) })
        .strict(),
      response: { 200: json(Decisions, 'Decisions') },
    },
    handler: async ({ query }) => {
      let q = db.selectFrom('decisions').selectAll();
      if (query.accountId) q = q.where('account_id', '=', query.accountId);
      if (query.streamId) q = q.where('stream_id', '=', query.streamId);
      if (query.shadow) q = q.where('shadow', '=', query.shadow === 'true' ? 1 : 0);
      const rows = await q.orderBy('decided_at', 'desc').limit(query.limit).execute();
      return { decisions: await decisionViews(db, rows) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/decisions/:id',
    config: { auth: 'moderator' },
    schema: {
      summary: 'One decision with its evidence facts, strike and suspension',
      tags: ['review'],
      params: idParams(DecisionId),
      response: {
        200: json(
          DecisionView.extend({
            evidenceFacts: z.array(z.unknown()).describe("The facts recorded with each evidence frame (the classifiers' signals)"),
            strikes: z.array(StrikeRowSchema).describe('Strikes the decision recorded, as stored'),
            suspensions: z.array(SuspensionRowSchema).describe('Suspensions the decision imposed, as stored'),
          }),
          'The decision',
        ),
        ...errors({ 404: 'No such decision' }),
      },
    },
    handler: async (req) => {
      const d = await getDecision(req.params.id);
      const [strikes, suspensions, facts] = await Promise.all([
        db.selectFrom('strikes').selectAll().where('decision_id', '=', d.id).execute(),
        db.selectFrom('suspensions').selectAll().where('decision_id', '=', d.id).execute(),
        loadEvidence(d),
      ]);
      return { ...(await decisionViews(db, [d]))[0]!, evidenceFacts: facts.map((f) => f.facts), strikes, suspensions };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/evidence/:kind/:owner/:seq',
    config: { auth: 'moderator' },
    schema: {
      summary: 'An evidence thumbnail (JPEG)',
      tags: ['review'],
      params: z.object({
        kind: z.enum(['live', 'decisions']).describe("live (a stream's recent frames) or decisions (pinned to a decision)"),
        owner: z
          .string()
          .regex(/^[A-Za-z0-9_]{1,64}$/, 'expected a stream or decision id')
          .describe('Stream or decision id'),
        seq: z
          .string()
          .regex(/^\d{1,12}$/, 'expected a frame number')
          .describe('Frame number'),
      }),
      response: { 200: binary('image/jpeg', 'The thumbnail'), ...errors({ 404: 'No such evidence (or past retention)' }) },
    },
    handler: async (req, reply) => {
      const { kind, owner, seq } = req.params;
      const found = await ctx.evidence.read(`${kind}/${owner}/${seq}`);
      if (!found) throw notFound('evidence');
      return reply.type('image/jpeg').send(found.jpeg);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/decisions/:id/confirm',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Confirm a violation; optionally add its evidence frames to the `confirmed` bank',
      tags: ['review'],
      params: idParams(DecisionId),
      body: z.object({ reason: Reason, addToBank: z.boolean().default(true) }).strict(),
      response: {
        200: json(z.object({ decision: DecisionView, confirmedBankAdded: z.number().int().describe('Hashes added to the confirmed bank') }), 'Confirmed'),
        ...errors({ 404: 'No such decision', 409: 'Shadow or overturned decision' }),
      },
    },
    handler: async (req) => {
      const d = await getDecision(req.params.id);
      const res = await confirmDecision(db, req.principal.actor, d.id, {
        reason: req.body.reason,
        addToBank: req.body.addToBank,
        evidence: await loadEvidence(d),
        ...(ctx.copy ? { describer: ctx.copy.describer } : {}),
      });
      if (res.bankAdded) {
        await pictureConfirmedEntries(db, CONFIRMED_BANK, d.id, evidenceRefs(d), (r) => ctx.evidence.read(r));
        await Promise.all([ctx.banks.refresh(), ctx.copy?.index.refresh()]);
      }
      await publishReviewed(ctx.events, db, d.id);
      return { decision: (await decisionViews(db, [res.decision]))[0]!, confirmedBankAdded: res.bankAdded };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/decisions/:id/overturn',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Overturn a decision: void its strike, lift its suspension, restore the right to go live',
      tags: ['review'],
      params: idParams(DecisionId),
      body: z.object({ reason: Reason }).strict(),
      response: {
        200: json(z.object({ decision: DecisionView, strikesVoided: z.number().int(), suspensionsLifted: z.number().int() }), 'Overturned'),
        ...errors({ 404: 'No such decision', 409: 'Already overturned' }),
      },
    },
    handler: async (req) => {
      const res = await overturnDecision(db, req.principal.actor, req.params.id, req.body.reason);
      await ctx.gate.refresh();
      await publishReviewed(ctx.events, db, res.decision.id);
      return { decision: (await decisionViews(db, [res.decision]))[0]!, strikesVoided: res.strikesVoided, suspensionsLifted: res.suspensionsLifted };
    },
  });
}
