import { z } from 'zod';
import type { Suspension } from '../../store/schema.ts';
import { iso, IsoTime, IsoTimeOrNull, isoOrNull } from '../schemas.ts';

/** A suspension as moderators see it (who created and who lifted it included). */
export const SuspensionView = z
  .object({
    id: z.string(),
    reason: z.string(),
    startsAt: IsoTime,
    endsAt: IsoTimeOrNull.describe('null: permanent'),
    permanent: z.boolean(),
    createdBy: z.string().describe('`policy:<rule>` or `token:<moderator>`'),
    decisionId: z.string().nullable(),
    liftedAt: IsoTimeOrNull,
    liftedBy: z.string().nullable(),
    liftReason: z.string().nullable(),
    category: z.string().nullable().describe('What it was for (a bank or strike category); null: not said'),
  })
  .meta({ id: 'Suspension' });

export function suspensionView(s: Suspension): z.infer<typeof SuspensionView> {
  return {
    id: s.id,
    reason: s.reason,
    startsAt: iso(s.starts_at),
    endsAt: isoOrNull(s.ends_at),
    permanent: s.ends_at === null,
    createdBy: s.created_by,
    decisionId: s.decision_id,
    liftedAt: isoOrNull(s.lifted_at),
    liftedBy: s.lifted_by,
    liftReason: s.lift_reason,
    category: s.category,
  };
}

/** A suspension row as stored (the decision detail lists them so). */
export const SuspensionRowSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  identity_subject: z.string().nullable(),
  reason: z.string(),
  starts_at: z.number(),
  ends_at: z.number().nullable(),
  created_by: z.string(),
  decision_id: z.string().nullable(),
  lifted_at: z.number().nullable(),
  lifted_by: z.string().nullable(),
  lift_reason: z.string().nullable(),
  category: z.string().nullable(),
});
