import { createRequire } from 'node:module';
import type { BroadcastServerInstance } from 'node-media-server/src/server/broadcast_server.js';

const require = createRequire(import.meta.url);
const Rtmp = require('node-media-server/src/protocol/rtmp.js') as { createMessage(packet: RelayPacket): Buffer };

/** The fields of node-media-server's AVPacket the relay reads. */
export interface RelayPacket {
  codec_type: number;
  flags: number;
  dts: number;
  size: number;
  data: Buffer;
}

interface Subscriber {
  protocol: string;
  sendBuffer(buffer: Buffer): void;
}

/**
 * The packet as the GOP cache keeps it. Its payload is not copied: the ingest's parser allocates a fresh
 * buffer per message (gateway/ingest/rtmp.ts, guardParser), so nothing overwrites it later.
 */
function keep(p: RelayPacket): RelayPacket {
  return { codec_type: p.codec_type, flags: p.flags, dts: p.dts, size: p.size, data: p.data };
}

/** node-media-server caps its GOP cache at this many messages. */
const MAX_GOP_PACKETS = 4096;

/**
 * The relay of one accepted publish, replacing node-media-server's `BroadcastServer.broadcastMessage`.
 *
 * node-media-server serializes every packet twice as it arrives — an HTTP-FLV tag and an RTMP chunk
 * stream, each into a fresh zero-filled buffer, for its GOP caches — whether or not anyone plays the
 * stream. Profiled at 40 streams that was ~18 % of the gateway's main thread plus most of its GC.
 * modgate serves no HTTP-FLV, and most streams have no player most of the time, so here:
 *  - packets go out as RTMP chunks only when there are subscribers (one serialization for all of them);
 *  - the GOP cache keeps the packets themselves and serializes them only when a player (or a full-rate
 *    sampler) joins and reads `rtmpGopCache`.
 * What a player receives is unchanged: sequence headers and metadata first, then the cached GOP, then
 * live packets (node-media-server's own postPlay does that, reading the fields set here).
 */
export function installLazyRelay(broadcast: BroadcastServerInstance): void {
  const b = broadcast as BroadcastServerInstance & {
    broadcastMessage: (packet: RelayPacket) => void;
    rtmpMetaData: Buffer | null;
    rtmpAudioHeader: Buffer | null;
    rtmpVideoHeader: Buffer | null;
  };
  let gop: RelayPacket[] | null = null;
  // node-media-server's postPlay reads the cache twice (a null check, then forEach): serialize once per
  // GOP state, not per read.
  let serialized: { of: RelayPacket[]; length: number; messages: Buffer[] } | null = null;
  Object.defineProperty(b, 'rtmpGopCache', {
    configurable: true,
    get: () => {
      if (!gop) return null;
      if (!serialized || serialized.of !== gop || serialized.length !== gop.length) {
        serialized = { of: gop, length: gop.length, messages: gop.map((p) => Rtmp.createMessage(p)) };
      }
      // A fresh Set each read: node-media-server clears the one it gets when a publish finishes.
      return new Set(serialized.messages);
    },
    // node-media-server clears/replaces it when a publish finishes; the packets go with the broadcast.
    set: () => {},
  });
  b.broadcastMessage = (packet: RelayPacket) => {
    switch (packet.flags) {
      case 0:
        b.rtmpAudioHeader = Rtmp.createMessage(packet);
        break;
      case 2:
        b.rtmpVideoHeader = Rtmp.createMessage(packet);
        break;
      case 5:
        b.rtmpMetaData = Rtmp.createMessage(packet);
        break;
      case 3:
        gop = [keep(packet)];
        serialized = null;
        break;
      case 1:
      case 4:
        if (gop) {
          if (gop.length >= MAX_GOP_PACKETS) gop = null;
          else gop.push(keep(packet));
        }
        break;
    }
    if (b.subscribers.size === 0) return;
    let message: Buffer | null = null;
    for (const s of b.subscribers.values() as IterableIterator<Subscriber>) {
      if (s.protocol !== 'rtmp') continue;
      message ??= Rtmp.createMessage(packet);
      s.sendBuffer(message);
    }
  };
}
