// Minimal declarations for the parts of node-media-server 4.4.3 modgate uses (the package ships no types,
// and @types/node-media-server describes the unmaintained 2.x API).
declare module 'node-media-server/src/core/context.js' {
  import type { EventEmitter } from 'node:events';
  const Context: {
    config: Record<string, unknown>;
    sessions: Map<string, unknown>;
    broadcasts: Map<string, import('node-media-server/src/server/broadcast_server.js').BroadcastServerInstance>;
    eventEmitter: EventEmitter;
    networkStats: { inBytes: number; outBytes: number };
  };
  export = Context;
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log(message: string, level?: string): void };
  export = logger;
}

declare module 'node-media-server/src/server/broadcast_server.js' {
  export interface BroadcastServerInstance {
    streamPath: string;
    publisher: unknown;
    subscribers: Map<string, unknown>;
  }
  const BroadcastServer: new (streamPath: string) => BroadcastServerInstance;
  export = BroadcastServer;
}

declare module 'node-media-server/src/session/rtmp_session.js' {
  import type { Socket } from 'node:net';
  import type { BroadcastServerInstance } from 'node-media-server/src/server/broadcast_server.js';
  export interface RtmpParser {
    inChunkSize: number;
    inPackets: Map<number, { capacity: number; header: { length: number } }>;
    parserPacket: { header: { length: number; type: number }; capacity: number; payload: Buffer; clock: number };
    packetAlloc(): void;
    dataHandler(): void;
    controlHandler(): void;
    respondPublish(): void;
  }
  export interface RtmpSessionInstance {
    id: string;
    ip: string;
    socket: Socket;
    rtmp: RtmpParser;
    isPublisher: boolean;
    streamApp: string;
    streamName: string;
    streamPath: string;
    broadcast: BroadcastServerInstance;
    inBytes: number;
    run(): void;
    onPush: () => void;
    onPlay: () => void;
    onPacket: (packet: unknown) => void;
    onData: (data: Buffer) => void;
    onClose: () => void;
    onError: (err: Error) => void;
  }
  const RtmpSession: new (socket: Socket) => RtmpSessionInstance;
  export = RtmpSession;
}
