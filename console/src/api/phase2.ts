/**
 * What the console needs from the gateway that does not exist yet (push events, latest frames, stream
 * status, watch live and whoami have shipped and left this list). Each entry names the planned endpoint;
 * the exact contract is in docs/console-api.md under the same heading. Screens show these honestly as
 * "not available yet" instead of faking data.
 */
export const PHASE2 = {
  signals: { title: 'Signal timeline', endpoint: 'GET /api/v1/streams/{id}/signals', section: 'Signals of a stream' },
  accountSearch: { title: 'Account search', endpoint: 'GET /api/v1/accounts?q=', section: 'Account search' },
  decisionAccount: { title: 'Account of a decision', endpoint: 'decision.account in decision views', section: 'Account handle on decisions' },
  bankEntries: { title: 'Bank entries', endpoint: 'GET /api/v1/banks/{name}/entries', section: 'Bank entries (paged)' },
  entryDisable: { title: 'Disable an entry', endpoint: 'POST /api/v1/banks/{name}/entries/{id}/disable', section: 'Disable a bank entry' },
  bankImport: { title: 'Large imports', endpoint: 'POST /api/v1/banks/{name}/import', section: 'Bank import (file, all or nothing)' },
} as const;

export type Phase2Feature = keyof typeof PHASE2;
