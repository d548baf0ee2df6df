import { z } from 'zod';
import { IsoTime, JsonObject } from '../schemas.ts';

/** One audit record (gateway/store/audit.ts `AuditView`). */
export const AuditRecordView = z
  .object({
    id: z.number().int(),
    at: IsoTime,
    actor: z.string(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string(),
    reason: z.string().nullable(),
    detail: JsonObject.nullable().describe('Action-specific facts'),
  })
  .meta({ id: 'AuditRecord' });
