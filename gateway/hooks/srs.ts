import { z } from 'zod';
import type { MediaServerConfig } from '../config.ts';
import { STREAM_KEY_RE } from '../security/secrets.ts';
import { basicAuth, fillTemplate, type DropResult, type HookAdapter, type HookEvent, type UpstreamPublish } from './adapter.ts';

/**
 * SRS (ossrs/srs) http_hooks. trunk/src/app/srs_app_http_hooks.cpp posts JSON per event (on_publish:
 * server_id, service_id, action, client_id, ip, vhost, app, tcUrl, stream, param, stream_url, stream_id;
 * on_unpublish the same) and, in do_post, accepts only HTTP 200/201 with the body `0` (or
 * `{"code": 0}`); anything else refuses the publish (trunk/conf/full.conf, http_hooks).
 *
 * Its HTTP API kicks a client: `DELETE /api/v1/clients/{client_id}` (srs_app_http_api.cpp,
 * SrsGoApiClients::serve_http: client->conn->expire(); an unknown id answers {"code": 2049},
 * ERROR_RTMP_CLIENT_NOT_FOUND in srs_kernel_error.hpp), and reports one with GET on the same path.
 * SRS never re-authorises a running publish: the reconciler retries an unconfirmed kick. (GET on the
 * same path reports a client; on_unpublish already tells modgate of an end, so it is not polled.)
 *
 * The stream name is public: the key travels in the publisher's query (rtmp://host/live/alice?key=sk_…),
 * which SRS passes as `param`.
 */

export const SrsHookRequest = z
  .object({
    action: z.string().min(1).max(32),
    client_id: z.string().min(1).max(128),
    ip: z.string().max(64).default(''),
    vhost: z.string().max(256).default(''),
    app: z.string().max(256).default(''),
    stream: z.string().max(512).default(''),
    param: z.string().max(4096).default(''),
    tcUrl: z.string().max(1024).optional(),
    server_id: z.string().max(128).optional(),
    service_id: z.string().max(128).optional(),
    stream_url: z.string().max(1024).optional(),
    stream_id: z.string().max(128).optional(),
  })
  .passthrough();
export type SrsHookRequest = z.infer<typeof SrsHookRequest>;

/** SRS's "no such client" (srs_kernel_error.hpp). */
const CLIENT_NOT_FOUND = 2049;

export class SrsAdapter implements HookAdapter<SrsHookRequest> {
  readonly kind = 'srs' as const;

  parse(req: SrsHookRequest): HookEvent {
    const params = new URLSearchParams(req.param.replace(/^\?/, ''));
    const publish: UpstreamPublish = {
      ref: req.client_id,
      key: params.get('key'),
      remoteAddr: req.ip || null,
      protocol: 'rtmp',
      names: { app: req.app, stream: req.stream, vhost: req.vhost, fixedName: req.stream },
    };
    switch (req.action) {
      case 'on_publish':
        if (STREAM_KEY_RE.test(req.stream))
          return { type: 'other', allow: false, what: 'a stream key as the stream name (pass it as ?key=; the name is public)' };
        return { type: 'publish', publish };
      case 'on_unpublish':
        return { type: 'ended', publish };
      default:
        // on_connect, on_close, on_play, on_stop, on_dvr, on_hls: modgate gates publishers only.
        return { type: 'other', allow: true, what: req.action };
    }
  }

  pullUrl(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string {
    return fillTemplate(server.pull, { app: publish.names.app ?? '', name: publicName, stream: publicName, vhost: publish.names.vhost ?? '' });
  }

  private url(server: MediaServerConfig, publish: UpstreamPublish): string {
    return `${server.control.replace(/\/+$/, '')}/api/v1/clients/${encodeURIComponent(publish.ref)}`;
  }

  private async call(server: MediaServerConfig, publish: UpstreamPublish, method: 'DELETE'): Promise<number> {
    const res = await fetch(this.url(server, publish), { method, headers: basicAuth(server), signal: AbortSignal.timeout(server.controlTimeoutMs) });
    const text = await res.text();
    if (!res.ok) throw new Error(`SRS API answered ${res.status}`);
    let code: unknown;
    try {
      code = (JSON.parse(text) as { code?: unknown }).code;
    } catch {
      throw new Error('SRS API answered something that is not JSON');
    }
    if (typeof code !== 'number') throw new Error('SRS API answer has no code');
    return code;
  }

  async drop(server: MediaServerConfig, publish: UpstreamPublish): Promise<DropResult> {
    const code = await this.call(server, publish, 'DELETE');
    if (code === CLIENT_NOT_FOUND) return { dropped: 0 };
    if (code !== 0) throw new Error(`SRS kick answered code ${code}`);
    return { dropped: 1 };
  }
}
