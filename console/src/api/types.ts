/**
 * The JSON the console reads, as today's API returns it (gateway/api/*.ts). Hand-written for phase 1:
 * once the routes are typed fastify-zod routes, these become `z.infer` of the response schemas.
 */
import type { BankKind, BanksTable } from '../../../gateway/store/schema.ts';
import type { AuditView } from '../../../gateway/store/audit.ts';
import type { BacktestReport } from '../../../policy/backtest.ts';
import type { Actions as EngineActions } from '../../../policy/engine.ts';

export type Role = 'moderator' | 'operator';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type ReviewPriority = 'low' | 'normal' | 'high' | 'urgent';
export type ReviewStatus = 'pending' | 'confirmed' | 'overturned' | 'none';

export type SamplingMode = 'full' | 'keyframe' | 'adaptive-full' | 'adaptive-keyframe' | 'off' | 'remote';

export interface LiveStream {
  id: string;
  account: string;
  protocol: 'rtmp' | 'websocket';
  startedAt: string;
  playPath: string | null;
  sampling: {
    mode: SamplingMode;
    lastFrameAt: string | null;
    framesSampled: number;
    /** Load shedding of its sampler (null where it does not apply): the rate hashed now and how far behind live. */
    shedding?: { fps: number; lagMs: number | null; skips: number; raises: number } | null;
  };
  /** The latest sampled frame's scores; null before the first. */
  latest: { at: string; scores: Record<string, Record<string, number>>; nearestBankDistance: number | null } | null;
  watch: { flv: string | null };
  /** The latest frame number the console knows of (push), to reload the thumbnail. */
  frameSeq?: number;
}

/** The engine's actions as stored with a decision (`cut` may be absent in what a shadow rule would have done). */
export type Actions = Omit<EngineActions, 'cut'> & { cut?: boolean };

export interface Decision {
  id: string;
  streamId: string;
  accountId: string;
  /** The account the decision is about; handle null when the account is gone. */
  account: { id: string; handle: string | null };
  ruleId: string;
  policyVersion: string;
  shadow: boolean;
  /** Enforced actions, or (shadow) what would have been done. */
  actions: Actions & { wouldHave?: Actions };
  reason: string;
  decidedAt: string;
  decidedBy: string;
  review: { status: ReviewStatus; priority: ReviewPriority | null; by: string | null; at: string | null; reason: string | null };
  evidence: Array<{ ref: string; image: string }>;
  detail: string;
}

export interface HashMatchFact {
  bank: string;
  entryId: string;
  distance: number;
  variant: string;
  category: string;
  severity: Severity;
  frameHash: string;
  quality: number;
  /** Which part of the frame matched (`trimmed`, a tile, `inner`); absent: the whole frame. */
  region?: string;
  /** Which crop of the banked picture matched (a derived entry); absent: the entry itself. */
  entryRegion?: string;
}

/** What each classifier added to a frame's evidence (classifiers/stage.ts merges them); any may be absent. */
export interface EvidenceFacts {
  streamId: string;
  seq: number;
  mediaTimeMs: number;
  receivedAt: number;
  pdq?: { hash: string; quality: number } | null;
  matches?: HashMatchFact[];
  /** model name → label → score. */
  scores?: Record<string, Record<string, number>>;
}

export interface RawStrike {
  id: string;
  category: string;
  severity: Severity;
  rule_id: string | null;
  at: number;
  expires_at: number;
  voided_at: number | null;
}

export interface DecisionDetail extends Decision {
  evidenceFacts: EvidenceFacts[];
  strikes: RawStrike[];
  suspensions: Array<{ id: string; starts_at: number; ends_at: number | null; lifted_at: number | null }>;
}

export interface Suspension {
  id: string;
  reason: string;
  startsAt: string;
  endsAt: string | null;
  permanent: boolean;
  createdBy: string;
  decisionId: string | null;
  liftedAt: string | null;
  liftedBy: string | null;
  liftReason: string | null;
}

export type AuditRecord = AuditView;

export type IdentityStatus = 'unverified' | 'pending' | 'verified' | 'revoked';

export interface Account {
  id: string;
  handle: string;
  identity: { status: IdentityStatus; subject: string | null; method: string | null; changedAt: string | null };
  activeSuspension: Suspension | null;
  live: LiveStream[];
  suspensions: Suspension[];
  streams: Array<{ id: string; protocol: 'rtmp' | 'websocket'; startedAt: string; endedAt: string | null; endReason: string | null; endDetail: string | null }>;
  refusals: Array<{ at: string; protocol: string; reason: string; detail: string | null }>;
  keys: Array<{ id: string; prefix: string; createdAt: string; revokedAt: string | null; lastUsedAt: string | null }>;
  audit: AuditRecord[];
}

export interface Strike {
  id: string;
  category: string;
  severity: Severity;
  ruleId: string | null;
  decisionId: string | null;
  at: string;
  expiresAt: string;
  active: boolean;
  voided: boolean;
  voidReason: string | null;
}

/** A bank as GET /api/v1/banks answers it (the row, its generated columns filled in, and its counts). */
export type Bank = Omit<BanksTable, 'kind' | 'matching_enabled_ratio'> & {
  kind: BankKind;
  matching_enabled_ratio: number;
  entries: number;
  enabledEntries: number;
};

export interface Appeal {
  id: string;
  status: 'open' | 'upheld' | 'overturned';
  account: string | null;
  accountId: string;
  statement: string;
  createdAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  outcomeReason: string | null;
  /** What it contests (gateway/api/views/appeal.ts AppealTargetView). */
  target: { kind: 'decision' | 'suspension' | 'ban'; id: string };
  decision: Decision | null;
  /** The appealed suspension or ban (gateway/api/views/appeal.ts AppealedRestrictionView). */
  restriction: {
    kind: 'suspension' | 'ban';
    id: string;
    reason: string;
    by: string;
    startsAt: string;
    endsAt: string | null;
    liftedAt: string | null;
    liftReason: string | null;
    category: string | null;
  } | null;
}

export interface ActivePolicy {
  versionId: number;
  format: 'yaml' | 'json';
  text: string;
  policy: unknown;
}

export interface PolicyVersion {
  id: number;
  author: string;
  comment: string | null;
  createdAt: string;
  active: boolean;
}

export interface PolicyErrorItem {
  path: string;
  message: string;
}

export type BacktestResult = BacktestReport & { baseline: { versionId: number; name: string; version: string }; since: string; until: string };

/** An appeal of the streamer's, as GET /api/v1/me shows it beside what it contests (the route's zod schema). */
export type MyAppealRef = import('zod').infer<typeof import('../../../gateway/api/views/streamer-status.ts').MyAppealRef>;

/** What a streamer appeals (POST /api/v1/me/appeals names exactly one). */
export type AppealTargetRef = { decisionId: string } | { suspensionId: string } | { banId: string };

/** GET /api/v1/me (the streamer's own token): the route's zod schema, gateway/api/views/streamer-status.ts. */
export type StreamerStatus = import('zod').infer<typeof import('../../../gateway/api/views/streamer-status.ts').MyStatus>;

/** GET /api/v1/stats (the route's zod schema: gateway/api/stats.ts). */
export type Stats = import('zod').infer<typeof import('../../../gateway/stats/view.ts').StatsView>;
/** GET /api/v1/transparency (gateway/accountability/transparency/report.ts). */
export type TransparencyReport = import('../../../gateway/accountability/transparency/report.ts').TransparencyReport;
/** Viewer report categories (gateway/accountability/reports/service.ts). */
export type ReportCategory = (typeof import('../../../gateway/accountability/reports/categories.ts').REPORT_CATEGORIES)[number];
/** One stream of GET /api/v1/reports (gateway/api/reports.ts), most independent reports first. */
export interface ReportedStream {
  streamId: string;
  account: string | null;
  /** The stream while it is live; null once it ended. */
  live: LiveStream | null;
  independentReports: number;
  reports: number;
  categories: Record<string, number>;
  firstAt: string;
  lastAt: string;
  notes: Array<{ at: string; category: ReportCategory; note: string }>;
}
/** GET /api/v1/policy/versions/{id}. */
export interface PolicyVersionText extends PolicyVersion {
  format: 'yaml' | 'json';
  text: string;
}
