import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ExchangeFetchError, PDQ_HEX, type ExchangeEntry, type FetchPage, type RejectedRecord, type SignalExchange, type SignalOpinion } from './exchange.ts';
import { FeedDelta, SIGNATURE_HEADER, signFeedBody } from './feed-format.ts';
import { fetchText, parseJson, truncate, type FetchLike } from './http.ts';

/**
 * Another modgate gateway's feed (its GET /api/v1/exchange/feed, served by gateway/api/exchange-feed.ts),
 * read with a partner token it issued us. The feed long-polls (it answers as soon as a confirmation lands,
 * or after `waitS` with nothing), so the runner asks again at once after each page: a hash confirmed there
 * matches here within the poll's round trip. Pages are verified against their signature.
 */
export class ModgateExchange implements SignalExchange {
  readonly kind = 'modgate';
  readonly longPoll = true;
  private readonly base: string;
  private readonly doFetch: FetchLike;

  constructor(private readonly opts: { url: string; credential: string | null; waitS?: number; fetch?: FetchLike }) {
    this.base = opts.url.replace(/\/+$/, '');
    this.doFetch = opts.fetch ?? fetch;
  }

  private token(): string {
    if (!this.opts.credential) throw new ExchangeFetchError('unauthorized', 'a modgate exchange needs the partner token its operator issued (px_…)');
    return this.opts.credential;
  }

  async fetchDeltas(checkpoint: string | null, signal?: AbortSignal): Promise<FetchPage> {
    const token = this.token();
    const wait = this.opts.waitS ?? 20;
    const url = `${this.base}/api/v1/exchange/feed?${new URLSearchParams({ checkpoint: checkpoint ?? '0', wait: String(wait) })}`;
    const res = await fetchText(this.doFetch, url, {
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: (wait + 30) * 1000,
      ...(signal ? { signal } : {}),
    });
    const expected = Buffer.from(signFeedBody(token, res.text));
    const got = Buffer.from(res.headers.get(SIGNATURE_HEADER) ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected))
      throw new ExchangeFetchError('malformed_page', 'the feed page is not signed for our token', truncate(res.text));
    const page = z.object({ checkpoint: z.string().min(1), more: z.boolean(), deltas: z.unknown() }).safeParse(parseJson(res.text, url));
    if (!page.success) throw new ExchangeFetchError('malformed_page', 'the feed page has no checkpoint', truncate(res.text));
    const deltas = new Map<string, ExchangeEntry | null>();
    const rejected: RejectedRecord[] = [];
    if (!Array.isArray(page.data.deltas)) rejected.push({ reason: 'deltas is not a list', raw: truncate(res.text) });
    else
      for (const item of page.data.deltas) {
        const d = FeedDelta.safeParse(item);
        if (!d.success || d.data.signal_type !== 'pdq' || !PDQ_HEX.test(d.data.hash)) {
          rejected.push({
            reason: d.success ? `unsupported or malformed signal ${d.data.signal_type}` : `delta: ${d.error.issues[0]?.message ?? 'invalid'}`,
            raw: truncate(JSON.stringify(item) ?? ''),
          });
          continue;
        }
        deltas.set(
          `pdq:${d.data.hash}`,
          d.data.deleted
            ? null
            : { signalType: 'pdq', hash: d.data.hash, category: d.data.category, severity: d.data.severity, note: `from bank ${d.data.bank}` },
        );
      }
    return { deltas, checkpoint: page.data.checkpoint, done: !page.data.more, rejected };
  }

  /**
   * POST /api/v1/exchange/opinions on the partner: our opinion (a deconfirmation: negative_class) of one of
   * its hashes. The Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) lets it record a retry once.
   * 10 s, not the feed's minute: a moderator's request waits on the first attempt; the outbox retries the rest.
   */
  async reportOpinion(signalType: string, hash: string, opinion: SignalOpinion, opts: { signal?: AbortSignal; idempotencyKey?: string } = {}): Promise<void> {
    const body = JSON.stringify({ signal_type: signalType, hash, category: opinion.category, tags: opinion.tags });
    await fetchText(this.doFetch, `${this.base}/api/v1/exchange/opinions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.token()}`,
        'content-type': 'application/json',
        ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
      },
      body,
      timeoutMs: 10_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
}
