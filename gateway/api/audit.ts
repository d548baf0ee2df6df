import { z } from 'zod';
import { queryAudit } from '../store/audit.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, type RouteDef } from './route.ts';

const isoOrMs = z
  .string()
  .transform((v, c) => {
    const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (Number.isNaN(ms)) {
      c.addIssue({ code: 'custom', message: 'expected an ISO-8601 time or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

const AuditQuery = z
  .object({
    actor: z.string().max(200).optional(),
    action: z.string().max(100).optional(),
    targetType: z.string().max(50).optional(),
    targetId: z.string().max(200).optional(),
    since: isoOrMs.optional(),
    until: isoOrMs.optional(),
    before: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export function auditRoutes(ctx: ApiContext): RouteDef[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit',
      summary: 'Query the append-only audit log (newest first)',
      tag: 'audit',
      role: 'moderator',
      query: AuditQuery,
      responses: { 200: 'Audit records', 400: 'Invalid query' },
      handler: async ({ query }) => {
        const records = await queryAudit(ctx.store.db, query);
        return { records, next: records.length === query.limit ? records[records.length - 1]!.id : null };
      },
    }),
  ];
}
