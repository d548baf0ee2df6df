import { z } from 'zod';
import type { MediaServerConfig } from '../config.ts';
import type { Protocol } from '../live/registry.ts';
import { STREAM_KEY_RE } from '../security/secrets.ts';
import { basicAuth, fillTemplate, type DropResult, type HookAdapter, type HookEvent, type UpstreamPublish } from './adapter.ts';

/**
 * MediaMTX (bluenviron/mediamtx) with `authMethod: http`. Its auth manager POSTs one JSON object per
 * publish, read, playback and API access (internal/auth/manager.go, authenticateHTTP: ip, user, password,
 * token, action, path, protocol, id, query, userAgent) and allows on any 2xx. `id` is the connection's
 * UUID, the one its control API kicks (internal/api/api.go: POST /v3/rtmpconns/kick/:id,
 * /v3/rtspsessions/kick/:id, /v3/srtconns/kick/:id, /v3/webrtcsessions/kick/:id; 404 when there is no
 * such connection, internal/api/api_rtmp.go) and reports (GET /v3/…/get/:id).
 *
 * MediaMTX calls no hook when a publish ends and never re-authorises a running one: the reconciler asks
 * its API whether the connection is still there, and retries a kick the API did not confirm.
 *
 * The path is public (players read it): the stream key travels as the password
 * (rtmp://host/path?user=any&pass=sk_…, rtsp://any:sk_…@host/path), the token, or `?key=sk_…`.
 */

export const MediaMtxAuthRequest = z
  .object({
    ip: z.string().max(64),
    user: z.string().max(512).default(''),
    password: z.string().max(512).default(''),
    token: z.string().max(4096).default(''),
    action: z.string().min(1).max(32),
    path: z.string().max(1024).default(''),
    protocol: z.string().max(32).default(''),
    id: z.string().uuid().nullable().default(null),
    query: z.string().max(4096).default(''),
    userAgent: z.string().max(1024).optional(),
  })
  // Later MediaMTX versions may add fields: refusing them would refuse every publish.
  .passthrough();
export type MediaMtxAuthRequest = z.infer<typeof MediaMtxAuthRequest>;

/** Each publishing protocol's connection list in the control API. */
const CONNS: Record<string, string> = { rtmp: 'rtmpconns', rtsp: 'rtspsessions', srt: 'srtconns', webrtc: 'webrtcsessions' };
const PROTOCOL: Record<string, Protocol> = { rtmp: 'rtmp', rtsp: 'rtsp', srt: 'srt', webrtc: 'webrtc' };

function keyOf(req: MediaMtxAuthRequest): string | null {
  for (const candidate of [req.password, req.token, new URLSearchParams(req.query).get('key') ?? '']) {
    if (candidate) return candidate;
  }
  return null;
}

export class MediaMtxAdapter implements HookAdapter<MediaMtxAuthRequest> {
  readonly kind = 'mediamtx' as const;

  parse(req: MediaMtxAuthRequest, server: MediaServerConfig): HookEvent {
    if (req.action === 'publish') {
      const protocol = PROTOCOL[req.protocol];
      if (!protocol || !req.id) return { type: 'other', allow: false, what: `publish over ${req.protocol || 'an unknown protocol'}` };
      // A key as the path would name every play URL: refused with a reason the streamer can act on.
      if (STREAM_KEY_RE.test(req.path.split('/').pop() ?? '')) {
        return { type: 'other', allow: false, what: 'a stream key as the path (pass it as the password or ?key=; the path is public)' };
      }
      const publish: UpstreamPublish = { ref: req.id, key: keyOf(req), remoteAddr: req.ip, protocol, names: { path: req.path, protocol: req.protocol, fixedName: req.path } };
      return { type: 'publish', publish };
    }
    if (req.action === 'read' || req.action === 'playback') return { type: 'other', allow: true, what: req.action };
    // api, metrics, pprof: only with the control credentials configured for this server (modgate's own).
    const c = server.credentials;
    const own = c !== undefined && req.user === c.user && req.password === c.password;
    return { type: 'other', allow: own, what: req.action };
  }

  pullUrl(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string {
    return fillTemplate(server.pull, { path: publicName, name: publicName });
  }

  private url(server: MediaServerConfig, publish: UpstreamPublish, op: 'kick' | 'get'): string {
    const list = CONNS[publish.names.protocol ?? ''] ?? 'rtmpconns';
    return `${server.control.replace(/\/+$/, '')}/v3/${list}/${op}/${encodeURIComponent(publish.ref)}`;
  }

  async drop(server: MediaServerConfig, publish: UpstreamPublish): Promise<DropResult> {
    const res = await fetch(this.url(server, publish, 'kick'), { method: 'POST', headers: basicAuth(server), signal: AbortSignal.timeout(server.controlTimeoutMs) });
    await res.arrayBuffer();
    if (res.status === 404) return { dropped: 0 };
    if (!res.ok) throw new Error(`MediaMTX kick answered ${res.status}`);
    return { dropped: 1 };
  }

  async alive(server: MediaServerConfig, publish: UpstreamPublish): Promise<boolean> {
    const res = await fetch(this.url(server, publish, 'get'), { headers: basicAuth(server), signal: AbortSignal.timeout(server.controlTimeoutMs) });
    await res.arrayBuffer();
    if (res.status === 404) return false;
    if (!res.ok) throw new Error(`MediaMTX answered ${res.status}`);
    return true;
  }
}
