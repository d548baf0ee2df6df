import { z } from 'zod';
import { addBan, isBanActive, liftBan, listBans } from '../identity/bans.ts';
import { HandleSchema } from '../identity/accounts.ts';
import type { PersonBan } from '../store/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { ContentCategory, idOf, idParams, iso, IsoTime, IsoTimeOrNull, isoOrNull, Reason } from './schemas.ts';

const BanId = idOf('ban', 'Ban id (ban_…)');
const Subject = z.string().min(1).max(200);

export const BanView = z
  .object({
    id: z.string(),
    subject: z.string().describe('The identity subject (the person) the ban binds'),
    kind: z.enum(['court_order', 'platform']),
    legalReference: z.string().nullable().describe('The order: court, case number, statute'),
    authority: z.string().nullable(),
    reason: z.string(),
    category: z.string().nullable(),
    startsAt: IsoTime,
    endsAt: IsoTimeOrNull.describe('null: until lifted'),
    active: z.boolean(),
    createdBy: z.string(),
    liftedAt: IsoTimeOrNull,
    liftedBy: z.string().nullable(),
    liftReason: z.string().nullable(),
  })
  .meta({ id: 'PersonBan' });

export function banView(b: PersonBan, now = Date.now()): z.infer<typeof BanView> {
  return {
    id: b.id,
    subject: b.identity_subject,
    kind: b.kind,
    legalReference: b.legal_reference,
    authority: b.authority,
    reason: b.reason,
    category: b.category,
    startsAt: iso(b.starts_at),
    endsAt: isoOrNull(b.ends_at),
    active: isBanActive(b, now),
    createdBy: b.created_by,
    liftedAt: isoOrNull(b.lifted_at),
    liftedBy: b.lifted_by,
    liftReason: b.lift_reason,
  };
}

/** Court-ordered and platform bans of a person (every account of the identity subject, present and future). */
export function banRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const enforceNow = async (accountIds: string[], actor: string) => {
    await ctx.gate.refresh();
    if (accountIds.length) await ctx.enforcer.enforce(accountIds, actor);
  };

  app.route({
    method: 'POST',
    url: '/api/v1/bans',
    config: { auth: 'operator' },
    schema: {
      summary: 'Ban a person from live streaming (court order or platform decision)',
      tags: ['accounts'],
      body: z
        .object({
          subject: Subject.optional().describe('The identity subject; or name one of their accounts by `handle`'),
          handle: HandleSchema.optional(),
          kind: z.enum(['court_order', 'platform']),
          legalReference: z.string().trim().min(1).max(500).optional().describe('Required for a court order'),
          authority: z.string().trim().min(1).max(200).optional(),
          reason: Reason,
          category: ContentCategory.optional().describe(
            'What the person was banned for (a bank or strike category such as `violent-extremism`): the statements of reasons state its DSA category',
          ),
          endsAt: z.iso.datetime({ offset: true }).optional().describe('Omitted: until lifted'),
        })
        .strict()
        .refine((b) => (b.subject === undefined) !== (b.handle === undefined), {
          message: 'name the person by subject or by handle (one of them)',
          path: ['subject'],
        })
        .refine((b) => b.kind !== 'court_order' || b.legalReference !== undefined, {
          message: 'a court-ordered ban needs its legal reference',
          path: ['legalReference'],
        }),
      response: {
        201: json(z.object({ ban: BanView, accountsAffected: z.number().int(), streamsCut: z.number().int() }), 'Banned; live streams of the person are cut'),
        ...errors({ 404: 'No such account' }),
      },
    },
    handler: async (req, reply) => {
      const b = req.body;
      const { ban, accountIds } = await addBan(
        db,
        { id: req.principal.actor },
        {
          subject: b.subject,
          handle: b.handle,
          kind: b.kind,
          legalReference: b.legalReference ?? null,
          authority: b.authority ?? null,
          reason: b.reason,
          category: b.category ?? null,
          endsAt: b.endsAt ? Date.parse(b.endsAt) : null,
        },
      );
      await ctx.gate.refresh();
      const cut = accountIds.length ? await ctx.enforcer.enforce(accountIds, req.principal.actor) : 0;
      reply.code(201);
      return { ban: banView(ban), accountsAffected: accountIds.length, streamsCut: cut };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/bans',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Bans of people (unlifted unless asked)',
      tags: ['accounts'],
      querystring: z.object({ subject: Subject.optional(), includeLifted: z.enum(['true', 'false']).optional() }).strict(),
      response: { 200: json(z.object({ bans: z.array(BanView) }), 'Bans, newest first') },
    },
    handler: async (req) => {
      const rows = await listBans(db, { subject: req.query.subject, includeLifted: req.query.includeLifted === 'true' });
      const now = Date.now();
      return { bans: rows.map((b) => banView(b, now)) };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/bans/:id/lift',
    config: { auth: 'operator' },
    schema: {
      summary: 'Lift a ban (the order was set aside, or it was issued in error)',
      tags: ['accounts'],
      params: idParams(BanId),
      body: z.object({ reason: Reason }).strict(),
      response: { 200: json(z.object({ ban: BanView }), 'Lifted'), ...errors({ 404: 'No such ban', 409: 'Already lifted' }) },
    },
    handler: async (req) => {
      const { ban, accountIds } = await liftBan(db, { id: req.principal.actor }, req.params.id, req.body.reason);
      await enforceNow(accountIds, req.principal.actor);
      return { ban: banView(ban) };
    },
  });
}
