import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Tech Against Terrorism's hash list API (TCAP), written from python-threatexchange's client
 * (facebook/ThreatExchange, python-threatexchange/threatexchange/exchanges/clients/techagainstterrorism/api.py)
 * and its test data (…/techagainstterrorism/tests/test_api.py):
 *  - POST /token-auth/tcap/ (form: username, password, resend) → {token};
 *  - GET /api/hash-list/v2/all?order=asc&after=<checkpoint> with `Authorization: Bearer <token>` →
 *    {count, next, previous, checkpoint, results: [{hash_digest, algorithm, ideology, file_type, deleted,
 *    updated_on, id}]}, `checkpoint` = "<updated_on>,<id>" of the page's last record, `next` null on the last page.
 * Pages are scripted by the test; a page may be raw text (a malformed body).
 */

export interface TatRecord {
  hash_digest: string;
  algorithm: string;
  ideology: string;
  file_type: string;
  deleted: boolean;
  updated_on: number;
  id: number;
}

export type TatPage = { results: unknown; checkpoint?: string } | { raw: string };

export class TatStandIn {
  /** Pages served in order of their `after` (checkpoint '' first); the key is the `after` they answer. */
  readonly pages = new Map<string, TatPage>();
  readonly requests: Array<{ method: string; path: string; after: string | null; auth: string | null }> = [];
  token = 'jwt-1';
  private server: Server | null = null;
  url = '';

  constructor(
    readonly username = 'platform',
    readonly password = 's3cret',
  ) {}

  /** Scripts a page of records, answering `after` and handing out `checkpoint` (default: from the last record). */
  page(after: string, records: unknown[], opts: { checkpoint?: string; next?: boolean } = {}): string {
    const last = records[records.length - 1] as Partial<TatRecord> | undefined;
    const checkpoint = opts.checkpoint ?? (last && typeof last === 'object' ? `${last.updated_on},${last.id}` : after);
    this.pages.set(after, { results: records, checkpoint, ...(opts.next ? {} : {}) });
    (this.pages.get(after) as { next?: boolean }).next = opts.next ?? false;
    return checkpoint;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    let body = '';
    for await (const c of req) body += c;
    this.requests.push({ method: req.method ?? '', path: u.pathname, after: u.searchParams.get('after'), auth: req.headers.authorization ?? null });
    const send = (status: number, payload: unknown, raw = false) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(raw ? String(payload) : JSON.stringify(payload));
    };
    if (req.method === 'POST' && u.pathname === '/token-auth/tcap/') {
      const form = new URLSearchParams(body);
      if (form.get('username') === this.username && form.get('password') === this.password)
        return send(200, { token: this.token, user: { username: this.username } });
      return send(400, { non_field_errors: ['Unable to log in with provided credentials.'] });
    }
    if (req.method === 'GET' && u.pathname === '/api/hash-list/v2/all') {
      if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, { detail: 'Given token not valid for any token type' });
      const after = u.searchParams.get('after') ?? '';
      const page = this.pages.get(after);
      if (!page) return send(200, { count: 0, next: null, previous: null, checkpoint: after, results: [] });
      if ('raw' in page) return send(200, page.raw, true);
      const next = (page as { next?: boolean }).next ? `${this.url}api/hash-list/v2/all?limit=1000&offset=1000&order=asc` : null;
      return send(200, {
        count: Array.isArray(page.results) ? page.results.length : 0,
        next,
        previous: null,
        checkpoint: page.checkpoint,
        results: page.results,
      });
    }
    send(404, { detail: 'Not found.' });
  }
}

export function tatRecord(hash: string, id: number, o: Partial<TatRecord> = {}): TatRecord {
  return { hash_digest: hash, algorithm: 'PDQ', ideology: 'Islamist', file_type: 'jpg', deleted: false, updated_on: 1704901040 + id, id, ...o };
}
