import { ExchangeFetchError } from './exchange.ts';

/** Outbound HTTP for exchanges: one timeout, bodies capped, errors mapped to ExchangeFetchError codes. */

export type FetchLike = typeof fetch;

const MAX_BODY = 64 * 1024 * 1024;

export async function fetchText(
  doFetch: FetchLike,
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const timeout = AbortSignal.timeout(init.timeoutMs ?? 60_000);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal });
  } catch (err) {
    throw new ExchangeFetchError('unreachable', `${redact(url)}: ${(err as Error).message}`);
  }
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_BODY) throw new ExchangeFetchError('malformed_page', `${redact(url)}: page of ${length} bytes is over the ${MAX_BODY}-byte limit`);
  const text = await res.text();
  if (text.length > MAX_BODY) throw new ExchangeFetchError('malformed_page', `${redact(url)}: page over the ${MAX_BODY}-byte limit`);
  if (res.status === 401 || res.status === 403) throw new ExchangeFetchError('unauthorized', `${redact(url)}: HTTP ${res.status}`, undefined, res.status);
  if (res.status < 200 || res.status >= 300) throw new ExchangeFetchError('http_error', `${redact(url)}: HTTP ${res.status}`, undefined, res.status);
  return { status: res.status, text, headers: res.headers };
}

/**
 * Whether the exchange refused this very request for good: a 4xx answer other than 408 (timeout) and 429
 * (rate limit). Sending it again gets the same answer. Not 401/403 (`unauthorized`): that is our credential,
 * which the operator fixes, and every later request would be refused too. No answer, a timeout or a 5xx
 * may pass on a retry.
 */
export function refusedForGood(err: unknown): boolean {
  if (!(err instanceof ExchangeFetchError) || err.code !== 'http_error' || err.status === undefined) return false;
  return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

export function parseJson(text: string, url: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ExchangeFetchError('malformed_page', `${redact(url)}: the page is not JSON`, text);
  }
}

/** Query strings can carry a checkpoint or a key: log the path only. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.split('?')[0] ?? url;
  }
}

export function truncate(text: string, max = 2000): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
