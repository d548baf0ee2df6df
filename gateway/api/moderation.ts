import { z } from 'zod';
import { addEntries, createBank, exportEntries, listBanks, setBankEnabled } from '../banks/manage.ts';
import { CreateBankSchema } from '../banks/schema.ts';
import { serializeHashList } from '../../classifiers/hashlist-format.ts';
import { confirmDecision, overturnDecision } from '../enforcement/review.ts';
import { notFound } from '../errors.ts';
import type { DecisionRow } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, HttpError, type RouteDef } from './route.ts';

const Reason = z.string().trim().min(1, 'a reason is required').max(500);

/** A decision as moderators see it: rule, actions, review state and links to its evidence. */
export function decisionView(d: DecisionRow) {
  const evidence = JSON.parse(d.evidence) as { refs?: string[]; pinned?: string[] };
  const refs = evidence.pinned ?? evidence.refs ?? [];
  return {
    id: d.id,
    streamId: d.stream_id,
    accountId: d.account_id,
    ruleId: d.rule_id,
    policyVersion: d.policy_version,
    shadow: d.shadow === 1,
    actions: JSON.parse(d.actions) as unknown,
    reason: d.reason,
    decidedAt: new Date(d.decided_at).toISOString(),
    decidedBy: d.decided_by,
    review: { status: d.review_status, priority: d.review_priority, by: d.reviewed_by, at: d.reviewed_at === null ? null : new Date(d.reviewed_at).toISOString(), reason: d.review_reason },
    evidence: refs.map((ref) => ({ ref, image: `/api/v1/evidence/${ref}` })),
    detail: `/api/v1/decisions/${d.id}`,
  };
}

export function moderationRoutes(ctx: ApiContext): RouteDef[] {
  const db = ctx.store.db;
  const loadFacts = async (d: DecisionRow) => {
    const evidence = JSON.parse(d.evidence) as { refs?: string[]; pinned?: string[] };
    const facts = await Promise.all((evidence.pinned ?? evidence.refs ?? []).map((r) => ctx.evidence.read(r)));
    return facts.filter((f) => f !== null).map((f) => f.facts);
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/reviews',
      summary: 'The review queue: decisions awaiting a moderator, oldest first, with evidence',
      tag: 'review',
      role: 'moderator',
      query: z.object({ status: z.enum(['pending', 'confirmed', 'overturned']).default('pending'), limit: z.coerce.number().int().min(1).max(500).default(100) }).strict(),
      responses: { 200: 'Decisions' },
      handler: async ({ query }) => {
        const rows = await db.selectFrom('decisions').selectAll().where('review_status', '=', query.status).orderBy('decided_at', query.status === 'pending' ? 'asc' : 'desc').limit(query.limit).execute();
        return { decisions: rows.map(decisionView) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/decisions',
      summary: 'Decisions (enforced and shadow), newest first; filter by account or stream',
      tag: 'review',
      role: 'moderator',
      query: z.object({ accountId: z.string().optional(), streamId: z.string().optional(), shadow: z.enum(['true', 'false']).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) }).strict(),
      responses: { 200: 'Decisions' },
      handler: async ({ query }) => {
        let q = db.selectFrom('decisions').selectAll();
        if (query.accountId) q = q.where('account_id', '=', query.accountId);
        if (query.streamId) q = q.where('stream_id', '=', query.streamId);
        if (query.shadow) q = q.where('shadow', '=', query.shadow === 'true' ? 1 : 0);
        const rows = await q.orderBy('decided_at', 'desc').limit(query.limit).execute();
        return { decisions: rows.map(decisionView) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/decisions/:id',
      summary: 'One decision with its evidence facts, strike and suspension',
      tag: 'review',
      role: 'moderator',
      params: { id: 'Decision id (dec_…)' },
      responses: { 200: 'The decision', 404: 'No such decision' },
      handler: async ({ params }) => {
        const d = await db.selectFrom('decisions').selectAll().where('id', '=', params.id ?? '').executeTakeFirst();
        if (!d) throw notFound(`decision '${params.id}'`);
        const [strikes, suspensions, facts] = await Promise.all([
          db.selectFrom('strikes').selectAll().where('decision_id', '=', d.id).execute(),
          db.selectFrom('suspensions').selectAll().where('decision_id', '=', d.id).execute(),
          loadFacts(d),
        ]);
        return { ...decisionView(d), evidenceFacts: facts, strikes, suspensions };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/evidence/:kind/:owner/:seq',
      summary: 'An evidence thumbnail (JPEG)',
      tag: 'review',
      role: 'moderator',
      params: { kind: 'live or decisions', owner: 'stream or decision id', seq: 'frame number' },
      responses: { 200: 'image/jpeg', 404: 'No such evidence (or past retention)' },
      handler: async ({ params, reply }) => {
        const found = await ctx.evidence.read(`${params.kind}/${params.owner}/${params.seq}`);
        if (!found) throw notFound('evidence');
        return reply.type('image/jpeg').send(found.jpeg);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/decisions/:id/confirm',
      summary: 'Confirm a violation; optionally add its evidence frames to the `confirmed` bank',
      tag: 'review',
      role: 'moderator',
      params: { id: 'Decision id' },
      body: z.object({ reason: Reason, addToBank: z.boolean().default(true) }).strict(),
      responses: { 200: 'Confirmed', 404: 'No such decision', 409: 'Shadow or overturned decision' },
      handler: async ({ params, body, principal }) => {
        const d = await db.selectFrom('decisions').selectAll().where('id', '=', params.id ?? '').executeTakeFirst();
        if (!d) throw notFound(`decision '${params.id}'`);
        const res = await confirmDecision(db, principal.actor, d.id, { reason: body.reason, addToBank: body.addToBank, evidenceFacts: await loadFacts(d) });
        if (res.bankAdded) await ctx.banks.refresh();
        return { decision: decisionView(res.decision), confirmedBankAdded: res.bankAdded };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/decisions/:id/overturn',
      summary: 'Overturn a decision: void its strike, lift its suspension, restore the right to go live',
      tag: 'review',
      role: 'moderator',
      params: { id: 'Decision id' },
      body: z.object({ reason: Reason }).strict(),
      responses: { 200: 'Overturned', 404: 'No such decision', 409: 'Already overturned' },
      handler: async ({ params, body, principal }) => {
        const res = await overturnDecision(db, principal.actor, params.id ?? '', body.reason);
        await ctx.gate.refresh();
        return { decision: decisionView(res.decision), strikesVoided: res.strikesVoided, suspensionsLifted: res.suspensionsLifted };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/banks',
      summary: 'List hash banks',
      tag: 'banks',
      role: 'moderator',
      responses: { 200: 'Banks' },
      handler: async () => ({ banks: await listBanks(db), indexed: ctx.banks.size, revision: ctx.banks.revision }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/banks',
      summary: 'Create a hash bank',
      tag: 'banks',
      role: 'operator',
      body: CreateBankSchema,
      responses: { 201: 'Created', 409: 'Exists' },
      handler: async ({ body, principal, reply }) => {
        const bank = await createBank(db, principal.actor, body);
        await ctx.banks.refresh();
        reply.code(201);
        return bank;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/banks/:name/entries',
      summary: 'Add PDQ hashes to a bank (applies to live matching at once)',
      tag: 'banks',
      role: 'moderator',
      params: { name: 'Bank name' },
      body: z
        .object({
          entries: z
            .array(
              z
                .object({
                  hash: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (PDQ)'),
                  category: z.string().min(1).max(80).optional(),
                  severity: z.enum(['low', 'medium', 'high', 'critical']).optional(),
                  note: z.string().max(500).optional(),
                  source: z.string().max(200).optional(),
                })
                .strict(),
            )
            .min(1)
            .max(10_000),
        })
        .strict(),
      responses: { 200: 'Added', 404: 'No such bank' },
      handler: async ({ params, body, principal }) => {
        const res = await addEntries(db, principal.actor, params.name ?? '', body.entries);
        await ctx.banks.refresh();
        return res;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/banks/:name/export',
      summary: "Export a bank's enabled entries as a hash list (csv, plain or hma)",
      tag: 'banks',
      role: 'moderator',
      params: { name: 'Bank name' },
      query: z.object({ format: z.enum(['csv', 'plain', 'hma']).default('csv') }).strict(),
      responses: { 200: 'text/csv or text/plain', 404: 'No such bank' },
      handler: async ({ params, query, reply }) => {
        const records = [];
        for await (const e of exportEntries(db, params.name ?? '')) {
          records.push({ hash: e.hash, category: e.category, severity: e.severity, note: e.note ?? undefined, source: e.source ?? undefined });
        }
        return reply.type(query.format === 'csv' ? 'text/csv' : 'text/plain').send(serializeHashList(records, query.format));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/banks/:name/disable',
      summary: 'Disable (or with enabled:true, re-enable) a bank',
      tag: 'banks',
      role: 'operator',
      params: { name: 'Bank name' },
      body: z.object({ reason: Reason.optional(), enabled: z.boolean().default(false) }).strict(),
      responses: { 200: 'Done', 404: 'No such bank' },
      handler: async ({ params, body, principal }) => {
        await setBankEnabled(db, principal.actor, params.name ?? '', body.enabled, body.reason ?? null);
        await ctx.banks.refresh();
        return { bank: params.name, enabled: body.enabled };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/policy',
      summary: 'The active policy (text and parsed form)',
      tag: 'policy',
      role: 'moderator',
      responses: { 200: 'Active policy' },
      handler: async () => {
        const a = ctx.policies.current();
        return { versionId: a.versionId, format: a.format, text: a.text, policy: a.policy };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/api/v1/policy',
      summary: 'Submit a new policy version (validated; applies to running streams without a restart)',
      tag: 'policy',
      role: 'operator',
      body: z.object({ text: z.string().min(1).max(1_000_000), format: z.enum(['yaml', 'json']).default('yaml'), comment: z.string().max(500).optional(), activate: z.boolean().default(true) }).strict(),
      responses: { 200: 'Stored (and active unless activate=false)', 400: 'Invalid policy: every error with its key path' },
      handler: async ({ body, principal }) => {
        const res = await ctx.policies.submit(body.text, body.format, principal.actor, body.comment ?? null, body.activate);
        return { versionId: res.versionId, name: res.policy.name, version: res.policy.version, active: body.activate };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/policy/versions',
      summary: 'Stored policy versions, newest first',
      tag: 'policy',
      role: 'operator',
      responses: { 200: 'Versions' },
      handler: async () => ({ versions: await ctx.policies.versions() }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/policy/rollback',
      summary: 'Activate an earlier policy version',
      tag: 'policy',
      role: 'operator',
      body: z.object({ versionId: z.number().int().positive(), reason: Reason }).strict(),
      responses: { 200: 'Activated', 404: 'No such version' },
      handler: async ({ body, principal }) => {
        const a = await ctx.policies.rollback(body.versionId, principal.actor, body.reason);
        if (a.versionId !== body.versionId) throw new HttpError(500, 'internal', 'rollback did not take effect');
        return { versionId: a.versionId, name: a.policy.name, version: a.policy.version };
      },
    }),
  ];
}
