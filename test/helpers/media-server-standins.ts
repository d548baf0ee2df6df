import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Stand-ins for the media servers that cannot be installed here (MediaMTX, SRS, OvenMediaEngine). Each
 * sends the hook requests its server sends, byte for byte in shape, and serves the control calls its
 * server's API serves, with the statuses and bodies of the cited source:
 *  - MediaMTX: internal/auth/manager.go (authenticateHTTP: the JSON body, any 2xx allows),
 *    internal/api/api.go + api_rtmp.go (POST /v3/rtmpconns/kick/:id → 200, 404 unknown; GET …/get/:id).
 *  - SRS: trunk/src/app/srs_app_http_hooks.cpp (on_publish/on_unpublish JSON; do_post: HTTP 200/201 and
 *    body `0` or {"code":0}); srs_app_http_api.cpp SrsGoApiClients (DELETE /api/v1/clients/:id →
 *    {"code":0}, unknown → {"code":2049}).
 *  - OvenMediaEngine: admission_webhooks.cpp (the request JSON; X-OME-Signature = HMAC-SHA1 of the body,
 *    base64url without padding, base_64.cpp), docs/access-control/admission-webhooks.md (the answer),
 *    api/ome.yml (DELETE /v1/vhosts/{vhost}/apps/{app}/streams/{stream} → 200, 404 unknown).
 * The media itself is not theirs: the pull URL of each stand-in names a recorded file.
 */

export interface ControlCall {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** An HTTP control API stand-in: records every call; `handler` answers with [status, JSON body]. */
export async function controlApi(
  handler: (method: string, url: string) => [number, unknown],
): Promise<{ url: string; calls: ControlCall[]; close(): Promise<void> }> {
  const calls: ControlCall[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
      const [status, body] = handler(req.method!, req.url!);
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  // Go's http.Client.Post / SRS's SrsHttpClient / OME's HttpClient: a plain POST with a JSON body.
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, text: await res.text() };
}

/** MediaMTX's auth request (manager.go authenticateHTTP, field order as there). */
export function mediamtxAuth(
  authHTTPAddress: string,
  r: { user?: string; password?: string; token?: string; action: string; path: string; protocol: string; id?: string | null; query?: string; ip?: string },
) {
  const body = JSON.stringify({
    ip: r.ip ?? '127.0.0.1',
    user: r.user ?? '',
    password: r.password ?? '',
    token: r.token ?? '',
    action: r.action,
    path: r.path,
    protocol: r.protocol,
    id: r.id === undefined ? randomUUID() : r.id,
    query: r.query ?? '',
    userAgent: '',
  });
  return post(authHTTPAddress, body).then((res) => ({ ...res, allowed: res.status >= 200 && res.status <= 299 }));
}

/** SRS's hook request (srs_app_http_hooks.cpp on_publish / on_unpublish) and do_post's reading of the answer. */
export async function srsHook(
  url: string,
  r: { action: 'on_publish' | 'on_unpublish' | 'on_play'; client_id: string; app: string; stream: string; param: string; ip?: string },
) {
  const body = JSON.stringify({
    server_id: 'vid-standin',
    service_id: 'standin1',
    action: r.action,
    client_id: r.client_id,
    ip: r.ip ?? '127.0.0.1',
    vhost: '__defaultVhost__',
    app: r.app,
    tcUrl: `rtmp://127.0.0.1/${r.app}`,
    stream: r.stream,
    param: r.param,
    stream_url: `/${r.app}/${r.stream}`,
    stream_id: 'vid-standin-stream',
  });
  const res = await post(url, body);
  // do_post: status 200/201, non-empty JSON body, the number 0 or an object whose code is 0.
  let ok = false;
  if (res.status === 200 || res.status === 201) {
    try {
      const v = JSON.parse(res.text) as unknown;
      ok = v === 0 || (typeof v === 'object' && v !== null && (v as { code?: unknown }).code === 0);
    } catch {
      ok = false;
    }
  }
  return { ...res, allowed: ok };
}

/** OME's AdmissionWebhooks request, signed as admission_webhooks.cpp signs it. */
export async function omeAdmission(
  url: string,
  secret: string,
  r: { direction: 'incoming' | 'outgoing'; protocol: string; status: 'opening' | 'closing'; url: string; address?: string; port: number; newUrl?: string },
  opts: { signature?: string } = {},
) {
  const request: Record<string, unknown> = { direction: r.direction, protocol: r.protocol, url: r.url };
  if (r.newUrl) request.new_url = r.newUrl;
  request.status = r.status;
  request.time = new Date().toISOString();
  const body = JSON.stringify({ client: { address: r.address ?? '127.0.0.1', port: r.port }, request });
  const signature = opts.signature ?? createHmac('sha1', secret).update(body).digest('base64url');
  const res = await post(url, body, { 'x-ome-signature': signature });
  let answer: { allowed?: boolean; new_url?: string; lifetime?: number; reason?: string } = {};
  try {
    answer = JSON.parse(res.text) as typeof answer;
  } catch {
    answer = {};
  }
  return { ...res, answer };
}
