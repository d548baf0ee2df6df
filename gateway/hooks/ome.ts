import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { MediaServerConfig } from '../config.ts';
import type { Protocol } from '../live/registry.ts';
import { STREAM_KEY_RE } from '../security/secrets.ts';
import { basicAuth, fillTemplate, type DropResult, type HookAdapter, type HookEvent, type UpstreamPublish } from './adapter.ts';

/**
 * OvenMediaEngine AdmissionWebhooks (AirenSoft/OvenMediaEngine docs/access-control/admission-webhooks.md;
 * src/projects/modules/access_control/admission_webhooks/admission_webhooks.cpp). Each request is
 * `{client: {address, port, real_ip, user_agent}, request: {direction, protocol, status, url, new_url, time}}`
 * signed with `X-OME-Signature`: HMAC-SHA1 of the body with the SecretKey, base64url. The answer to an
 * `opening` is `{allowed, new_url, lifetime, reason}` (HTTP 200 even when refused); to a `closing`, `{}`.
 *
 * `new_url` may change the app and stream: a key published as the stream name is renamed to the public
 * stream id. `lifetime` (ms) ends the publish when it expires (rtmp_stream.cpp: _stream_expired_msec), so
 * the encoder's reconnect is admitted again: the bound on a lost cut (servers[].recheckSeconds). A cut
 * is the REST API's `DELETE /v1/vhosts/{vhost}/apps/{app}/streams/{stream}` ("terminates the ingress
 * connection", api/ome.yml), with its AccessToken as basic auth; GET on the same path reports the stream.
 */

export const OmeAdmission = z
  .object({
    client: z
      .object({
        address: z.string().max(64),
        port: z.number().int().min(0).max(65535),
        real_ip: z.string().max(64).optional(),
        user_agent: z.string().max(1024).optional(),
      })
      .passthrough(),
    request: z
      .object({
        direction: z.enum(['incoming', 'outgoing']),
        protocol: z.string().min(1).max(32),
        status: z.enum(['opening', 'closing']),
        url: z.string().min(1).max(4096),
        new_url: z.string().max(4096).optional(),
        time: z.string().max(64).optional(),
      })
      .passthrough(),
  })
  .passthrough();
export type OmeAdmission = z.infer<typeof OmeAdmission>;

/** Whether `signature` is OME's HMAC-SHA1 of `body` with `secret` (base64url; padding tolerated). */
export function omeSignatureValid(secret: string, body: string, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = createHmac('sha1', secret).update(body, 'utf8').digest();
  let given: Buffer;
  try {
    given = Buffer.from(signature.replace(/=+$/, ''), 'base64url');
  } catch {
    return false;
  }
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const PROTOCOL: Record<string, Protocol> = { rtmp: 'rtmp', srt: 'srt', webrtc: 'webrtc' };

/** app and stream of an OME URL (scheme://host[:port]/app/stream[/file][?query]). */
function parts(raw: string): { url: URL; app: string; stream: string } | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  const [app = '', stream = ''] = url.pathname
    .split('/')
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  return { url, app, stream };
}

export class OmeAdapter implements HookAdapter<OmeAdmission> {
  readonly kind = 'ome' as const;

  parse(req: OmeAdmission): HookEvent {
    const { direction, status, protocol } = req.request;
    if (direction === 'outgoing') return { type: 'other', allow: true, what: `playback over ${protocol}` };
    const p = parts(req.request.url);
    const proto = PROTOCOL[protocol];
    if (!p || !proto) return { type: 'other', allow: false, what: `publish over ${protocol}` };
    const keyInName = STREAM_KEY_RE.test(p.stream);
    const publish: UpstreamPublish = {
      // OME names no connection id: the publisher's address and port identify it, opening and closing alike.
      ref: `${req.client.address}:${req.client.port}`,
      key: keyInName ? p.stream : p.url.searchParams.get('key'),
      remoteAddr: req.client.real_ip ?? req.client.address,
      protocol: proto,
      names: { app: p.app, stream: p.stream, url: req.request.url, ...(keyInName ? {} : { fixedName: p.stream }) },
    };
    return status === 'opening' ? { type: 'publish', publish } : { type: 'ended', publish };
  }

  /** The `new_url` renaming a key-named stream to its public name (same scheme, host, port and app). */
  newUrl(publish: UpstreamPublish, publicName: string): string | null {
    if (publish.names.fixedName !== undefined) return null;
    const p = parts(publish.names.url ?? '');
    if (!p) return null;
    const rest = p.url.pathname.split('/').filter(Boolean).slice(2);
    p.url.pathname = ['', encodeURIComponent(p.app), encodeURIComponent(publicName), ...rest].join('/');
    return p.url.toString();
  }

  pullUrl(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string {
    return fillTemplate(server.pull, { app: publish.names.app ?? '', name: publicName, stream: publicName, vhost: server.vhost });
  }

  private url(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string {
    const base = server.control.replace(/\/+$/, '');
    return `${base}/v1/vhosts/${encodeURIComponent(server.vhost)}/apps/${encodeURIComponent(publish.names.app ?? '')}/streams/${encodeURIComponent(publicName)}`;
  }

  async drop(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): Promise<DropResult> {
    const res = await fetch(this.url(server, publish, publicName), {
      method: 'DELETE',
      headers: basicAuth(server),
      signal: AbortSignal.timeout(server.controlTimeoutMs),
    });
    await res.arrayBuffer();
    if (res.status === 404) return { dropped: 0 };
    if (!res.ok) throw new Error(`OME REST API answered ${res.status}`);
    return { dropped: 1 };
  }
}
