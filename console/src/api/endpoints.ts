import { enc, HttpClient } from './client.ts';
import { exchangeApi } from './exchanges.ts';
import { workApi } from './work.ts';
import type {
  Account,
  ActivePolicy,
  Appeal,
  AppealTargetRef,
  AuditRecord,
  BacktestResult,
  Bank,
  Decision,
  DecisionDetail,
  LiveStream,
  PolicyVersion,
  PolicyVersionText,
  ReportedStream,
  Stats,
  Strike,
  StreamerStatus,
  TransparencyReport,
} from './types.ts';

export interface AuditFilter {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  since?: string;
  until?: string;
  before?: number;
  limit?: number;
}

export interface NewEntry {
  hash: string;
  category?: string;
  severity?: 'low' | 'medium' | 'high' | 'critical';
  note?: string;
  source?: string;
}

/** Typed calls of today's admin API (README "The admin API"); one method per endpoint the console uses. */
export function adminApi(http: HttpClient) {
  return {
    ...workApi(http),
    ...exchangeApi(http),
    streams: () => http.get<{ streams: LiveStream[] }>('/api/v1/streams').then((r) => r.streams),
    /** The latest sampled frame (JPEG) of a live stream, as a blob (the request needs the bearer token). */
    frame: (id: string, signal?: AbortSignal) => http.get<Blob>(`/api/v1/streams/${enc(id)}/frame`, { as: 'blob', signal }),
    whoami: () => http.get<{ actor: string; name: string; role: 'moderator' | 'operator'; tokenId: string; createdAt: string }>('/api/v1/whoami'),
    cut: (id: string, reason: string) => http.post<{ cut: LiveStream }>(`/api/v1/streams/${enc(id)}/cut`, { reason }),

    reviews: (status: 'pending' | 'confirmed' | 'overturned' = 'pending', limit = 500) =>
      http.get<{ decisions: Decision[] }>('/api/v1/reviews', { query: { status, limit } }).then((r) => r.decisions),
    decisions: (q: { accountId?: string; streamId?: string; shadow?: boolean; limit?: number } = {}) =>
      http.get<{ decisions: Decision[] }>('/api/v1/decisions', { query: { ...q, limit: q.limit ?? 500 } }).then((r) => r.decisions),
    decision: (id: string) => http.get<DecisionDetail>(`/api/v1/decisions/${enc(id)}`),
    confirm: (id: string, reason: string, addToBank: boolean) =>
      http.post<{ decision: Decision; confirmedBankAdded: number }>(`/api/v1/decisions/${enc(id)}/confirm`, { reason, addToBank }),
    overturn: (id: string, reason: string) =>
      http.post<{ decision: Decision; strikesVoided: number; suspensionsLifted: number }>(`/api/v1/decisions/${enc(id)}/overturn`, { reason }),
    /** Evidence thumbnails need the bearer token, so they are fetched as blobs (see evidence.ts). */
    evidence: (imagePath: string, signal?: AbortSignal) => http.get<Blob>(imagePath, { as: 'blob', signal }),

    appeals: (status: 'open' | 'upheld' | 'overturned' = 'open', limit = 200) =>
      http.get<{ appeals: Appeal[] }>('/api/v1/appeals', { query: { status, limit } }).then((r) => r.appeals),
    decideAppeal: (id: string, outcome: 'uphold' | 'overturn', reason: string) =>
      http.post<{ appeal: Appeal }>(`/api/v1/appeals/${enc(id)}/decide`, { outcome, reason }),

    account: (handle: string) => http.get<Account>(`/api/v1/accounts/${enc(handle)}`),
    createAccount: (body: { handle: string; verified: boolean; subject?: string }) => http.post<{ handle: string }>('/api/v1/accounts', body),
    strikes: (handle: string) => http.get<{ strikes: Strike[] }>(`/api/v1/accounts/${enc(handle)}/strikes`).then((r) => r.strikes),
    voidStrike: (id: string, reason: string) => http.post<{ voided: string }>(`/api/v1/strikes/${enc(id)}/void`, { reason }),
    verify: (handle: string, body: { reason?: string; subject?: string }) => http.post(`/api/v1/accounts/${enc(handle)}/verify`, body),
    revokeIdentity: (handle: string, reason: string) => http.post(`/api/v1/accounts/${enc(handle)}/revoke`, { reason }),
    suspend: (handle: string, reason: string, durationSeconds?: number) => http.post(`/api/v1/accounts/${enc(handle)}/suspend`, { reason, durationSeconds }),
    unsuspend: (handle: string, reason: string) => http.post(`/api/v1/accounts/${enc(handle)}/unsuspend`, { reason }),
    issueKey: (handle: string) => http.post<{ keyId: string; streamKey: string }>(`/api/v1/accounts/${enc(handle)}/keys`),
    revokeKeys: (handle: string, body: { keyId?: string; reason?: string }) =>
      http.post<{ revoked: string[] }>(`/api/v1/accounts/${enc(handle)}/keys/revoke`, body),
    issueStreamerToken: (handle: string) => http.post<{ accountToken: string; revoked: number }>(`/api/v1/accounts/${enc(handle)}/token`),

    banks: () => http.get<{ banks: Bank[]; indexed: number; revision: number }>('/api/v1/banks'),
    createBank: (body: { name: string; category: string; severity?: string; radius?: number; description?: string }) => http.post<Bank>('/api/v1/banks', body),
    addEntries: (bank: string, entries: NewEntry[]) => http.post<{ added: number; duplicates: number }>(`/api/v1/banks/${enc(bank)}/entries`, { entries }),
    setBankEnabled: (bank: string, enabled: boolean, reason?: string) => http.post(`/api/v1/banks/${enc(bank)}/disable`, { enabled, reason }),
    exportBank: (bank: string, format: 'csv' | 'plain' | 'hma') => http.get<Blob>(`/api/v1/banks/${enc(bank)}/export`, { query: { format }, as: 'blob' }),

    policy: () => http.get<ActivePolicy>('/api/v1/policy'),
    policyVersions: () => http.get<{ versions: PolicyVersion[] }>('/api/v1/policy/versions').then((r) => r.versions),
    submitPolicy: (text: string, format: 'yaml' | 'json', comment: string) =>
      http.put<{ versionId: number; name: string; version: string; active: boolean }>('/api/v1/policy', { text, format, comment }),
    rollback: (versionId: number, reason: string) => http.post<{ versionId: number }>('/api/v1/policy/rollback', { versionId, reason }),
    backtest: (body: { text: string; since: string; until: string; baselineVersionId?: number; maxExamples?: number }) =>
      http.post<BacktestResult>('/api/v1/policy/backtest', body),

    audit: (f: AuditFilter) => http.get<{ records: AuditRecord[]; next: number | null }>('/api/v1/audit', { query: { ...f } }),

    // Dashboard, transparency, viewer reports, policy version text (console-dash).
    stats: (dayStart?: string) => http.get<Stats>('/api/v1/stats', { query: { dayStart } }),
    transparency: (from: string, to: string) => http.get<TransparencyReport>('/api/v1/transparency', { query: { from, to, format: 'json' } }),
    transparencyCsv: (from: string, to: string) => http.get<Blob>('/api/v1/transparency', { query: { from, to, format: 'csv' }, as: 'blob' }),
    reports: (status: 'open' | 'actioned' | 'dismissed' = 'open') =>
      http.get<{ streams: ReportedStream[] }>('/api/v1/reports', { query: { status } }).then((r) => r.streams),
    resolveReports: (streamId: string, action: 'cut' | 'suspended' | 'none', reason: string) =>
      http.post<{ resolved: number }>(`/api/v1/streams/${enc(streamId)}/reports/resolve`, { action, reason }),
    policyVersion: (id: number) => http.get<PolicyVersionText>(`/api/v1/policy/versions/${id}`),
  };
}
export type AdminApi = ReturnType<typeof adminApi>;

/** The streamer's own API (Bearer at_… account token). */
export function streamerApi(http: HttpClient) {
  return {
    me: () => http.get<StreamerStatus>('/api/v1/me'),
    appeal: (target: AppealTargetRef, statement: string) =>
      http.post<{ appeal: { id: string; status: string } }>('/api/v1/me/appeals', { ...target, statement }),
    appeals: () =>
      http.get<{
        appeals: Array<{
          id: string;
          decisionId: string | null;
          target: { kind: 'decision' | 'suspension' | 'ban'; id: string };
          status: string;
          statement: string;
          createdAt: string;
          outcome: { result: string; reason: string | null } | null;
        }>;
      }>('/api/v1/me/appeals'),
  };
}
export type StreamerApi = ReturnType<typeof streamerApi>;
