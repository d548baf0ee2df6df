import { z } from 'zod';
import { ExchangeFetchError, PDQ_HEX, type ExchangeEntry, type FetchPage, type RejectedRecord, type SignalExchange } from './exchange.ts';
import { fetchText, parseJson, truncate, type FetchLike } from './http.ts';

/**
 * Tech Against Terrorism's hash list (TCAP), as python-threatexchange reads it
 * (facebook/ThreatExchange, python-threatexchange/threatexchange/exchanges/clients/techagainstterrorism/api.py
 * and exchanges/impl/techagainstterrorism_api.py):
 *  - `POST token-auth/tcap/` with form fields username, password, resend=false answers `{token}` (a JWT);
 *  - `GET api/hash-list/v2/all?order=asc&after=<checkpoint>` with `Authorization: Bearer <token>` answers a
 *    page `{count, next, previous, checkpoint, results: [{hash_digest, algorithm, ideology, file_type,
 *    deleted, updated_on, id}]}`; `checkpoint` ("<updated_on>,<id>" of the page's last record) is the next
 *    page's `after`, and `next` null means the list is read to its end;
 *  - a record is keyed `(signal type, hash_digest)`; `deleted: true` is a tombstone; only PDQ (and MD5 of
 *    videos, which modgate does not match) map to signal types.
 * The credential is `username:password` (TATCredentials._from_str).
 */

const Page = z.object({
  next: z.string().nullable().optional(),
  checkpoint: z.string().min(1),
  results: z.unknown(),
});

const Record = z.object({
  hash_digest: z.string(),
  algorithm: z.string(),
  ideology: z.string().optional().nullable(),
  file_type: z.string().optional().nullable(),
  deleted: z.boolean(),
  updated_on: z.number().optional(),
  id: z.union([z.number(), z.string()]).optional(),
});

export interface TatOptions {
  /** Base URL, ending in `/` (TCAP: https://beta.terrorismanalytics.org/). */
  url: string;
  /** `username:password`. */
  credential: string | null;
  fetch?: FetchLike;
}

export class TatExchange implements SignalExchange {
  readonly kind = 'tat';
  private token: string | null = null;
  private readonly base: string;
  private readonly doFetch: FetchLike;

  constructor(private readonly opts: TatOptions) {
    this.base = opts.url.endsWith('/') ? opts.url : `${opts.url}/`;
    this.doFetch = opts.fetch ?? fetch;
  }

  private async authenticate(signal?: AbortSignal): Promise<string> {
    const cred = this.opts.credential ?? '';
    const at = cred.indexOf(':');
    if (at <= 0) throw new ExchangeFetchError('unauthorized', 'a TAT exchange needs a credential "username:password"');
    const body = new URLSearchParams({ username: cred.slice(0, at), password: cred.slice(at + 1), resend: 'false' });
    let res;
    try {
      res = await fetchText(this.doFetch, `${this.base}token-auth/tcap/`, { method: 'POST', body, ...(signal ? { signal } : {}) });
    } catch (err) {
      // The token endpoint answers 400 to credentials it refuses (a Django REST framework token view).
      if (err instanceof ExchangeFetchError && err.code === 'http_error' && /HTTP 400$/.test(err.message))
        throw new ExchangeFetchError('unauthorized', 'TCAP refused the username and password');
      throw err;
    }
    const parsed = z.object({ token: z.string().min(1) }).safeParse(parseJson(res.text, `${this.base}token-auth/tcap/`));
    if (!parsed.success) throw new ExchangeFetchError('unauthorized', 'TCAP authentication answered without a token');
    return parsed.data.token;
  }

  async fetchDeltas(checkpoint: string | null, signal?: AbortSignal): Promise<FetchPage> {
    const url = `${this.base}api/hash-list/v2/all?${new URLSearchParams({ order: 'asc', after: checkpoint ?? '' })}`;
    let res;
    for (let attempt = 0; ; attempt++) {
      this.token ??= await this.authenticate(signal);
      try {
        res = await fetchText(this.doFetch, url, { headers: { authorization: `Bearer ${this.token}` }, ...(signal ? { signal } : {}) });
        break;
      } catch (err) {
        // The JWT expired: authenticate once more.
        if (err instanceof ExchangeFetchError && err.code === 'unauthorized' && attempt === 0) {
          this.token = null;
          continue;
        }
        throw err;
      }
    }
    const page = Page.safeParse(parseJson(res.text, url));
    if (!page.success) throw new ExchangeFetchError('malformed_page', `TAT page has no checkpoint: ${page.error.issues[0]?.message ?? 'invalid'}`, res.text);
    const deltas = new Map<string, ExchangeEntry | null>();
    const rejected: RejectedRecord[] = [];
    const results = page.data.results;
    if (!Array.isArray(results)) {
      // The page's checkpoint is still good: set the page aside and move on rather than stall on it.
      rejected.push({ reason: 'results is not a list', raw: truncate(res.text) });
    } else {
      for (const item of results) {
        const r = Record.safeParse(item);
        if (!r.success) {
          rejected.push({
            reason: `record: ${r.error.issues[0]?.path.join('.') || 'value'}: ${r.error.issues[0]?.message ?? 'invalid'}`,
            raw: truncate(JSON.stringify(item) ?? String(item)),
          });
          continue;
        }
        if (r.data.algorithm.toUpperCase() !== 'PDQ') continue; // MD5/SHA256 of files: not a signal modgate matches
        const hash = r.data.hash_digest.toLowerCase();
        if (!PDQ_HEX.test(hash)) {
          rejected.push({ reason: 'PDQ hash_digest is not 64 hex characters', raw: truncate(JSON.stringify(item)) });
          continue;
        }
        // Records come in update order: a later one for the same key (deleted after added) wins.
        deltas.set(
          `pdq:${hash}`,
          r.data.deleted ? null : { signalType: 'pdq', hash, ...(r.data.ideology ? { note: `TAT ideology: ${r.data.ideology}` } : {}) },
        );
      }
    }
    return { deltas, checkpoint: page.data.checkpoint, done: !page.data.next, rejected };
  }
}
