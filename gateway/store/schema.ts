import type { Generated, Insertable, Selectable } from 'kysely';

/**
 * Table types for kysely. Times are epoch milliseconds (integers) in both SQLite and PostgreSQL, so the
 * dialects stay interchangeable and comparisons are cheap. Ids are opaque prefixed strings.
 */

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
  protocol: 'rtmp' | 'websocket';
  remote_addr: string | null;
  started_at: number;
  ended_at: number | null;
  /** `publisher_disconnected`, `cut`, `suspended`, `identity_revoked`, `key_revoked`, `gateway_shutdown`… */
  end_reason: string | null;
  end_detail: string | null;
  /** Node that owns the stream: a crashed node's streams are closed at its next start. */
  node_id: string;
}

export interface PublishRefusalsTable {
  id: Generated<number>;
  at: number;
  protocol: 'rtmp' | 'websocket';
  remote_addr: string | null;
  account_id: string | null;
  reason: string;
  detail: string | null;
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
}

export interface AdminTokensTable {
  id: string;
  name: string;
  role: 'moderator' | 'operator';
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

export interface Database {
  accounts: AccountsTable;
  stream_keys: StreamKeysTable;
  streams: StreamsTable;
  publish_refusals: PublishRefusalsTable;
  suspensions: SuspensionsTable;
  admin_tokens: AdminTokensTable;
  audit_log: AuditLogTable;
  identity_events: IdentityEventsTable;
  gate_changes: GateChangesTable;
}

export type Account = Selectable<AccountsTable>;
export type StreamKey = Selectable<StreamKeysTable>;
export type StreamRow = Selectable<StreamsTable>;
export type Suspension = Selectable<SuspensionsTable>;
export type AdminToken = Selectable<AdminTokensTable>;
export type AuditRecord = Selectable<AuditLogTable>;
export type NewAudit = Insertable<AuditLogTable>;
