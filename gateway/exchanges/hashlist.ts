import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseHashList } from '../../classifiers/hashlist-format.ts';
import { ExchangeFetchError, type ExchangeEntry, type FetchPage, type SignalExchange } from './exchange.ts';
import { fetchText, truncate, type FetchLike } from './http.ts';

/**
 * A hash list published as a file or at a URL, in the formats modgate imports (classifiers/hashlist-format.ts):
 * HMA / python-threatexchange's local file format, `<signal_type> <hash>` per line (exchanges/impl/file_api.py
 * in facebook/ThreatExchange), plain hex lines, or CSV with a hash column. Such a list is a snapshot, not a
 * feed: each fetch reads the whole list (one `complete` page), entries gone from it are deleted, and the
 * checkpoint is the list's SHA-256, so an unchanged list changes nothing.
 */
export class HashListExchange implements SignalExchange {
  readonly kind = 'hashlist';
  private readonly doFetch: FetchLike;

  constructor(private readonly opts: { url: string; credential: string | null; fetch?: FetchLike }) {
    this.doFetch = opts.fetch ?? fetch;
  }

  private async read(signal?: AbortSignal): Promise<string> {
    const url = this.opts.url;
    if (/^https?:\/\//i.test(url)) {
      const headers: Record<string, string> = this.opts.credential ? { authorization: `Bearer ${this.opts.credential}` } : {};
      return (await fetchText(this.doFetch, url, { headers, ...(signal ? { signal } : {}) })).text;
    }
    const file = url.startsWith('file:') ? fileURLToPath(url) : url;
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new ExchangeFetchError('unreachable', `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  async fetchDeltas(checkpoint: string | null, signal?: AbortSignal): Promise<FetchPage> {
    const text = await this.read(signal);
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === checkpoint) return { deltas: new Map(), checkpoint, done: true, rejected: [] };
    const parsed = parseHashList(text);
    if (parsed.format === null && parsed.entries.length === 0 && text.trim() !== '') {
      throw new ExchangeFetchError('malformed_page', 'the list is in no known hash-list format', truncate(text));
    }
    const deltas = new Map<string, ExchangeEntry | null>();
    for (const e of parsed.entries) {
      deltas.set(`pdq:${e.hash}`, {
        signalType: 'pdq',
        hash: e.hash,
        ...(e.category ? { category: e.category } : {}),
        ...(e.severity ? { severity: e.severity } : {}),
        ...(e.note ? { note: e.note } : {}),
      });
    }
    const lines = text.split(/\r?\n/);
    const rejected = parsed.errors.map((e) => ({ reason: e.reason, raw: truncate(lines[e.line - 1] ?? '') }));
    return { deltas, checkpoint: digest, done: true, complete: true, rejected };
  }
}
