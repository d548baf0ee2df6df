import { enc, type HttpClient } from './client.ts';
import type { IdentityStatus, Severity } from './types.ts';

/**
 * Calls of the moderators' working screens added with the endpoints they need: account search, bank entries
 * (paged, one, disable), the streamed file import, and a stream's signals and recent samples
 * (docs/console-api.md has each contract). Kept beside endpoints.ts and spread into adminApi.
 */

export interface AccountHit {
  id: string;
  handle: string;
  identity: { status: IdentityStatus; subject: string | null };
  suspended: boolean;
  live: boolean;
  createdAt: string;
}

export interface AccountQuery {
  q?: string;
  subject?: string;
  status?: IdentityStatus;
  suspended?: boolean;
  live?: boolean;
  after?: string;
  limit?: number;
}

export interface BankEntry {
  id: string;
  bank: string;
  hash: string;
  category: string;
  severity: Severity;
  note: string | null;
  source: string | null;
  addedBy: string;
  addedAt: string;
  enabled: boolean;
  derived: number;
  derivedFrom: string | null;
  region: string | null;
  /** URL of the banked picture (JPEG, behind the token); null: the bank keeps the hash only. */
  picture: string | null;
  /** Held by the flood guard or a partner's deconfirmation: matches are logged, nothing is cut. */
  quarantined: boolean;
  /** A moderator's opinion of this (third-party) signal. */
  opinion: 'confirmed' | 'deconfirmed' | null;
}

export interface ImportReport {
  bank: string;
  format: 'plain' | 'hma' | 'csv' | 'vpdq' | null;
  lines: number;
  valid: number;
  added: number;
  duplicates: number;
  lowQuality: number;
  errorCount: number;
  errors: Array<{ line: number; reason: string }>;
  bytes: number;
}

export interface StoredSignal {
  id: number;
  observedAt: string;
  frameTimeMs: number;
  source: string;
  label: string;
  score: number | null;
  match: { bank: string; entryId: string; distance: number; variant: string; region: string | null } | null;
  version: string;
  evidence: { ref: string; image: string } | null;
}

export interface Sample {
  seq: number;
  at: string;
  scores: Record<string, Record<string, number>>;
  nearestBankDistance: number | null;
}

export function workApi(http: HttpClient) {
  return {
    searchAccounts: (q: AccountQuery) => http.get<{ accounts: AccountHit[]; next: string | null }>('/api/v1/accounts', { query: { ...q } }),

    bankEntries: (bank: string, q: { after?: string; limit?: number; q?: string; enabled?: boolean } = {}) =>
      http.get<{ entries: BankEntry[]; next: string | null }>(`/api/v1/banks/${enc(bank)}/entries`, { query: { ...q } }),
    bankEntry: (bank: string, id: string) => http.get<BankEntry>(`/api/v1/banks/${enc(bank)}/entries/${enc(id)}`),
    setEntryEnabled: (bank: string, id: string, enabled: boolean, reason?: string) =>
      http.post<{ entry: BankEntry; enabled: boolean }>(`/api/v1/banks/${enc(bank)}/entries/${enc(id)}/disable`, { enabled, ...(reason ? { reason } : {}) }),
    /** The file itself is the body: the browser streams it, the gateway parses it line by line. */
    importFile: (bank: string, file: Blob, source: string) =>
      http.request<ImportReport>('POST', `/api/v1/banks/${enc(bank)}/import`, { raw: file, contentType: 'text/plain', query: { source } }),

    signals: (streamId: string, q: { after?: number; limit?: number } = {}) =>
      http.get<{ signals: StoredSignal[]; next: number | null }>(`/api/v1/streams/${enc(streamId)}/signals`, { query: { ...q } }),
    samples: (streamId: string) => http.get<{ live: boolean; samples: Sample[] }>(`/api/v1/streams/${enc(streamId)}/samples`),
  };
}
