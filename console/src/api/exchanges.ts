import { enc, type HttpClient } from './client.ts';
import type { IncidentCounts, IncidentEventView, IncidentView } from '../../../gateway/crisis/incident-view.ts';
import type { Severity } from './types.ts';

/**
 * Calls of the hash-sharing and crisis screens (issue 13): exchanges this gateway fetches from, crisis
 * incidents, the entry quarantine queue (flood guard, partner deconfirmations) and opinions of shared signals.
 * The shapes are the routes' response schemas (gateway/api/exchanges.ts, incidents.ts, opinions.ts): the
 * incident views are the gateway's own (gateway/crisis/incident-view.ts, Node-free); the rest are written
 * out because the gateway modules that define them need Node's types, which the browser build has not.
 */

export type ExchangeKind = 'tat' | 'hashlist' | 'modgate';

export interface Exchange {
  name: string;
  kind: ExchangeKind;
  url: string;
  bank: string;
  hasCredential: boolean;
  intervalMs: number;
  enabled: boolean;
  checkpoint: string | null;
  /** epoch ms */
  lastFetchAt: number | null;
  lastSuccessAt: number | null;
  /** `code: message` of the last failed fetch. */
  lastError: string | null;
  lastErrorAt: number | null;
  failures: number;
  nextFetchAt: number | null;
  upserts: number;
  deletes: number;
  quarantined: number;
}

export interface NewExchange {
  name: string;
  kind: ExchangeKind;
  url: string;
  bank?: string;
  category?: string;
  severity?: Severity;
  credential?: string;
  intervalMs?: number;
}

export interface FetchRun {
  pages: number;
  upserts: number;
  deletes: number;
  quarantined: number;
  error: string | null;
  exchange: Exchange;
}

export interface QuarantinedRecord {
  id: number;
  at: number;
  checkpoint: string | null;
  reason: string;
  raw: string;
}

/** Crisis incidents as the routes return them (gateway/api/incidents.ts answers with these views). */
export type Incident = IncidentView;

export interface IncidentReport {
  incident: Incident;
  counts: IncidentCounts;
  timeline: IncidentEventView[];
}

export interface NewIncident {
  name: string;
  description: string;
  banks: string[];
  overlayVersionId?: number | null;
  reason?: string;
}

export type QuarantineStatus = 'open' | 'cleared' | 'removed';

export interface EntryQuarantine {
  id: string;
  entryId: string;
  bank: string;
  reason: 'flood' | 'partner_opinion';
  detail: Record<string, unknown>;
  at: number;
  status: QuarantineStatus;
  handledBy: string | null;
  handledAt: number | null;
  handleReason: string | null;
}

export interface Opinion {
  id: number;
  at: number;
  bank: string | null;
  entryId: string | null;
  signalType: string;
  hash: string;
  category: 'negative_class' | 'investigation_seed' | 'positive_class';
  tags: string[];
  isMine: boolean;
  /** `moderator` or `partner:<name>`. */
  source: string;
  actor: string;
  reason: string | null;
  exchange: string | null;
  /** When the exchange took it. */
  reportedAt: number | null;
  /** `code: message` of the last failed attempt. */
  reportError: string | null;
  /** Our opinion to its exchange (the outbox): pending (retried with back-off), delivered, not_taken (its kind takes none), rejected (refused with a 4xx, in reportError; not retried); null: nothing to deliver. */
  delivery: 'pending' | 'delivered' | 'not_taken' | 'rejected' | null;
  attempts: number;
  nextAttemptAt: number | null;
}

export function exchangeApi(http: HttpClient) {
  return {
    exchanges: () => http.get<{ exchanges: Exchange[] }>('/api/v1/exchanges').then((r) => r.exchanges),
    addExchange: (body: NewExchange) => http.post<Exchange>('/api/v1/exchanges', body),
    fetchExchange: (name: string) => http.post<FetchRun>(`/api/v1/exchanges/${enc(name)}/fetch`),
    setExchangeEnabled: (name: string, enabled: boolean) => http.post<Exchange>(`/api/v1/exchanges/${enc(name)}/enabled`, { enabled }),
    exchangeQuarantine: (name: string) => http.get<{ records: QuarantinedRecord[] }>(`/api/v1/exchanges/${enc(name)}/quarantine`).then((r) => r.records),

    incidents: () => http.get<{ incidents: Incident[] }>('/api/v1/incidents').then((r) => r.incidents),
    incident: (id: string) => http.get<IncidentReport>(`/api/v1/incidents/${enc(id)}`),
    declareIncident: (body: NewIncident) => http.post<IncidentReport>('/api/v1/incidents', body),
    endIncident: (id: string, reason: string) => http.post<IncidentReport>(`/api/v1/incidents/${enc(id)}/end`, { reason }),

    quarantines: (status: QuarantineStatus | 'all' = 'open') =>
      http.get<{ quarantines: EntryQuarantine[] }>('/api/v1/entry-quarantines', { query: { status } }).then((r) => r.quarantines),
    resolveQuarantine: (id: string, verdict: 'clear' | 'remove', reason: string) =>
      http.post<EntryQuarantine>(`/api/v1/entry-quarantines/${enc(id)}/${verdict}`, { reason }),

    opinions: (q: { mine?: boolean; hash?: string; limit?: number } = {}) =>
      http
        .get<{ opinions: Opinion[] }>('/api/v1/opinions', { query: { mine: q.mine === undefined ? undefined : String(q.mine), hash: q.hash, limit: q.limit } })
        .then((r) => r.opinions),
    giveOpinion: (bank: string, entryId: string, opinion: 'confirm' | 'deconfirm', reason: string) =>
      http.post<{ opinion: Opinion; reportedTo: string | null; reportError: string | null }>(`/api/v1/banks/${enc(bank)}/opinions`, {
        entryId,
        opinion,
        reason,
      }),
  };
}
