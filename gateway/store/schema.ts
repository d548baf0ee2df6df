import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** How the publisher sends: to modgate itself (rtmp, websocket) or to an upstream media server (any of these). */
export type StreamProtocol = 'rtmp' | 'websocket' | 'rtsp' | 'srt' | 'webrtc';

/**
 * Table types for kysely. Times are epoch milliseconds (integers) in both SQLite and PostgreSQL, so the
 * dialects stay interchangeable and comparisons are cheap. Ids are opaque prefixed strings.
 */

/** The two databases modgate runs on: SQLite embedded, PostgreSQL for several nodes. */
export type Dialect = 'sqlite' | 'postgres';

export type IdentityStatus = 'unverified' | 'pending' | 'verified' | 'revoked';

export interface AccountsTable {
  id: string;
  handle: string;
  identity_status: IdentityStatus;
  /** Opaque id of the verified person at the identity provider; several accounts may share one. */
  identity_subject: string | null;
  /** How verification happened: `operator`, `webhook:<provider>`, `demo`. */
  identity_method: string | null;
  identity_changed_at: number | null;
  created_at: number;
  /** Age assurance: the person is at least this old, per the provider (never a birth date); null: no claim. */
  age_over: number | null;
  /** How the age was assured (`id_document`, `facial_estimation`, …, or `operator`). */
  age_source: string | null;
  age_checked_at: number | null;
}

export interface StreamKeysTable {
  id: string;
  account_id: string;
  /** SHA-256 (hex) of the key; the key itself is shown once and never stored. */
  key_hash: string;
  /** First characters of the key, so an operator can tell keys apart without seeing them. */
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface StreamsTable {
  id: string;
  account_id: string;
  key_id: string | null;
  protocol: StreamProtocol;
  remote_addr: string | null;
  started_at: number;
  ended_at: number | null;
  /** `publisher_disconnected`, `cut`, `suspended`, `identity_revoked`, `key_revoked`, `gateway_shutdown`… */
  end_reason: string | null;
  end_detail: string | null;
  /** Node that owns the stream: a crashed node's streams are closed at its next start. */
  node_id: string;
  /** The upstream media server it was published to (gateway/hooks/); null for native ingest. */
  server: string | null;
  /**
   * 1: written by the local journal's replay (the stream went live during an outage) and not yet claimed;
   * such a row does not count against another stream's claim of the account (0012_stream_claims).
   */
  claim_pending: Generated<number>;
}

export interface PublishRefusalsTable {
  id: Generated<number>;
  at: number;
  protocol: StreamProtocol;
  remote_addr: string | null;
  account_id: string | null;
  reason: string;
  detail: string | null;
  /** The upstream media server whose hook was refused; null for native ingest. */
  server: string | null;
  /** Refusals the row stands for: 1, or a source's repeated refusals of one reason in an audit window (then `at` is the first, `last_at` the last). */
  count: Generated<number>;
  last_at: number | null;
}

export interface SuspensionsTable {
  id: string;
  account_id: string;
  /** Identity subject at the time of suspension: a suspension binds the person, not only the account. */
  identity_subject: string | null;
  reason: string;
  starts_at: number;
  /** null = permanent. */
  ends_at: number | null;
  created_by: string;
  decision_id: string | null;
  lifted_at: number | null;
  lifted_by: string | null;
  lift_reason: string | null;
  /** What it was for (a bank or strike category), for its statement of reasons; null: not said (migration 0043). */
  category: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AdminTokensTable {
  id: string;
  name: string;
  role: 'moderator' | 'operator' | 'authority';
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  reason: string | null;
  /** JSON object with action-specific facts. */
  detail: string | null;
}

export interface IdentityEventsTable {
  event_id: string;
  received_at: number;
  event_type: string;
  handle: string | null;
  subject: string | null;
  outcome: string;
}

/** Append-only change feed: every write that can change who may publish appends the account id here. */
export interface GateChangesTable {
  seq: Generated<number>;
  account_id: string;
  at: number;
}

/** A console push event written by the node that published it, for the other nodes (0061_console_events). */
export interface ConsoleEventsTable {
  seq: Generated<number>;
  node_id: string;
  /** A PushEventType. */
  type: string;
  /** The event's data, JSON. */
  data: string;
  at: number;
}

/** A request to cut a stream another node carries (0010_nodes): that node applies it when notified. */
export interface CutRequestsTable {
  id: string;
  stream_id: string;
  node_id: string;
  reason: string;
  message: string;
  actor: string;
  detail: string | null;
  requested_at: number;
  done_at: number | null;
  /** cut | not_live */
  outcome: string | null;
}

/** Gateway nodes on one database, with their heartbeat (0010_nodes). */
export interface NodesTable {
  id: string;
  started_at: number;
  heartbeat_at: number;
  http_url: string | null;
  rtmp_url: string | null;
  stopped_at: number | null;
  /** Set by another node that found its heartbeat stale and closed its streams as `node_lost`. */
  lost_at: number | null;
  lost_by: string | null;
}

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface BanksTable {
  name: string;
  description: string | null;
  default_category: string;
  default_severity: Severity;
  /** Hamming radius for this bank's matches (PDQ: 31 is the recommended confident-match threshold). */
  radius: number;
  enabled: number;
  created_at: number;
  created_by: string;
  /** `positive` (matches act) or `negative` (HMA's "don't match": its matches suppress positive ones). */
  kind: Generated<BankKind>;
  /** Share of the bank's content that matches (HMA's gradual rollout), decided per content id. */
  matching_enabled_ratio: Generated<number>;
}

export type BankKind = 'positive' | 'negative';

export interface BankEntriesTable {
  id: string;
  bank: string;
  /** 64 lowercase hex characters (PDQ). */
  hash: string;
  category: string;
  severity: Severity;
  source: string | null;
  note: string | null;
  added_by: string;
  added_at: number;
  enabled: number;
  /** For a derived entry (a crop of banked content, classifiers/regions.ts): the entry it was cut from; null for an entry itself. */
  derived_from: string | null;
  /** Which region of its entry a derived entry hashes (`centre-80`, `tile-tl`, `trimmed`…); null for an entry itself. */
  region: string | null;
  /** A moderator's opinion of a third-party signal: `confirmed` or `deconfirmed` (then disabled, and kept so by its exchange). */
  opinion: string | null;
  /** 1: matches are logged but cut nothing, until a moderator clears or removes it (entry_quarantines). */
  quarantined: Generated<number>;
  /** 1: a moderator cleared a flood quarantine; the flood guard leaves the entry alone. */
  flood_exempt: Generated<number>;
  /**
   * `pdq` (the hash column is 64 hex), `copy` (a learned copy descriptor, always a derived entry), or `vpdq`
   * (a video: `hash` is `vpdq:` and the sha256 of its frames, the frames are in `frames`).
   */
  signal_type: Generated<string>;
  /** A vPDQ entry's frames, `pdq_hex,quality,timestamp` per line (classifiers/vpdq/frames.ts); null otherwise. */
  frames: string | null;
}

/** One per Idempotency-Key a partner sent with an opinion: the opinion is recorded once however often it arrives. */
export interface PartnerOpinionReceiptsTable {
  /** `partner:<name>`, as entry_opinions.source. */
  source: string;
  idempotency_key: string;
  at: number;
}

export interface EntryOpinionsTable {
  id: Generated<number>;
  at: number;
  bank: string | null;
  entry_id: string | null;
  signal_type: string;
  hash: string;
  /** python-threatexchange SignalOpinionCategory: negative_class, investigation_seed, positive_class. */
  category: string;
  /** JSON list of tags. */
  tags: string;
  /** 1: our own opinion (given here); 0: a partner's, received. */
  is_mine: number;
  /** `moderator` or `partner:<name>`. */
  source: string;
  actor: string;
  reason: string | null;
  /** The exchange our opinion is reported to (its bank fed the entry). */
  exchange: string | null;
  reported_at: number | null;
  report_error: string | null;
  /** Our opinion's delivery to `exchange` (gateway/exchanges/opinion-outbox.ts): pending, delivered, not_taken, rejected (refused with a 4xx; not retried); null: nothing to deliver. */
  delivery: string | null;
  /** Delivery attempts made so far. */
  attempts: Generated<number>;
  /** When a pending opinion is (re)sent next; while an attempt runs, the end of its claim. */
  next_attempt_at: number | null;
  /** Ours: the key each attempt carries (Idempotency-Key); a partner's: the key it sent (a retry is recorded once). */
  idempotency_key: string | null;
}

export interface EntryQuarantinesTable {
  id: string;
  entry_id: string;
  bank: string;
  /** `flood` (matched far more streams than its baseline) or `partner_opinion` (a partner deconfirmed it). */
  reason: string;
  /** JSON facts (streams in the window, the partner). */
  detail: string;
  at: number;
  /** `open`, `cleared` (matching again) or `removed` (the entry disabled). */
  status: string;
  handled_by: string | null;
  handled_at: number | null;
  handle_reason: string | null;
}

export interface BankChangesTable {
  seq: Generated<number>;
  bank: string;
  /** null: the bank itself changed (enabled, radius) or a bulk import; reload the bank. */
  entry_id: string | null;
  at: number;
}

/** A hash exchange this gateway fetches from (gateway/exchanges/); its entries land in `bank`. */
export interface ExchangesTable {
  name: string;
  /** `tat` (Tech Against Terrorism hash list v2), `hashlist` (a URL or file in HMA/plain/CSV format), `modgate` (another gateway's feed). */
  kind: string;
  url: string;
  bank: string;
  /** Sealed with the gateway's secret key (gateway/security/secrets.ts); never returned by the API. */
  credential: string | null;
  interval_ms: number;
  enabled: number;
  /** Opaque to modgate: what the exchange handed back with its last applied page. */
  checkpoint: string | null;
  last_fetch_at: number | null;
  last_success_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  /** Consecutive failed fetches (back-off grows with it). */
  failures: number;
  next_fetch_at: number | null;
  upserts: number;
  deletes: number;
  quarantined: number;
  created_at: number;
  created_by: string;
}

export interface ExchangeQuarantineTable {
  id: Generated<number>;
  exchange: string;
  at: number;
  /** The checkpoint the page was fetched from. */
  checkpoint: string | null;
  reason: string;
  /** The rejected record or page, truncated. */
  raw: string;
}

/** A platform this gateway serves its feed to (GET /api/v1/exchange/feed). */
export interface ExchangePartnersTable {
  id: string;
  name: string;
  token_hash: string;
  /** JSON array of bank names the partner may read. */
  banks: string;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
  last_seen_at: number | null;
  last_checkpoint: string | null;
}

/** A small JPEG of what a bank entry was hashed from (0060_bank_entry_pictures). */
export interface BankEntryPicturesTable {
  entry_id: string;
  jpeg: Uint8Array;
  width: number;
  height: number;
  /** `picture` (banked from a picture file) or `decision:<id>` (a confirmed decision's evidence frame). */
  origin: string;
  created_at: number;
}

/** A crisis incident (GIFCT Content Incident Protocol; gateway/crisis/): declared and ended by an operator. */
export interface IncidentsTable {
  id: string;
  name: string;
  description: string;
  /** JSON array of the banks whose new entries are scanned retroactively and pushed to partners at once. */
  banks: string;
  /** A stored policy version laid over the active policy while the incident is active; null: none. */
  overlay_version_id: number | null;
  status: 'active' | 'ended';
  declared_at: number;
  declared_by: string;
  declare_reason: string | null;
  ended_at: number | null;
  ended_by: string | null;
  end_reason: string | null;
}

/** An incident's timeline: declared, applied on a node, entries banked, retroactive cuts and flags, ended. */
export interface IncidentEventsTable {
  id: Generated<number>;
  incident_id: string;
  at: number;
  kind: string;
  /** The node that recorded it (null: the API or CLI). */
  node: string | null;
  stream_id: string | null;
  /** Small JSON object. */
  detail: string | null;
}

/** The integer HMA's API names a banked entry by (`bank_content_id`). */
export interface HmaContentIdsTable {
  id: Generated<number>;
  entry_id: string;
}

export interface SignalsTable {
  id: Generated<number>;
  stream_id: string;
  account_id: string;
  observed_at: number;
  /** The Signal as JSON (classifiers/signal.ts). */
  body: string;
}

export type ReviewStatus = 'none' | 'pending' | 'confirmed' | 'overturned';

export interface DecisionsTable {
  id: string;
  stream_id: string;
  account_id: string;
  identity_subject: string | null;
  rule_id: string;
  policy_version: string;
  shadow: number;
  /** JSON: the engine's Actions (or wouldHave for shadow decisions). */
  actions: string;
  reason: string;
  /** JSON: evidence refs and the deciding signals. */
  evidence: string;
  decided_at: number;
  /** `policy:<rule>` or `token:<moderator>` for manual actions. */
  decided_by: string;
  review_status: ReviewStatus;
  review_priority: string | null;
  reviewed_by: string | null;
  reviewed_at: number | null;
  review_reason: string | null;
}

export interface StrikesTable {
  id: string;
  account_id: string;
  identity_subject: string | null;
  stream_id: string | null;
  decision_id: string | null;
  category: string;
  severity: Severity;
  rule_id: string;
  at: number;
  expires_at: number;
  voided_at: number | null;
  voided_by: string | null;
  void_reason: string | null;
}

/** What an appeal contests (0044_appeal_targets): a decision, a suspension with no decision, or a platform ban of the person. */
export type AppealTargetKind = 'decision' | 'suspension' | 'ban';

export interface AppealsTable {
  id: string;
  target_kind: ColumnType<AppealTargetKind, AppealTargetKind | undefined, AppealTargetKind>;
  /** The decision's, suspension's or ban's id (dec_…, sus_…, ban_…): one appeal per restriction. */
  target_id: string;
  account_id: string;
  statement: string;
  created_at: number;
  status: 'open' | 'upheld' | 'overturned';
  decided_by: string | null;
  decided_at: number | null;
  outcome_reason: string | null;
}

export interface AccountTokensTable {
  id: string;
  account_id: string;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface PolicyVersionsTable {
  id: Generated<number>;
  text: string;
  format: 'yaml' | 'json';
  author: string;
  comment: string | null;
  created_at: number;
}

export interface PolicyActiveTable {
  /** Always 1: a single row naming the version in force. */
  id: number;
  version_id: number;
  activated_at: number;
  activated_by: string;
}

/** A ban of a person (all their accounts, present and future), by court order or platform decision. */
export interface PersonBansTable {
  id: string;
  identity_subject: string;
  kind: 'court_order' | 'platform';
  /** The order's reference (court, case number, statute) for a court-ordered ban. */
  legal_reference: string | null;
  /** Who ordered it (a court, an authority) or null for a platform ban. */
  authority: string | null;
  reason: string;
  starts_at: number;
  /** null = until lifted. */
  ends_at: number | null;
  created_by: string;
  created_at: number;
  lifted_at: number | null;
  lifted_by: string | null;
  lift_reason: string | null;
  /** What the person was banned for (a bank or strike category), for the statements of reasons; null: not said. */
  category: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A DSA statement of reasons and its delivery state (gateway/accountability/statements). */
export interface StatementsTable {
  id: string;
  /** Platform unique id sent to the Transparency Database: never reused, so a retry never duplicates. */
  puid: string;
  /** What restricted the account: a decision, a suspension (of this account or, person-wide, another of the person's), a ban of the person. */
  source_kind: 'decision' | 'suspension' | 'ban';
  source_id: string;
  /** The restricted account: one statement per source and account (migration 0043). */
  account_id: string;
  decision_id: string | null;
  decided_at: number;
  /** JSON: the statement's Transparency Database fields. */
  body: string;
  /** JSON: the facts the plain-words text is built from (gateway/accountability/statements/map.ts `Restriction`). */
  restriction: string;
  /** JSON array of sentences: the statement in plain words for the streamer. */
  plain: string;
  status: 'in_force' | 'overturned';
  overturned_at: number | null;
  overturn_reason: string | null;
  created_at: number;
  /** `pending` (in the outbox; submitted once an endpoint is configured), `submitted`, `rejected` (the database refused its fields). */
  delivery: 'pending' | 'submitted' | 'rejected';
  attempts: number;
  next_attempt_at: number;
  submitted_at: number | null;
  last_error: string | null;
}

/** A viewer's report of a live stream (gateway/accountability/reports). */
export interface ViewerReportsTable {
  id: string;
  stream_id: string;
  account_id: string;
  /** `imminent_harm`, `terrorism`, `child_safety`, `violence`, `hate`, `other`. */
  category: string;
  note: string | null;
  /** HMAC of the reporter's address under a key that rotates (and is never stored): tells reports apart, identifies no one. */
  source_hash: string;
  created_at: number;
  status: 'open' | 'actioned' | 'dismissed';
  handled_at: number | null;
  handled_by: string | null;
  /** What was done: `cut`, `suspended`, `none`. */
  action: string | null;
  handle_reason: string | null;
}

/** A removal order from a competent authority (gateway/accountability/orders). */
export interface RemovalOrdersTable {
  id: string;
  authority: string;
  /** ISO 3166-1 alpha-2 of the issuing Member State. */
  member_state: string;
  /** The authority's own reference for the order; unique per authority (a resent order is the same order). */
  reference: string;
  legal_basis: string;
  /** `tco_removal` (Regulation 2021/784 Art. 3) or `dsa_art9` (order to act against illegal content). */
  order_type: string;
  target_kind: 'stream' | 'account';
  stream_id: string | null;
  account_id: string | null;
  description: string | null;
  received_at: number;
  received_by: string;
  /** received_at + one hour (Art. 3(3)). */
  deadline_at: number;
  acknowledged_at: number | null;
  executed_at: number | null;
  executed_by: string | null;
  /** JSON list of what was done: `cut`, `suspended`, `banked`, `already_offline`. */
  actions: string | null;
  status: 'open' | 'executed' | 'rejected';
  status_reason: string | null;
  /** When the order was first seen past its deadline without execution (the alert). */
  overdue_at: number | null;
}

/**
 * Units of work (a decision with its strike, suspension and audit; a cut with its audit) already in the
 * database, by their stable id (0011_applied_units): the local journal's replay skips a unit found here,
 * so a unit committed before a crash, or whose commit's answer was lost, is never written twice.
 */
export interface AppliedUnitsTable {
  id: string;
  node_id: string | null;
  applied_at: number;
  /** How it arrived: `direct` (written at once) or `journal` (replayed after an outage). */
  via: string;
}

export interface Database {
  applied_units: AppliedUnitsTable;
  viewer_reports: ViewerReportsTable;
  removal_orders: RemovalOrdersTable;
  statements: StatementsTable;
  person_bans: PersonBansTable;
  banks: BanksTable;
  bank_entries: BankEntriesTable;
  bank_entry_pictures: BankEntryPicturesTable;
  bank_changes: BankChangesTable;
  exchanges: ExchangesTable;
  exchange_quarantine: ExchangeQuarantineTable;
  exchange_partners: ExchangePartnersTable;
  hma_content_ids: HmaContentIdsTable;
  entry_opinions: EntryOpinionsTable;
  partner_opinion_receipts: PartnerOpinionReceiptsTable;
  entry_quarantines: EntryQuarantinesTable;
  incidents: IncidentsTable;
  incident_events: IncidentEventsTable;
  signals: SignalsTable;
  decisions: DecisionsTable;
  strikes: StrikesTable;
  appeals: AppealsTable;
  account_tokens: AccountTokensTable;
  policy_versions: PolicyVersionsTable;
  policy_active: PolicyActiveTable;
  accounts: AccountsTable;
  stream_keys: StreamKeysTable;
  streams: StreamsTable;
  publish_refusals: PublishRefusalsTable;
  suspensions: SuspensionsTable;
  admin_tokens: AdminTokensTable;
  audit_log: AuditLogTable;
  identity_events: IdentityEventsTable;
  gate_changes: GateChangesTable;
  console_events: ConsoleEventsTable;
  cut_requests: CutRequestsTable;
  nodes: NodesTable;
}

export type Account = Selectable<AccountsTable>;
export type StreamKey = Selectable<StreamKeysTable>;
export type StreamRow = Selectable<StreamsTable>;
export type Suspension = Selectable<SuspensionsTable>;
export type PersonBan = Selectable<PersonBansTable>;
export type StatementRow = Selectable<StatementsTable>;
export type ViewerReportRow = Selectable<ViewerReportsTable>;
export type RemovalOrderRow = Selectable<RemovalOrdersTable>;
export type AdminToken = Selectable<AdminTokensTable>;
export type AuditRecord = Selectable<AuditLogTable>;
export type NewAudit = Insertable<AuditLogTable>;
export type Bank = Selectable<BanksTable>;
export type BankEntry = Selectable<BankEntriesTable>;
export type NewBankEntry = Insertable<BankEntriesTable>;
export type EntryQuarantine = Selectable<EntryQuarantinesTable>;
export type EntryOpinion = Selectable<EntryOpinionsTable>;
export type ExchangeRow = Selectable<ExchangesTable>;
export type ExchangePartner = Selectable<ExchangePartnersTable>;
export type DecisionRow = Selectable<DecisionsTable>;
export type StrikeRow = Selectable<StrikesTable>;
export type AppealRow = Selectable<AppealsTable>;
