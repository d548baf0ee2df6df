import net from 'node:net';
import type { Logger } from 'pino';
import type { GateSnapshot } from '../identity/gate.ts';
import { authorizePublish } from '../identity/gate.ts';
import { appealPointer, suspensionTerm } from '../enforcement/streamer-words.ts';
import type { CutRequest, LiveRegistry } from '../live/registry.ts';
import { VideoTap } from '../live/video-tap.ts';
import { NmsRtmpConnection, assertNmsCompatible, routeNmsLog, type NmsPacket } from './nms-adapter.ts';
import { Relay } from './relay.ts';
import { STREAM_KEY_RE, newId, sha256Hex } from '../security/secrets.ts';
import type { Refusal } from './refusals.ts';
import { SHUTTING_DOWN } from '../live/lifecycle.ts';
import { sourceAddress } from '../security/rate-limit.ts';
import { retryWords, type SourceGuard } from '../security/source-guard.ts';

export const RTMP_APP = 'live';

export interface RtmpIngestOptions {
  host: string;
  port: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxConnections: number;
  /** Largest RTMP message accepted before the publish is authorized, and after. */
  maxMessageBytesBeforeAuth?: number;
  maxMessageBytes?: number;
  /** Bound of each stream's GOP cache (gateway/ingest/relay.ts). */
  maxGopBytes?: number;
}

export interface RtmpIngestDeps {
  gate: () => GateSnapshot;
  registry: LiveRegistry;
  refuse: (refusal: Refusal) => void;
  log: Logger;
  /** Per-source connection limit (config `abuse.rtmpConnect`); none: unlimited. */
  guard?: SourceGuard;
  /** False once the node shuts down: new publishes are refused as shutting_down. */
  accepting?: () => boolean;
}

/** node-media-server's packet flags for video: 2 sequence header, 3 keyframe, 4 inter frame. */
const VIDEO_KIND = { 2: 'config', 3: 'key', 4: 'inter' } as const;

function tapVideo(tap: VideoTap, p: NmsPacket): void {
  if (p.codec_type !== 9) return;
  const kind = VIDEO_KIND[p.flags as 2 | 3 | 4];
  if (!kind) return;
  // Per message, consumers or not: how far behind live a full-rate sampler is, and when each frame's
  // content arrived (the time to cut is measured from there).
  const now = Date.now();
  if (kind !== 'config') {
    tap.lastDts = p.dts;
    // By presentation time: what a decoded frame's pts is (with B-frames it differs from dts).
    tap.arrivals.note(typeof p.pts === 'number' ? p.pts : p.dts, now);
  }
  // With nobody reading (sampling off, or a full-rate sampler reading the play path) no object is made
  // per packet; the sequence header is always kept, for a consumer that joins later. The parser reuses
  // its buffer, so consumers get a copy they may keep.
  if (kind !== 'config' && !tap.hasConsumers) return;
  tap.push({ kind, dts: p.dts, body: Buffer.from(p.data.subarray(0, p.size)), receivedAt: now });
}

/** Stream keys must never reach a log line. */
export function redactKeys(text: string): string {
  return text.replace(/sk_[A-Za-z0-9_-]{4,}/g, 'sk_…');
}

interface ConnState {
  authorized: boolean;
  streamId: string | null;
  closing: boolean;
  /** The accepted publish's video messages, for in-process consumers (the keyframe decoder). */
  video: VideoTap | null;
  /** The caller's address (the abuse limit's key). */
  source: string;
  /** Set when the source was over its limit at accept: the refusal's words (already audited). */
  limited: string | null;
}

/** How long a connection told why it ends may take to read that before it is destroyed. */
const STATUS_LINGER_MS = 2_000;

/**
 * The onStatus a publisher sees when a live stream ends from the server side: `<reason>: <plain words>`,
 * streamer-facing (no detection internals: a policy cut names its decision, for an appeal, not its
 * scores or distances). ffmpeg prints it as "Server error: …" (libavformat/rtmpproto.c,
 * handle_invoke_status), OBS logs it (plugins/obs-outputs/librtmp/rtmp.c, HandleInvoke).
 */
export function endStatus(request: CutRequest): { level: 'error' | 'status'; code: string; description: string } {
  if (request.reason === 'gateway_shutdown') {
    // nginx-rtmp answers an unpublish with NetStream.Unpublish.Success (ngx_rtmp_live_module.c).
    return { level: 'status', code: 'NetStream.Unpublish.Success', description: 'gateway_shutdown: the gateway is shutting down; publish again in a moment' };
  }
  const decision = typeof request.detail?.decisionId === 'string' ? request.detail.decisionId : null;
  return { level: 'error', code: 'NetStream.Publish.Denied', description: `${request.reason}: ${streamerEndWords(request, decision)}` };
}

/**
 * The words after the reason code: the cut's streamer message (an automated decision's plain words, never
 * its reason with rule, distance and limit), the suspension's end when the cut comes with one, and where to
 * appeal. A cut without streamer words says only who ended it: the moderation policy or a moderator.
 */
function streamerEndWords(request: CutRequest, decision: string | null): string {
  const words =
    request.streamerMessage ??
    (request.reason === 'cut' ? (request.actor === 'policy' ? 'ended by the moderation policy' : 'ended by a moderator') : request.message);
  const parts = [words];
  if (request.suspension) parts.push(suspensionTerm(request.suspension.endsAt));
  if (decision || request.suspension) parts.push(appealPointer(decision));
  return parts.join('; ');
}

/**
 * Sent when the gateway shuts down, before the stream's NetStream.Unpublish.Success: Flash Media Server's
 * documented code for it (NetConnection.Connect.AppShutdown, level error). ffmpeg reads one incoming
 * message per written frame and only an error makes it stop, so the error goes first: it prints it
 * ("Server error: gateway_shutdown: …") and exits; with the status first it wrote on into the closing
 * socket and ended with "Broken pipe" (tried: test/gateway/shutdown.test.ts).
 */
export const APP_SHUTDOWN = {
  level: 'error',
  code: 'NetConnection.Connect.AppShutdown',
  description: 'gateway_shutdown: the gateway is shutting down; publish again in a moment',
} as const;

export class RtmpIngest {
  private server: net.Server | null = null;
  private readonly connections = new Map<net.Socket, NmsRtmpConnection>();

  constructor(
    private readonly opts: RtmpIngestOptions,
    private readonly deps: RtmpIngestDeps,
  ) {
    // Every node-media-server internal the ingest relies on is checked before the first connection.
    assertNmsCompatible(undefined, (message) => deps.log.warn(message));
    // node-media-server logs every path (which holds the stream key) to stdout: route it to our logger, redacted.
    routeNmsLog((level, message) => {
      if (level === 'error' || level === 'warn') deps.log.debug({ nms: level }, redactKeys(message));
    });
  }

  async listen(): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = this.opts.maxConnections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.deps.log.error({ err }, 'RTMP listener error'));
    return (server.address() as net.AddressInfo).port;
  }

  /**
   * Stops listening and ends every connection. Publishers still connected (the gateway cuts them first,
   * with their status) and players are told `gateway_shutdown`; sockets get up to `graceMs` to flush it.
   */
  async close(graceMs = 1_000): Promise<void> {
    const closing = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    const sockets = [...this.connections.entries()];
    for (const [socket, conn] of sockets) {
      if (!conn.isStopped)
        conn.end(
          conn.isPlayer
            ? { level: 'status', code: 'NetStream.Play.UnpublishNotify', description: 'gateway_shutdown: the gateway is shutting down' }
            : [APP_SHUTDOWN, { level: 'status', code: 'NetStream.Unpublish.Success', description: 'gateway_shutdown: the gateway is shutting down' }],
          graceMs,
        );
      else if (socket.destroyed) this.connections.delete(socket);
    }
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.connections.keys()) socket.destroy();
    await closing;
  }

  private accept(socket: net.Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const source = sourceAddress(socket.remoteAddress);
    // Each connection spends a token of its source; an accepted publish or play gives it back. Over the
    // limit the connection is answered at `connect` (NetConnection.Connect.Rejected, `rate_limited: …`);
    // far over it (past abuse.maxRefusalsPerWindow) it is closed at accept, before any parsing.
    const admission = this.deps.guard?.admit(source) ?? { verdict: 'ok' as const };
    if (admission.verdict === 'drop') {
      socket.destroy();
      return;
    }
    const limited = admission.verdict === 'limited' ? `rate_limited: ${retryWords(admission.retryAfterMs)}` : null;
    const state: ConnState = { authorized: false, streamId: null, closing: false, video: null, source, limited };
    const maxBefore = this.opts.maxMessageBytesBeforeAuth ?? 64 * 1024;
    const maxAfter = this.opts.maxMessageBytes ?? 8 * 1024 * 1024;
    // Declared before the connection: its hooks refer to it and to the timer.
    let handshakeTimer: NodeJS.Timeout | undefined;
    const conn: NmsRtmpConnection = new NmsRtmpConnection(socket, {
      limits: () => (state.authorized ? { message: maxAfter, total: 4 * maxAfter } : { message: maxBefore, total: 4 * maxBefore }),
      onConnect: (app) => {
        if (state.limited) return state.limited;
        if (app === RTMP_APP) return null;
        this.deps.refuse({ protocol: 'rtmp', remoteAddr: remote, source, accountId: null, reason: 'bad_app', detail: `connect to app '${app}'` });
        return `bad_app: connect to app '${app}' (this gateway serves '${RTMP_APP}')`;
      },
      onPublish: () => this.publish(conn, state, remote, handshakeTimer),
      onPlay: () => this.play(conn, state, handshakeTimer),
      // Media reaches this point only for an authorized publisher: a refused one never reaches a player or the sampler.
      onMedia: (packet) => {
        if (state.video) tapVideo(state.video, packet);
      },
      onProtocolError: (message) => {
        // A malformed stream (bad tcUrl, bad AMF, guard limit) ends this connection only.
        this.deps.log.info({ remote, err: redactKeys(message) }, 'RTMP protocol error; connection closed');
        this.drop(conn, state, 'protocol_error', redactKeys(message));
      },
      onClose: () => {
        clearTimeout(handshakeTimer);
        this.connections.delete(socket);
        state.video?.end();
        if (state.streamId) this.deps.registry.ended(state.streamId, 'publisher_disconnected');
      },
    });
    this.connections.set(socket, conn);

    socket.setNoDelay(true);
    socket.setTimeout(this.opts.idleTimeoutMs, () => this.drop(conn, state, 'idle_timeout', 'no data within the idle timeout'));
    handshakeTimer = setTimeout(() => {
      if (!state.authorized) this.drop(conn, state, 'protocol_error', 'no authorized publish or play within the handshake timeout');
    }, this.opts.handshakeTimeoutMs);
    handshakeTimer.unref();
    conn.run();
  }

  private drop(conn: NmsRtmpConnection, state: ConnState, reason: string, detail: string): void {
    if (state.closing) return;
    state.closing = true;
    conn.stop();
    state.video?.end();
    if (state.streamId) this.deps.registry.ended(state.streamId, reason === 'idle_timeout' ? 'idle_timeout' : 'protocol_error', detail);
    state.streamId = null;
    conn.socket.destroy();
  }

  private publish(conn: NmsRtmpConnection, state: ConnState, remote: string, timer: NodeJS.Timeout | undefined): void {
    const key = conn.name;
    const refuse = (reason: string, message: string, accountId: string | null) => {
      conn.forgetConnectPath();
      state.closing = true;
      // As nginx-rtmp and SRS do: the publisher is told why (ffmpeg prints "Server error: <description>").
      conn.end({ level: 'error', code: 'NetStream.Publish.BadName', description: `${reason}: ${message}` }, STATUS_LINGER_MS);
      this.deps.refuse({ protocol: 'rtmp', remoteAddr: remote, source: state.source, accountId, reason, detail: message });
    };
    // A client that skipped `connect` is still held to its source's limit.
    if (state.limited) {
      conn.forgetConnectPath();
      state.closing = true;
      conn.end({ level: 'error', code: 'NetStream.Publish.BadName', description: state.limited }, STATUS_LINGER_MS);
      return;
    }
    if (this.deps.accepting && !this.deps.accepting()) return refuse(SHUTTING_DOWN.reason, SHUTTING_DOWN.message, null);
    if (conn.app !== RTMP_APP) return refuse('bad_app', `publish to app '${conn.app}' (expected '${RTMP_APP}')`, null);
    if (!STREAM_KEY_RE.test(key)) return refuse('unknown_key', 'malformed stream key', null);
    const verdict = authorizePublish(this.deps.gate(), sha256Hex(key), Date.now());
    if (!verdict.ok) return refuse(verdict.reason, verdict.message, verdict.account?.id ?? null);

    // Relay under the public stream id, so the key never appears in a play URL, a log or the sampler's input.
    const streamId = newId('str');
    const playPath = `/${RTMP_APP}/${streamId}`;
    if (!conn.acceptPublish(playPath, new Relay(this.opts.maxGopBytes))) return refuse('conflict', 'stream path already has a publisher', verdict.account.id);
    clearTimeout(timer);
    this.deps.guard?.accepted(state.source);
    state.authorized = true;
    state.streamId = streamId;
    state.video = new VideoTap();
    this.deps.registry.start({
      id: streamId,
      accountId: verdict.account.id,
      handle: verdict.account.handle,
      subject: verdict.account.subject,
      keyId: verdict.keyId,
      protocol: 'rtmp',
      remoteAddr: remote,
      startedAt: Date.now(),
      playPath,
      media: null,
      video: state.video,
      connection: {
        terminate: (request) => {
          state.closing = true;
          state.streamId = null;
          state.video?.end();
          // Nothing more is read or relayed from now on; the publisher reads why, then the socket is
          // destroyed (node-media-server's session.close() only half-closes and keeps relaying).
          conn.end(request.reason === 'gateway_shutdown' ? [APP_SHUTDOWN, endStatus(request)] : endStatus(request), STATUS_LINGER_MS);
        },
      },
    });
  }

  private play(conn: NmsRtmpConnection, state: ConnState, timer: NodeJS.Timeout | undefined): void {
    // Viewers may play live streams by their public id only (`/live/<streamId>`); nothing else is served.
    const live = !state.limited && conn.app === RTMP_APP && this.deps.registry.get(conn.name);
    if (!live) {
      conn.forgetConnectPath();
      state.closing = true;
      conn.end({ level: 'error', code: 'NetStream.Play.StreamNotFound', description: 'not_found: no live stream with this id' }, STATUS_LINGER_MS);
      return;
    }
    clearTimeout(timer);
    this.deps.guard?.accepted(state.source);
    state.authorized = true;
    conn.acceptPlay();
  }
}
