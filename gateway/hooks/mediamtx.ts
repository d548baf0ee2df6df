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
 * /v3/rtspsessions/kick/:id, /v3/srtconns/kick/:id, /v3/webrtcsessions/kick/:id, and rtmpsconns /
 * rtspssessions for the TLS variants, which report the same protocol; 404 when there is no such
 * connection, internal/api/api_rtmp.go) and lists (GET /v3/…/list).
 *
 * MediaMTX calls no hook when a publish ends and never re-authorises a running one: the reconciler asks
 * its API which connections are still there (GET /v3/{list}/list, paged: itemsPerPage, page from 0, the
 * answer's pageCount; internal/api/paginate.go), and retries a kick the API did not confirm.
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
const LISTS: Record<string, string[]> = {
  rtmp: ['rtmpconns', 'rtmpsconns'],
  rtsp: ['rtspsessions', 'rtspssessions'],
  srt: ['srtconns'],
  webrtc: ['webrtcsessions'],
};
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
      const publish: UpstreamPublish = {
        ref: req.id,
        key: keyOf(req),
        remoteAddr: req.ip,
        protocol,
        names: { path: req.path, protocol: req.protocol, fixedName: req.path },
      };
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

  /**
   * The connection lists a publish over this protocol may be in: MediaMTX reports `rtmp` for RTMP and RTMPS
   * alike (and `rtsp` for RTSP and RTSPS), each with its own list (api.go: rtmpsconns, rtspssessions). A kick
   * or a lookup that misses the plain list must try the secure one before concluding the publisher is gone.
   */
  private lists(publish: UpstreamPublish): string[] {
    return LISTS[publish.names.protocol ?? ''] ?? ['rtmpconns', 'rtmpsconns'];
  }

  async drop(server: MediaServerConfig, publish: UpstreamPublish): Promise<DropResult> {
    const base = server.control.replace(/\/+$/, '');
    for (const [i, list] of this.lists(publish).entries()) {
      const res = await fetch(`${base}/v3/${list}/kick/${encodeURIComponent(publish.ref)}`, {
        method: 'POST',
        headers: basicAuth(server),
        signal: AbortSignal.timeout(server.controlTimeoutMs),
      });
      await res.arrayBuffer();
      if (res.ok) return { dropped: 1 };
      // The plain list must answer (404: not there); a secure server that is off answers an error, ignored.
      if (i === 0 && res.status !== 404) throw new Error(`MediaMTX ${list} kick answered ${res.status}`);
    }
    return { dropped: 0 };
  }

  async present(server: MediaServerConfig, publishes: readonly UpstreamPublish[]): Promise<Set<string>> {
    const ids = new Set<string>();
    const base = server.control.replace(/\/+$/, '');
    const protocols = new Set(publishes.map((p) => p.names.protocol ?? 'rtmp'));
    for (const protocol of protocols) {
      for (const [i, list] of (LISTS[protocol] ?? ['rtmpconns', 'rtmpsconns']).entries()) {
        try {
          for (let page = 0, pages = 1; page < pages && page < 1000; page++) {
            const res = await fetch(`${base}/v3/${list}/list?itemsPerPage=1000&page=${page}`, {
              headers: basicAuth(server),
              signal: AbortSignal.timeout(server.controlTimeoutMs),
            });
            if (!res.ok) {
              await res.arrayBuffer();
              throw new Error(`MediaMTX ${list} list answered ${res.status}`);
            }
            const body = (await res.json()) as { pageCount?: unknown; items?: Array<{ id?: unknown }> };
            pages = typeof body.pageCount === 'number' ? body.pageCount : 0;
            for (const item of body.items ?? []) if (typeof item.id === 'string') ids.add(item.id);
          }
        } catch (err) {
          // The plain list must answer, or nothing is known and no stream may be declared gone; a secure
          // server that is off answers an error for its list, which is ignored.
          if (i === 0) throw err;
        }
      }
    }
    return ids;
  }
}
