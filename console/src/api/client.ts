/**
 * The one place the console talks HTTP. Every call carries the bearer token in the Authorization header
 * (never in a URL); every failure becomes an ApiError with the API's stable error code, so screens branch
 * on codes, not on message text.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export type TokenSource = () => string | null;

export interface RequestOptions {
  body?: unknown;
  /** A body sent as is (a file upload), with its content type. */
  raw?: Blob;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** 'json' (default), 'text' or 'blob'. */
  as?: 'json' | 'text' | 'blob';
  signal?: AbortSignal;
}

export class HttpClient {
  /** Called on any 401, so the app can send the person back to sign-in. */
  onUnauthorized: (() => void) | null = null;

  constructor(
    private readonly token: TokenSource,
    private readonly base = '',
  ) {}

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Blob | undefined;
    if (opts.raw !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      body = opts.raw;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await fetch(this.base + path + queryString(opts.query), { method, headers, body, signal: opts.signal, credentials: 'omit', cache: 'no-store' });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'the gateway could not be reached');
    }
    if (!res.ok) {
      const err = await toError(res);
      if (err.status === 401 && token) this.onUnauthorized?.();
      throw err;
    }
    if (opts.as === 'blob') return (await res.blob()) as T;
    if (opts.as === 'text') return (await res.text()) as T;
    const text = await res.text();
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  post<T>(path: string, body: unknown = {}, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  put<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }
}

function queryString(q: RequestOptions['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function toError(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's page): keep the status
  }
  const code = typeof body.error === 'string' ? body.error : `http_${res.status}`;
  const message = typeof body.message === 'string' ? body.message : `${res.status} ${res.statusText}`;
  return new ApiError(res.status, code, message, typeof body.field === 'string' ? body.field : null, body);
}

export const enc = encodeURIComponent;
