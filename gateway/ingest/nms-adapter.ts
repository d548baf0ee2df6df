/**
 * The node-media-server adapter: the only module that touches node-media-server's internals.
 *
 * node-media-server (nms) is CommonJS, ships no types and has no "exports" map; its declared extension
 * points are its events (`prePublish`, `postPublish`, `donePublish`, `prePlay`, `postPlay`, `donePlay` on
 * `Context.eventEmitter`) and its config (`auth.publish` with an md5-signed URL). Neither can do what the
 * gateway needs: the events are notifications with no veto (postPublish goes on whatever a listener does),
 * `donePublish` comes after a 30 s reconnect grace window, and the only built-in publish check is a shared
 * secret. So modgate runs nms's RTMP session and broadcast classes on a listener of its own and overrides
 * the members below. Each is checked at start-up by `assertNmsCompatible` (shape and, for the relay
 * contract, behaviour), and package.json pins nms to exactly NMS_PINNED_VERSION.
 *
 * | member                                   | how      | why (no extension point)                                          |
 * |------------------------------------------|----------|-------------------------------------------------------------------|
 * | logger.log                               | replaced | nms prints every stream path (= the stream key) with console.log  |
 * | Context.config                           | set      | sessions read it; modgate does not construct NodeMediaServer      |
 * | Context.broadcasts                       | get/set  | the play-path registry: relays are registered under the public id |
 * | RtmpSession(socket), .run()              | used     | nms's own listener has no accept hook, limits or socket options   |
 * | session.onData                           | wrapped  | a parser throw (bad AMF, bad tcUrl) would crash the process       |
 * | session.onPush / session.onPlay          | wrapped  | the publish and play gate (events cannot veto)                    |
 * | session.onPacket                         | wrapped  | media of an unauthorized publisher never reaches the relay        |
 * | session.onClose / session.onError        | wrapped  | the end is known at once (donePublish comes 30 s late)            |
 * | session.streamName/streamPath/broadcast  | set      | relay under the public stream id, never the key                   |
 * | rtmp.respondPublish                      | deferred | nms says NetStream.Publish.Start before any check (OBS shows live) |
 * | rtmp.packetAlloc                         | replaced | nms trusts the declared length (16 MiB per chunk stream, pre-auth)|
 * | rtmp.onPublish / rtmp.onPlay             | wrapped  | one publish or play per connection                                |
 * | rtmp.controlHandler                      | wrapped  | nms accepts any chunk size, 0 included                            |
 * | rtmp.onConnect                           | wrapped  | refuse a wrong app at `connect` with NetConnection.Connect.Rejected|
 * | rtmp.sendStatusMessage, rtmp.streamId    | used     | onStatus before a refusal or a cut (nms has no reject-with-reason)|
 * | broadcast.broadcastMessage               | replaced | the lean relay (gateway/ingest/relay.ts)                          |
 * | broadcast.rtmpGopCache / rtmp*Header     | replaced | postPlay reads them to start a player; the relay owns the cache   |
 * | broadcast.postPlay/postPublish/donePlay  | used     | nms's own bookkeeping of publisher and subscribers                |
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { RtmpParser, RtmpSessionInstance } from 'node-media-server/src/session/rtmp_session.js';
import type { BroadcastServerInstance } from 'node-media-server/src/server/broadcast_server.js';
import { tagFlags } from './flv-tag.ts';

const require = createRequire(import.meta.url);

/** The exact release every override below was written against (package.json pins it). */
export const NMS_PINNED_VERSION = '4.4.3';

type ContextModule = typeof import('node-media-server/src/core/context.js');
type LoggerModule = typeof import('node-media-server/src/core/logger.js');

/** The node-media-server modules the adapter uses, injectable so the self-check can be tested. */
export interface NmsModules {
  version: string;
  RtmpSession: new (socket: Socket) => RtmpSessionInstance;
  BroadcastServer: new (streamPath: string) => BroadcastServerInstance;
  Rtmp: { prototype: object };
  Context: ContextModule;
  logger: LoggerModule;
}

let loaded: NmsModules | null = null;

export function loadNms(): NmsModules {
  loaded ??= {
    version: (require('node-media-server/package.json') as { version: string }).version,
    RtmpSession: require('node-media-server/src/session/rtmp_session.js') as NmsModules['RtmpSession'],
    BroadcastServer: require('node-media-server/src/server/broadcast_server.js') as NmsModules['BroadcastServer'],
    Rtmp: require('node-media-server/src/protocol/rtmp.js') as NmsModules['Rtmp'],
    Context: require('node-media-server/src/core/context.js') as ContextModule,
    logger: require('node-media-server/src/core/logger.js') as LoggerModule,
  };
  return loaded;
}

/** The installed node-media-server lacks a member the adapter overrides, or behaves differently. */
export class NmsIncompatibleError extends Error {
  readonly code = 'nms_incompatible';
  constructor(
    readonly version: string,
    readonly problems: string[],
  ) {
    super(
      `node-media-server ${version} is not compatible with modgate's adapter (written for ${NMS_PINNED_VERSION}; ` +
        `gateway/ingest/nms-adapter.ts): ${problems.join('; ')}. Install node-media-server@${NMS_PINNED_VERSION} (npm ci).`,
    );
  }
}

const PARSER_METHODS = [
  'parserData',
  'packetAlloc',
  'controlHandler',
  'invokeHandler',
  'dataHandler',
  'onConnect',
  'onPublish',
  'onPlay',
  'respondPublish',
  'sendStatusMessage',
] as const;
const SESSION_FIELDS = ['run', 'onData', 'onPush', 'onPlay', 'onPacket', 'onClose', 'onError', 'sendBuffer'] as const;
const BROADCAST_FIELDS = ['broadcastMessage', 'postPlay', 'postPublish', 'donePlay', 'donePublish'] as const;
const RELAY_FIELDS = ['rtmpGopCache', 'rtmpMetaData', 'rtmpAudioHeader', 'rtmpVideoHeader'] as const;

const isFn = (o: unknown, k: string) => typeof (o as Record<string, unknown> | null)?.[k] === 'function';

/**
 * Every member the adapter overrides or reads, checked on the given modules: existence and kind, the
 * parser state the limits read, and the contract the relay relies on (postPlay sends metadata, headers
 * and then every message of `rtmpGopCache` to a new player). Returns the problems; none = compatible.
 */
export function checkNms(nms: NmsModules): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  need(isFn(nms.logger, 'log') && typeof nms.logger.level === 'string', 'core/logger.js: log() and level');
  need(nms.Context?.broadcasts instanceof Map, 'core/context.js: broadcasts is not a Map');
  need(nms.Context?.sessions instanceof Map, 'core/context.js: sessions is not a Map');
  need('config' in (nms.Context ?? {}), 'core/context.js: no config');
  for (const m of PARSER_METHODS) need(isFn(nms.Rtmp?.prototype, m), `protocol/rtmp.js: Rtmp.prototype.${m} is not a function`);

  let session: RtmpSessionInstance | null = null;
  try {
    session = new nms.RtmpSession({ remoteAddress: '127.0.0.1', remotePort: 0 } as Socket);
  } catch (err) {
    problems.push(`session/rtmp_session.js: constructor threw (${(err as Error).message})`);
  }
  if (session) {
    for (const m of SESSION_FIELDS) need(isFn(session, m), `session/rtmp_session.js: session.${m} is not a function`);
    const rtmp = session.rtmp as Partial<RtmpParser> | undefined;
    need(rtmp instanceof (nms.Rtmp as unknown as new () => object), 'session/rtmp_session.js: session.rtmp is not a protocol/rtmp.js Rtmp');
    need(typeof rtmp?.parserPacket?.header?.length === 'number', 'protocol/rtmp.js: parserPacket.header.length');
    need(typeof rtmp?.parserPacket?.capacity === 'number', 'protocol/rtmp.js: parserPacket.capacity');
    need(rtmp?.inPackets instanceof Map, 'protocol/rtmp.js: inPackets is not a Map');
    need(typeof rtmp?.inChunkSize === 'number', 'protocol/rtmp.js: inChunkSize');
    need(typeof (rtmp?.parserPacket as { clock?: unknown } | undefined)?.clock === 'number', 'protocol/rtmp.js: parserPacket.clock');
    need(Buffer.isBuffer(rtmp?.parserPacket?.payload), 'protocol/rtmp.js: parserPacket.payload is not a Buffer');
    need(isFn(rtmp, 'onPacketCallback'), 'protocol/rtmp.js: onPacketCallback is not a function');
    need(typeof session.broadcast === 'object' && session.broadcast !== null, 'session/rtmp_session.js: session.broadcast');
  }

  let b: BroadcastServerInstance | null = null;
  try {
    b = new nms.BroadcastServer('');
  } catch (err) {
    problems.push(`server/broadcast_server.js: constructor threw (${(err as Error).message})`);
  }
  if (b) {
    for (const m of BROADCAST_FIELDS) need(isFn(b, m), `server/broadcast_server.js: broadcast.${m} is not a function`);
    for (const m of RELAY_FIELDS) need(m in b, `server/broadcast_server.js: broadcast.${m} is missing`);
    need(b.subscribers instanceof Map, 'server/broadcast_server.js: subscribers is not a Map');
    if (isFn(b, 'postPlay') && isFn(b, 'donePlay') && b.subscribers instanceof Map) {
      // A player joining gets metadata, headers, then the cached GOP, and becomes a subscriber. An empty
      // `ip` marks an internal session: nms emits no events for it and counts no play.
      const sent: string[] = [];
      const probe = { id: 'nms-adapter-probe', ip: '', protocol: 'rtmp', sendBuffer: (buf: Buffer) => sent.push(buf.toString('latin1')) };
      const r = b as BroadcastServerInstance & Record<string, unknown>;
      r.rtmpMetaData = Buffer.from('meta');
      r.rtmpAudioHeader = Buffer.from('audio');
      r.rtmpVideoHeader = Buffer.from('video');
      r.rtmpGopCache = new Set([Buffer.from('gop1'), Buffer.from('gop2')]);
      try {
        const err = (b as unknown as { postPlay(s: unknown): string | null }).postPlay(probe);
        need(err == null, `server/broadcast_server.js: postPlay refused an internal player (${String(err)})`);
        need(
          sent.join(',') === 'meta,audio,video,gop1,gop2',
          `server/broadcast_server.js: postPlay sent [${sent.join(',')}], not metadata, headers, then the GOP cache`,
        );
        need(b.subscribers.get('nms-adapter-probe') === probe, 'server/broadcast_server.js: postPlay did not add the player to subscribers');
        (b as unknown as { donePlay(s: unknown): void }).donePlay({ ...probe, endTime: 0 });
        need(b.subscribers.size === 0, 'server/broadcast_server.js: donePlay did not remove the player');
      } catch (err) {
        problems.push(`server/broadcast_server.js: postPlay/donePlay threw (${(err as Error).message})`);
      }
    }
  }
  return problems;
}

/** The start-up self-check: throws NmsIncompatibleError (code `nms_incompatible`) naming every problem. */
export function assertNmsCompatible(nms: NmsModules = loadNms(), warn?: (message: string) => void): void {
  const problems = checkNms(nms);
  if (problems.length > 0) throw new NmsIncompatibleError(nms.version, problems);
  if (nms.version !== NMS_PINNED_VERSION)
    warn?.(`node-media-server ${nms.version} is installed; the adapter was written for ${NMS_PINNED_VERSION} (its self-check passed)`);
}

/** Routes nms's log lines through `sink` (nms itself prints stream keys to stdout). */
export function routeNmsLog(sink: (level: string, message: string) => void): void {
  const nms = loadNms();
  nms.logger.log = (message: string, level = 'info') => sink(level, message);
  nms.Context.config = nms.Context.config ?? {};
}

/** For tests and benchmarks that run a bare node-media-server: only its problems are printed. */
export function quietNmsLog(): void {
  loadNms().logger.level = 'error';
}

/** nms's live sessions (benchmarks look a bare server's publisher up here). */
export function nmsSessions(): Map<string, unknown> {
  return loadNms().Context.sessions;
}

/** The fields of an RTMP media message (FLV tag) as nms's parser delivers it. */
export interface NmsPacket {
  codec_type: number;
  /** 0 audio config, 1 audio, 2 video config, 3 keyframe, 4 inter frame, 5 metadata. */
  flags: number;
  dts: number;
  /** dts + the message's composition time offset (nms 4.4.3's FLV parser, protocol/flv.js parserTag): the frame's presentation time. */
  pts?: number;
  /** `size` bytes of `data` are the message; `data` may be longer (a reused buffer). */
  size: number;
  data: Buffer;
}

/** What the relay of one accepted publish answers nms's broadcast with. */
export interface BroadcastRelay {
  /** Every media message of the publisher, in order; `subscribers` are the broadcast's players. */
  onMessage(packet: NmsPacket, subscribers: Iterable<RelaySubscriber>, hasSubscribers: boolean): void;
  metaData(): Buffer | null;
  audioHeader(): Buffer | null;
  videoHeader(): Buffer | null;
  /** The current GOP as RTMP messages for a joining player, or null. */
  gop(): Buffer[] | null;
  /** The publish ended (nms clears its caches). */
  clear(): void;
}

export interface RelaySubscriber {
  protocol: string;
  sendBuffer(buffer: Buffer): void;
  /** The player's socket (nms's sessions have one), for corking writes. */
  socket?: { cork(): void; uncork(): void };
}

function installRelay(broadcast: BroadcastServerInstance, relay: BroadcastRelay): void {
  const b = broadcast as BroadcastServerInstance & Record<string, unknown>;
  const subscribers = b.subscribers as Map<string, RelaySubscriber>;
  const cached = (name: string, get: () => Buffer | null) =>
    Object.defineProperty(b, name, {
      configurable: true,
      get,
      // nms sets them to null when a publish finishes.
      set: (v: unknown) => {
        if (v === null) relay.clear();
      },
    });
  cached('rtmpMetaData', () => relay.metaData());
  cached('rtmpAudioHeader', () => relay.audioHeader());
  cached('rtmpVideoHeader', () => relay.videoHeader());
  Object.defineProperty(b, 'rtmpGopCache', {
    configurable: true,
    // A fresh Set per read: nms clears the one it gets when a publish finishes.
    get: () => {
      const gop = relay.gop();
      return gop ? new Set(gop) : null;
    },
    set: () => {},
  });
  b.broadcastMessage = (packet: NmsPacket) => relay.onMessage(packet, subscribers.values(), subscribers.size > 0);
}

export interface ParserLimits {
  /** Largest RTMP message. */
  message: number;
  /** All chunk-stream buffers of the connection together. */
  total: number;
}

export class RtmpGuardError extends Error {}

/** An onStatus sent as a connection ends. */
export interface EndStatus {
  level: 'error' | 'status';
  code: string;
  description: string;
  streamId?: number;
}

export interface NmsConnectionHooks {
  limits(): ParserLimits;
  /** The `connect` command's app: a description to refuse it with (NetConnection.Connect.Rejected), or null. */
  onConnect?(app: string): string | null;
  /** The `publish` command: decide, then call acceptPublish or close. */
  onPublish(): void;
  /** The `play` command: decide, then call acceptPlay or close. */
  onPlay(): void;
  /** A media message of the accepted publisher, after the relay has it. */
  onMedia(packet: NmsPacket): void;
  /** The bytes could not be parsed (or broke a limit); the connection should end. */
  onProtocolError(message: string): void;
  /** The socket closed. */
  onClose(): void;
}

/**
 * One RTMP connection as node-media-server parses it, with every override installed. The caller (the
 * ingest) keeps the policy: who may publish, under which path, and when the connection ends.
 */
export class NmsRtmpConnection {
  private readonly session: RtmpSessionInstance;
  private readonly nms: NmsModules;
  private respondPublish: () => void;
  private publishing = false;
  /** Set once the connection is being closed: nothing more is parsed or relayed. */
  private stopped = false;

  constructor(
    readonly socket: Socket,
    private readonly hooks: NmsConnectionHooks,
    nms: NmsModules = loadNms(),
  ) {
    this.nms = nms;
    const session = new nms.RtmpSession(socket);
    this.session = session;
    const rtmp = session.rtmp;
    // Hold Publish.Start back until the gate has accepted.
    this.respondPublish = rtmp.respondPublish.bind(rtmp);
    rtmp.respondPublish = () => {};
    guardParser(rtmp, hooks.limits);
    const parser = rtmp as RtmpParser & { onConnect(message: { cmdObj?: { app?: unknown } }): void };
    const connect = parser.onConnect.bind(parser);
    parser.onConnect = (message) => {
      const app = typeof message?.cmdObj?.app === 'string' ? message.cmdObj.app : '';
      const refused = hooks.onConnect?.(app) ?? null;
      if (refused === null) return connect(message);
      // SRS answers a refused connect so (SrsRtmpServer::response_connect_reject, srs_protocol_rtmp_stack.cpp).
      this.end({ level: 'error', code: 'NetConnection.Connect.Rejected', description: refused, streamId: 0 }, 2_000);
    };

    this.originalPush = session.onPush;
    session.onPush = () => hooks.onPublish();
    this.originalPlay = session.onPlay;
    session.onPlay = () => {
      this.player = true;
      hooks.onPlay();
    };
    const onData = session.onData;
    session.onData = (data: Buffer) => {
      if (this.stopped) return;
      try {
        onData(data);
      } catch (err) {
        hooks.onProtocolError(String((err as Error)?.message ?? err));
      }
    };
    const onPacket = session.onPacket;
    session.onPacket = (packet: unknown) => {
      if (!this.publishing || this.stopped || !session.isPublisher) return;
      onPacket(packet);
      hooks.onMedia(packet as NmsPacket);
    };
    const onClose = session.onClose;
    session.onClose = () => {
      clearTimeout(this.linger);
      try {
        onClose();
      } catch {
        // nms's own bookkeeping failing must not keep the gateway's end from being recorded.
      }
      hooks.onClose();
    };
    session.onError = () => {};
  }

  private readonly originalPush: () => void;
  private readonly originalPlay: () => void;
  private player = false;
  private linger: NodeJS.Timeout | undefined;

  /** Whether this connection asked to play (rather than publish). */
  get isPlayer(): boolean {
    return this.player;
  }

  /**
   * Sends an onStatus (`level` "error" or "status", a NetStream/NetConnection `code`, a `description`)
   * on the connection's message stream, as nginx-rtmp's ngx_rtmp_send_status does.
   */
  sendStatus(level: 'error' | 'status' | 'warning', code: string, description: string, streamId?: number): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    const rtmp = this.session.rtmp as RtmpParser & {
      streamId?: number;
      sendStatusMessage(sid: number, level: string, code: string, description: string): void;
    };
    try {
      rtmp.sendStatusMessage(streamId ?? (typeof rtmp.streamId === 'number' ? rtmp.streamId : 0), level, code, description);
    } catch {
      // A status that cannot be written changes nothing: the connection is being closed anyway.
    }
  }

  /**
   * Ends the connection with a reason: nothing more is parsed or relayed, the status is written, the
   * socket half-closed (the client reads the status, then sees the end), and destroyed after `lingerMs`
   * if the client has not closed by then.
   */
  end(status: EndStatus | readonly EndStatus[] | null, lingerMs: number): void {
    if (this.stopped && this.linger) return;
    this.stopped = true;
    for (const s of status === null ? [] : Array.isArray(status) ? status : [status as EndStatus]) this.sendStatus(s.level, s.code, s.description, s.streamId);
    this.socket.end();
    this.linger = setTimeout(() => this.socket.destroy(), lingerMs);
    this.linger.unref();
  }

  run(): void {
    this.session.run();
  }

  /** The app of the `connect` command. */
  get app(): string {
    return this.session.streamApp;
  }

  /** The stream name of the `publish`/`play` command (for a publisher: the stream key). */
  get name(): string {
    return typeof this.session.streamName === 'string' ? this.session.streamName : '';
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Nothing more is parsed or relayed from this connection (the socket is being closed). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Accepts the publish under `playPath` with `relay` as its relay: answers NetStream.Publish.Start.
   * Returns false when nms refused it (the path already has a publisher).
   */
  acceptPublish(playPath: string, relay: BroadcastRelay): boolean {
    const s = this.session;
    this.forgetConnectPath();
    s.streamName = playPath.slice(playPath.lastIndexOf('/') + 1);
    s.streamPath = playPath;
    s.broadcast = new this.nms.BroadcastServer(playPath);
    installRelay(s.broadcast, relay);
    this.nms.Context.broadcasts.set(playPath, s.broadcast);
    this.originalPush();
    if (!s.isPublisher) return false;
    this.publishing = true;
    this.respondPublish();
    return true;
  }

  acceptPlay(): void {
    this.originalPlay();
  }

  /** nms registered a broadcast under /<app>/<name> at the command; never leave it behind. */
  forgetConnectPath(): void {
    const s = this.session;
    const b = this.nms.Context.broadcasts.get(s.streamPath);
    if (b && b === s.broadcast && b.publisher === null && b.subscribers.size === 0) this.nms.Context.broadcasts.delete(s.streamPath);
  }
}

/**
 * Bounds what nms's parser may allocate: it trusts the declared message length (up to 16 MiB per chunk
 * stream, before any authentication) and accepts any chunk size, including 0.
 */
function guardParser(rtmp: RtmpParser, limits: () => ParserLimits): void {
  rtmp.packetAlloc = () => {
    const { message, total } = limits();
    const p = rtmp.parserPacket;
    const length = p.header.length;
    if (length > message) throw new RtmpGuardError(`RTMP message of ${length} bytes exceeds the limit of ${message}`);
    if (rtmp.inPackets.size > 64) throw new RtmpGuardError('too many RTMP chunk streams');
    // One reused buffer per chunk stream, as nms does, but unfilled and grown by doubling: no allocation
    // per message. Only `length` bytes of it are ever read (the relay and the video tap copy what they keep).
    const capacity = p.capacity >= length ? p.capacity : Math.min(message, Math.max(length, p.capacity * 2, 4096));
    let sum = capacity - p.capacity;
    for (const q of rtmp.inPackets.values()) sum += q.capacity;
    if (sum > total) throw new RtmpGuardError('RTMP chunk buffers exceed the per-connection limit');
    if (capacity !== p.capacity) {
      p.payload = Buffer.allocUnsafeSlow(capacity);
      p.capacity = capacity;
    }
  };
  // nms's dataHandler makes an AVPacket (and an empty Buffer) per media message; one reused packet per
  // connection carries the same fields. Consumers must not keep it (gateway/ingest/relay.ts copies).
  const packet: NmsPacket & { pts: number } = { codec_type: 0, flags: 0, dts: 0, pts: 0, size: 0, data: Buffer.alloc(0) };
  const parser = rtmp as RtmpParser & { onPacketCallback(p: NmsPacket): void; parserPacket: { clock: number } };
  parser.dataHandler = () => {
    const p = parser.parserPacket;
    packet.codec_type = p.header.type;
    packet.dts = packet.pts = p.clock;
    packet.size = p.header.length;
    packet.data = p.payload;
    packet.flags = tagFlags(p.header.type, p.payload, p.header.length);
    parser.onPacketCallback(packet);
  };
  // One publish or play per connection: a second command would re-register nms's broadcast under the
  // key path and leave the first stream in the registry with no connection behind it.
  const commands = rtmp as RtmpParser & { onPublish(message: unknown): void; onPlay(message: unknown): void };
  let commanded = false;
  for (const name of ['onPublish', 'onPlay'] as const) {
    const original = commands[name].bind(commands);
    commands[name] = (message: unknown) => {
      if (commanded) throw new RtmpGuardError('a second publish or play command on one connection');
      commanded = true;
      original(message);
    };
  }
  const control = rtmp.controlHandler.bind(rtmp);
  rtmp.controlHandler = () => {
    // Set Chunk Size, Acknowledgement, Window Ack Size and Set Peer Bandwidth carry a 4-byte value; a
    // shorter one would read bytes of an earlier message from the reused buffer.
    if (rtmp.parserPacket.header.type !== 2 && rtmp.parserPacket.header.length < 4) throw new RtmpGuardError('RTMP control message too short');
    control();
    const size = rtmp.inChunkSize;
    if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) throw new RtmpGuardError(`invalid RTMP chunk size ${size}`);
  };
}
