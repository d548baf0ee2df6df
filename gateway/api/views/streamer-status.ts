import { z } from 'zod';
import { IsoTime, IsoTimeOrNull, Severity } from '../schemas.ts';
import { AppealOutcome } from './appeal.ts';

/**
 * GET /api/v1/me: what a streamer reads about their own account (status, restrictions, decisions,
 * statements, how to appeal). The route (gateway/api/streamer.ts) answers with it, and the console's
 * /broadcast page reads its type from here (console/src/api/types.ts), so the two cannot drift.
 */

export const MyAppealRef = z.object({ id: z.string(), status: z.enum(['open', 'upheld', 'overturned']), createdAt: IsoTime, outcome: AppealOutcome });
export const StreamerSuspension = z.object({
  id: z.string(),
  reason: z.string(),
  decidedBy: z.enum(['rule', 'moderator']),
  rule: z.string().nullable(),
  decisionId: z.string().nullable().describe("The decision to appeal; null when it was taken against another of the person's accounts"),
  viaOtherAccount: z.boolean(),
  startsAt: IsoTime,
  endsAt: IsoTimeOrNull,
  permanent: z.boolean(),
  appealable: z.boolean().describe('Appealed on its own (suspensionId); one that came with a decision is appealed through the decision'),
  notAppealableBecause: z.string().nullable(),
  appeal: MyAppealRef.nullable(),
});

export const EnforcementSummary = z.object({
  cut: z.boolean(),
  suspension: z.object({ until: IsoTimeOrNull, permanent: z.boolean() }).nullable(),
  strike: z.object({ category: z.string(), severity: z.string(), expiresAt: IsoTime }).nullable(),
  warning: z.string().nullable(),
});

export const GoLive = z.object({
  allowed: z.boolean(),
  reason: z.enum(['identity_revoked', 'not_verified', 'suspended', 'banned', 'under_age', 'age_unverified', 'no_stream_key']).nullable(),
  message: z.string(),
});

export const StreamerStatement = z.object({
  id: z.string(),
  decisionId: z.string().nullable(),
  decidedAt: IsoTime,
  status: z.enum(['in_force', 'overturned']),
  text: z.array(z.string()).describe('The statement in plain words, one sentence or paragraph each'),
  ground: z.enum(['illegal_content', 'incompatible_content']),
  category: z.string().describe('The DSA category (e.g. STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY)'),
  automatedDecision: z.boolean(),
});

export const StreamerBan = z.object({
  id: z.string(),
  kind: z.enum(['court_order', 'platform']),
  reason: z.string(),
  legalReference: z.string().nullable(),
  startsAt: IsoTime,
  endsAt: IsoTimeOrNull,
  appealable: z.boolean(),
  notAppealableBecause: z.string().nullable(),
  appeal: MyAppealRef.nullable(),
});

export const MyStatus = z.object({
  handle: z.string(),
  identity: z.object({ status: z.enum(['unverified', 'pending', 'verified', 'revoked']), changedAt: IsoTimeOrNull }),
  canGoLive: z.boolean(),
  goLive: GoLive,
  live: z.boolean(),
  activeSuspension: StreamerSuspension.nullable().describe('The suspension that keeps the account off air longest'),
  activeSuspensions: z.array(StreamerSuspension),
  bans: z.array(StreamerBan).describe('Bans of you as a person in force (a court order, or the platform)'),
  strikes: z.array(
    z.object({
      id: z.string(),
      category: z.string(),
      severity: Severity,
      rule: z.string(),
      at: IsoTime,
      expiresAt: IsoTime,
      decisionId: z.string().nullable(),
      viaOtherAccount: z.boolean(),
    }),
  ),
  decisions: z.array(
    z.object({
      id: z.string(),
      streamId: z.string(),
      rule: z.string(),
      reason: z.string(),
      decidedAt: IsoTime,
      decidedBy: z.enum(['rule', 'moderator']),
      enforcement: EnforcementSummary,
      reviewStatus: z.enum(['none', 'pending', 'confirmed', 'overturned']),
      appealable: z.boolean(),
      notAppealableBecause: z.string().nullable(),
      appeal: MyAppealRef.nullable(),
    }),
  ),
  statements: z.array(StreamerStatement).describe('Statements of reasons (DSA Art. 17) for the restrictions on this account, newest first, in plain words'),
  howToAppeal: z.object({
    text: z.string(),
    method: z.literal('POST'),
    endpoint: z.string(),
    body: z.object({ decisionId: z.string(), statement: z.string() }),
    outcomes: z.string(),
  }),
});
