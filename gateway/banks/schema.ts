import { z } from 'zod';
import { PDQ_MATCH_DISTANCE } from '../../classifiers/pdq.ts';
import type { Severity } from '../store/schema.ts';

/** What operators send to create banks and add entries (API bodies, CLI options, hash-list files). */

export const BankNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a bank name is 1–64 characters of a-z, 0-9, _ . -');
export const SeverityEnum = z.enum(['low', 'medium', 'high', 'critical']);

export const CreateBankSchema = z
  .object({
    name: BankNameSchema,
    description: z.string().max(500).optional(),
    category: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a category is lowercase a-z, 0-9, _ . -'),
    severity: SeverityEnum.default('critical'),
    radius: z.number().int().min(0).max(64).default(PDQ_MATCH_DISTANCE),
    /** `negative`: HMA's "don't match" bank: a frame matching one of its entries has its positive matches suppressed. */
    kind: z.enum(['positive', 'negative']).default('positive'),
    /** HMA's matching_enabled_ratio: the share of the bank's content that matches (gradual rollout), by content id. */
    matchingEnabledRatio: z.number().min(0).max(1).default(1),
  })
  .strict();
export type CreateBank = z.input<typeof CreateBankSchema>;

export interface NewEntry {
  hash: string;
  category?: string;
  severity?: Severity;
  source?: string | null;
  note?: string | null;
}
