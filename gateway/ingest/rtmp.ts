import { createRequire } from 'node:module';
import net from 'node:net';
import type { Logger } from 'pino';
import type { GateSnapshot } from '../identity/gate.ts';
import { authorizePublish } from '../identity/gate.ts';
import type { LiveRegistry } from '../live/registry.ts';
import { VideoTap } from '../live/video-tap.ts';
import { installLazyRelay } from './relay.ts';
import { STREAM_KEY_RE, newId, sha256Hex } from '../security/secrets.ts';
import type { Refusal } from './refusals.ts';
import type { RtmpSessionInstance, RtmpParser } from 'node-media-server/src/session/rtmp_session.js';

// node-media-server is CommonJS and has no "exports" map: its session and broadcast classes are used
// directly, on a listener of our own, so every connection passes through the gate and the guards below.
const require = createRequire(import.meta.url);
const RtmpSession = require('node-media-server/src/session/rtmp_session.js') as typeof import('node-media-server/src/session/rtmp_session.js');
const BroadcastServer = require('node-media-server/src/server/broadcast_server.js') as typeof import('node-media-server/src/server/broadcast_server.js');
const Context = require('node-media-server/src/core/context.js') as typeof import('node-media-server/src/core/context.js');
const nmsLogger = require('node-media-server/src/core/logger.js') as typeof import('node-media-server/src/core/logger.js');

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
}

export interface RtmpIngestDeps {
  gate: () => GateSnapshot;
  registry: LiveRegistry;
  refuse: (refusal: Refusal) => void;
  log: Logger;
}

class GuardError extends Error {}

/** The fields of node-media-server's AVPacket the video tap reads. */
interface NmsPacket {
  codec_type: number;
  flags: number;
  dts: number;
  /** `size` bytes are the message (node-media-server's own allocation may be longer). */
  data: Buffer;
  size: number;
}

/** node-media-server's packet flags for video: 2 sequence header, 3 keyframe, 4 inter frame. */
const VIDEO_KIND = { 2: 'config', 3: 'key', 4: 'inter' } as const;

function tapVideo(tap: VideoTap, p: NmsPacket): void {
  if (p.codec_type !== 9 || !Buffer.isBuffer(p.data)) return;
  const kind = VIDEO_KIND[p.flags as 2 | 3 | 4];
  if (kind) tap.push({ kind, dts: p.dts, body: p.data.subarray(0, Math.min(p.size, p.data.length)), receivedAt: Date.now() });
}

/** Stream keys must never reach a log line. */
export function redactKeys(text: string): string {
  return text.replace(/sk_[A-Za-z0-9_-]{4,}/g, 'sk_…');
}

/**
 * Bounds what node-media-server's parser may allocate: it trusts the declared message length (up to 16 MiB
 * per chunk stream, before any authentication) and accepts any chunk size, including 0.
 */
function guardParser(rtmp: RtmpParser, limits: () => { message: number; total: number }): void {
  rtmp.packetAlloc = () => {
    const { message, total } = limits();
    const length = rtmp.parserPacket.header.length;
    if (length > message) throw new GuardError(`RTMP message of ${length} bytes exceeds the limit of ${message}`);
    if (rtmp.inPackets.size > 64) throw new GuardError('too many RTMP chunk streams');
    let sum = length;
    for (const p of rtmp.inPackets.values()) sum += p.capacity;
    if (sum > total) throw new GuardError('RTMP chunk buffers exceed the per-connection limit');
    // A fresh, exactly-sized payload per message (node-media-server reuses one buffer per chunk stream
    // and zero-fills it when it grows): the relay's GOP cache and the video tap can then keep a payload
    // without copying it. Every byte of it is written by the chunks before the message is handled.
    rtmp.parserPacket.payload = Buffer.allocUnsafe(length);
    rtmp.parserPacket.capacity = length;
  };
  // One publish or play per connection: a second command would re-register node-media-server's broadcast
  // under the key path and leave the first stream in the registry with no connection behind it.
  const commands = rtmp as RtmpParser & { onPublish(message: unknown): void; onPlay(message: unknown): void };
  let commanded = false;
  for (const name of ['onPublish', 'onPlay'] as const) {
    const original = commands[name].bind(commands);
    commands[name] = (message: unknown) => {
      if (commanded) throw new GuardError('a second publish or play command on one connection');
      commanded = true;
      original(message);
    };
  }
  const control = rtmp.controlHandler.bind(rtmp);
  rtmp.controlHandler = () => {
    control();
    const size = rtmp.inChunkSize;
    if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) throw new GuardError(`invalid RTMP chunk size ${size}`);
  };
}

interface ConnState {
  authorized: boolean;
  streamId: string | null;
  closing: boolean;
  /** The accepted publish's video messages, for in-process consumers (the keyframe decoder). */
  video: VideoTap | null;
}

export class RtmpIngest {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly opts: RtmpIngestOptions,
    private readonly deps: RtmpIngestDeps,
  ) {
    // node-media-server logs every path (which holds the stream key) to stdout: route it to our logger, redacted.
    nmsLogger.log = (message: string, level = 'info') => {
      if (level === 'error' || level === 'warn') deps.log.debug({ nms: level }, redactKeys(message));
    };
    Context.config = Context.config ?? {};
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

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const state: ConnState = { authorized: false, streamId: null, closing: false, video: null };
    const session = new RtmpSession(socket);
    const maxBefore = this.opts.maxMessageBytesBeforeAuth ?? 64 * 1024;
    const maxAfter = this.opts.maxMessageBytes ?? 8 * 1024 * 1024;
    // node-media-server answers `publish` with NetStream.Publish.Start before its hooks run, so a refused
    // publisher (OBS) would briefly show "live". Hold the answer back until the gate has accepted.
    const respondPublish = session.rtmp.respondPublish.bind(session.rtmp);
    session.rtmp.respondPublish = () => {};
    guardParser(session.rtmp, () =>
      state.authorized ? { message: maxAfter, total: 4 * maxAfter } : { message: maxBefore, total: 4 * maxBefore },
    );

    socket.setNoDelay(true);
    socket.setTimeout(this.opts.idleTimeoutMs, () => this.drop(socket, state, 'idle_timeout', 'no data within the idle timeout'));
    const handshakeTimer = setTimeout(() => {
      if (!state.authorized) this.drop(socket, state, 'protocol_error', 'no authorized publish or play within the handshake timeout');
    }, this.opts.handshakeTimeoutMs);
    handshakeTimer.unref();

    const onData = session.onData;
    session.onData = (data: Buffer) => {
      if (state.closing) return;
      try {
        onData(data);
      } catch (err) {
        // A malformed stream (bad tcUrl, bad AMF, guard limit) ends this connection only.
        this.deps.log.info({ remote, err: redactKeys(String((err as Error).message ?? err)) }, 'RTMP protocol error; connection closed');
        this.drop(socket, state, 'protocol_error', redactKeys(String((err as Error).message ?? err)));
      }
    };
    const onPush = session.onPush;
    session.onPush = () => this.publish(session, state, remote, onPush, handshakeTimer, respondPublish);
    const onPlay = session.onPlay;
    session.onPlay = () => this.play(session, state, onPlay, handshakeTimer);
    const onPacket = session.onPacket;
    // Media is relayed only for an authorized publisher: a refused one never reaches a player or the sampler.
    session.onPacket = (packet: unknown) => {
      if (!(state.authorized && !state.closing && session.isPublisher)) return;
      onPacket(packet);
      if (state.video) tapVideo(state.video, packet as NmsPacket);
    };
    const onClose = session.onClose;
    session.onClose = () => {
      clearTimeout(handshakeTimer);
      this.sockets.delete(socket);
      try {
        onClose();
      } catch (err) {
        this.deps.log.debug({ err }, 'node-media-server close handler failed');
      }
      state.video?.end();
      if (state.streamId) this.deps.registry.ended(state.streamId, 'publisher_disconnected');
    };
    session.onError = () => {};
    session.run();
  }

  private drop(socket: net.Socket, state: ConnState, reason: string, detail: string): void {
    if (state.closing) return;
    state.closing = true;
    state.video?.end();
    if (state.streamId) this.deps.registry.ended(state.streamId, reason === 'idle_timeout' ? 'idle_timeout' : 'protocol_error', detail);
    state.streamId = null;
    socket.destroy();
  }

  private forgetConnectPath(session: RtmpSessionInstance): void {
    // node-media-server registered a broadcast under /live/<key> at connect time; never leave it behind.
    const b = Context.broadcasts.get(session.streamPath);
    if (b && b === session.broadcast && b.publisher === null && b.subscribers.size === 0) Context.broadcasts.delete(session.streamPath);
  }

  private publish(session: RtmpSessionInstance, state: ConnState, remote: string, onPush: () => void, timer: NodeJS.Timeout, respondPublish: () => void): void {
    const key = typeof session.streamName === 'string' ? session.streamName : '';
    const refuse = (reason: string, message: string, accountId: string | null) => {
      this.forgetConnectPath(session);
      state.closing = true;
      session.socket.destroy();
      this.deps.refuse({ protocol: 'rtmp', remoteAddr: remote, accountId, reason, detail: message });
    };
    if (session.streamApp !== RTMP_APP) return refuse('bad_app', `publish to app '${session.streamApp}' (expected '${RTMP_APP}')`, null);
    if (!STREAM_KEY_RE.test(key)) return refuse('unknown_key', 'malformed stream key', null);
    const verdict = authorizePublish(this.deps.gate(), sha256Hex(key), Date.now());
    if (!verdict.ok) return refuse(verdict.reason, verdict.message, verdict.account?.id ?? null);

    // Relay under the public stream id, so the key never appears in a play URL, a log or the sampler's input.
    const streamId = newId('str');
    this.forgetConnectPath(session);
    const playPath = `/${RTMP_APP}/${streamId}`;
    session.streamName = streamId;
    session.streamPath = playPath;
    session.broadcast = new BroadcastServer(playPath);
    installLazyRelay(session.broadcast);
    Context.broadcasts.set(playPath, session.broadcast);
    onPush();
    if (!session.isPublisher) return refuse('conflict', 'stream path already has a publisher', verdict.account.id);
    respondPublish();
    clearTimeout(timer);
    state.authorized = true;
    state.streamId = streamId;
    state.video = new VideoTap();
    const socket = session.socket;
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
        terminate: () => {
          state.closing = true;
          state.streamId = null;
          state.video?.end();
          // session.close() only half-closes and node-media-server keeps relaying: destroy is the real cut.
          socket.destroy();
        },
      },
    });
  }

  private play(session: RtmpSessionInstance, state: ConnState, onPlay: () => void, timer: NodeJS.Timeout): void {
    // Viewers may play live streams by their public id only (`/live/<streamId>`); nothing else is served.
    const live = session.streamApp === RTMP_APP && this.deps.registry.get(session.streamName);
    if (!live) {
      this.forgetConnectPath(session);
      state.closing = true;
      session.socket.destroy();
      return;
    }
    clearTimeout(timer);
    state.authorized = true;
    onPlay();
  }
}
