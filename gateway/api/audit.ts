import { z } from 'zod';
import { queryAudit } from '../store/audit.ts';
import type { ApiContext } from './context.ts';
import { json, type ApiApp } from './route.ts';
import { BeforeQuery, limitQuery, NextCursor } from './schemas.ts';
import { AuditRecordView } from './views/audit.ts';

const isoOrMs = z
  .string()
  .transform((v, c) => {
    const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (Number.isNaN(ms)) {
      c.addIssue({ code: 'custom', message: 'expected an ISO-8601 time or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('ISO 8601 time or epoch milliseconds');

const AuditQuery = z
  .object({
    actor: z.string().max(200).optional(),
    action: z.string().max(100).optional(),
    targetType: z.string().max(50).optional(),
    targetId: z.string().max(200).optional(),
    since: isoOrMs.optional(),
    until: isoOrMs.optional(),
    before: BeforeQuery,
    limit: limitQuery(1000),
  })
  .strict();

/** The append-only audit log. */
export function auditRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/api/v1/audit',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Query the append-only audit log (newest first)',
      tags: ['audit'],
      querystring: AuditQuery,
      response: { 200: json(z.object({ records: z.array(AuditRecordView), next: NextCursor }), 'Audit records') },
    },
    handler: async ({ query }) => {
      const records = await queryAudit(ctx.store.db, query);
      return { records, next: records.length === query.limit ? records[records.length - 1]!.id : null };
    },
  });
}
