import type { MediaServerConfig } from '../config.ts';
import type { RefusalReason } from '../identity/gate.ts';
import type { Protocol } from '../live/registry.ts';

/**
 * One upstream media server kind (nginx-rtmp, MediaMTX, SRS, OvenMediaEngine) as modgate sees it. The
 * server's hook request is turned into one of three events (a publish to authorize, a periodic re-check
 * of a running publish, the end of one); an accepted publish is pulled back from the server for
 * sampling, and a cut is the server's own control call. Everything else — the gate, the registry, the
 * sampler, the policy — is shared with native ingest (gateway/hooks/hooked-streams.ts).
 */
export interface HookAdapter<Req = unknown> {
  readonly kind: MediaServerConfig['kind'];
  /** What this hook request means, from the server's own fields (already checked to come from `server`). */
  parse(req: Req, server: MediaServerConfig): HookEvent;
  /** The URL the sampler reads an accepted publish from (never the stream key). */
  pullUrl(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): string;
  /** Ends the publisher through the server's control API; rejects when the server did not confirm it. */
  drop(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): Promise<DropResult>;
  /**
   * Whether the publisher is still connected, for servers that do not call back when a publish ends
   * (MediaMTX) or whose end call can be lost: asked periodically by the reconciler. Absent: not asked.
   */
  alive?(server: MediaServerConfig, publish: UpstreamPublish, publicName: string): Promise<boolean>;
  /**
   * The same for all of a server's live publishes in one go (a list call rather than one call per stream):
   * the refs the server still has. Preferred by the reconciler over `alive` where present.
   */
  present?(server: MediaServerConfig, publishes: readonly UpstreamPublish[]): Promise<Set<string>>;
}

/** A publish as the upstream server describes it. */
export interface UpstreamPublish {
  /** The server's id of the publisher's connection (nginx clientid, MediaMTX conn id, SRS client_id, OME stream). */
  ref: string;
  /** The stream key the publisher presented (name, password, token or query, as the server passes it); never logged. */
  key: string | null;
  remoteAddr: string | null;
  protocol: Protocol;
  /** The server's own names for the stream (app, name, path, vhost…): control calls and the pull URL use them. */
  names: Record<string, string>;
}

export type HookEvent =
  | { type: 'publish'; publish: UpstreamPublish }
  /** A running publish asks again (nginx on_update, OME lifetime expiry): refused unless still live and permitted. */
  | { type: 'recheck'; publish: UpstreamPublish }
  | { type: 'ended'; publish: UpstreamPublish }
  /** Not a publisher's event (a viewer's play, an API call): the adapter's own answer, modgate takes no part. */
  | { type: 'other'; allow: boolean; what: string };

export interface DropResult {
  /** How many publishers the server says it dropped (0: it had none by that id: already gone). */
  dropped: number;
}

/** Why a hook answer refuses, in modgate's codes (the gate's reasons plus the hook's own). */
export type HookRefusal = RefusalReason | 'malformed_key' | 'not_live' | 'conflict' | 'shutting_down';

export type AuthorizeResult = { ok: true; streamId: string; publicName: string } | { ok: false; reason: HookRefusal; message: string };

/** Fills a pull URL template: {app}, {name}, {path}, {vhost}, {stream}, each URI-escaped. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => (name in values ? encodeURIComponent(values[name]!).replace(/%2F/g, '/') : whole));
}

/** Basic-auth header for a server's control credentials, when it has some. */
export function basicAuth(server: MediaServerConfig): Record<string, string> {
  if (!server.credentials) return {};
  return { authorization: `Basic ${Buffer.from(`${server.credentials.user}:${server.credentials.password}`).toString('base64')}` };
}
