import { z } from 'zod';
import { Severity } from '../schemas.ts';

/** A strike row as stored (the decision detail lists them so). */
export const StrikeRowSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  identity_subject: z.string().nullable(),
  stream_id: z.string().nullable(),
  decision_id: z.string().nullable(),
  category: z.string(),
  severity: Severity,
  rule_id: z.string(),
  at: z.number(),
  expires_at: z.number(),
  voided_at: z.number().nullable(),
  voided_by: z.string().nullable(),
  void_reason: z.string().nullable(),
});
