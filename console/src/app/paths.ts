/**
 * The console's page paths, shared by the client router and the gateway (console/serve.ts), which answers
 * exactly these with the console's HTML (the SPA fallback). Anything else — /api/*, /healthz, /metrics,
 * /ingest, a typo — keeps the gateway's own answer, so the fallback can never swallow an API route.
 */
export const CONSOLE_SECTIONS = [
  'live',
  'streams',
  'reviews',
  'appeals',
  'accounts',
  'banks',
  'exchanges',
  'incidents',
  'quarantines',
  'opinions',
  'policy',
  'audit',
  'reports',
  'transparency',
  'sign-in',
] as const;
export type ConsoleSection = (typeof CONSOLE_SECTIONS)[number];

/** The streamer's page, a separate entry (no admin code is loaded there). */
export const BROADCAST_PATH = '/broadcast';
