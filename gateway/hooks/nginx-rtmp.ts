import { z } from 'zod';
import type { MediaServerConfig } from '../config.ts';
import { STREAM_KEY_RE } from '../security/secrets.ts';
import { basicAuth, fillTemplate, type DropResult, type HookAdapter, type HookEvent, type UpstreamPublish } from './adapter.ts';

/**
 * nginx-rtmp (arut/nginx-rtmp-module, Debian's libnginx-mod-rtmp). Its notify module POSTs every callback
 * as an urlencoded form (ngx_rtmp_notify_module.c: ngx_rtmp_netcall_http_format_session adds app,
 * flashver, swfurl, tcurl, pageurl, addr, clientid; the publish callback adds call=publish, name, type and
 * the publisher's own query args; on_update sends call=update_publish with time and timestamp, and
 * on_publish_done call=publish_done). ngx_rtmp_notify_parse_http_retcode reads the status only: 2xx
 * allows, 3xx with `Location: NAME` renames the publish (ngx_rtmp_notify_publish_handle), anything else
 * refuses; for on_update a refusal (or an unreachable modgate, ngx_rtmp_notify_update) ends the stream.
 * Note: ngx_rtmp_notify_init copies the name before the call, so update_publish and publish_done carry
 * the name as published (the key), never the rename: publishes are therefore tracked by clientid.
 *
 * A cut is the control module's drop (ngx_rtmp_control_module.c: /drop/publisher filtered by app, name
 * and clientid, answered 200 with the count of sessions dropped).
 */

const field = (max: number) => z.string().max(max);

/** The fields modgate reads; the rest (flashver, swfurl, pageurl, type, time, timestamp, args) pass through. */
export const NginxRtmpCall = z
  .object({
    call: z.string().min(1).max(32),
    app: field(256),
    name: field(512).default(''),
    tcurl: field(1024).optional(),
    addr: field(64).optional(),
    clientid: z.string().regex(/^\d{1,20}$/, 'a decimal connection number'),
    /** A key passed as the publisher's query (rtmp://host/app/channel?key=sk_…) rather than as the name. */
    key: field(256).optional(),
  })
  .passthrough();
export type NginxRtmpCall = z.infer<typeof NginxRtmpCall>;

export class NginxRtmpAdapter implements HookAdapter<NginxRtmpCall> {
  readonly kind = 'nginx-rtmp' as const;

  parse(call: NginxRtmpCall): HookEvent {
    const keyInName = STREAM_KEY_RE.test(call.name);
    const publish: UpstreamPublish = {
      ref: call.clientid,
      key: keyInName ? call.name : (call.key ?? null),
      remoteAddr: call.addr ?? null,
      protocol: 'rtmp',
      // A key passed apart from the name leaves the name public: the stream keeps it.
      names: { app: call.app, name: call.name, ...(keyInName ? {} : { fixedName: call.name }) },
    };
    switch (call.call) {
      case 'publish':
        return { type: 'publish', publish };
      case 'update_publish':
        return { type: 'recheck', publish };
      case 'publish_done':
        return { type: 'ended', publish };
      default:
        // Viewers (play, update_play, play_done), connect/disconnect, record_done: modgate gates publishers only.
        return { type: 'other', allow: true, what: call.call };
    }
  }

  pullUrl(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string {
    return fillTemplate(server.pull, { app: publish.names.app ?? '', name: publicName });
  }

  async drop(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): Promise<DropResult> {
    const url = new URL(`${server.control.replace(/\/+$/, '')}/drop/publisher`);
    url.searchParams.set('app', publish.names.app ?? '');
    url.searchParams.set('name', publicName);
    url.searchParams.set('clientid', publish.ref);
    const res = await fetch(url, { headers: basicAuth(server), signal: AbortSignal.timeout(server.controlTimeoutMs) });
    const text = (await res.text()).trim();
    if (!res.ok) throw new Error(`nginx-rtmp control answered ${res.status}: ${text.slice(0, 200)}`);
    const dropped = Number.parseInt(text, 10);
    return { dropped: Number.isFinite(dropped) ? dropped : 0 };
  }
}
