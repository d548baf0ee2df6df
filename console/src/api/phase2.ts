/**
 * What the console needs from the gateway that does not exist yet (push events, latest frames, stream
 * status, watch live and whoami have shipped and left this list). Each entry names the planned endpoint;
 * the exact contract is in docs/console-api.md under the same heading. Screens show these honestly as
 * "not available yet" instead of faking data.
 */
// Every planned endpoint has shipped (the last: signals, account search, decision.account, bank entries, entry
// disable and the streamed import). A screen that needs one more adds it here and shows <NotAvailable>.
export const PHASE2: Record<string, { title: string; endpoint: string; section: string }> = {};

export type Phase2Feature = keyof typeof PHASE2;
