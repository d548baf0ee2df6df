import type { BroadcastRelay, NmsPacket, RelaySubscriber } from './nms-adapter.ts';
import { rtmpMessage } from './rtmp-chunks.ts';

/** Default bound of one stream's GOP cache: a 10 s GOP at 6 Mbit/s is 7.5 MB. */
export const DEFAULT_MAX_GOP_BYTES = 8 * 1024 * 1024;
/** node-media-server's own cap, in messages, kept as a second bound. */
const MAX_GOP_MESSAGES = 4096;

/**
 * Writes to players are held for at most FLUSH_MS and then go out together, one writev per player
 * instead of one write(2) per message: profiled at 10 streams with one player each, the per-message
 * writes were ~55 % of the relay's busy time (scripts/bench/relay-profile.ts). One timer serves every
 * relay of the process. 10 ms is a third of a frame at 30 fps, well inside any player's buffer.
 */
export const FLUSH_MS = 10;
type Corkable = { cork(): void; uncork(): void };
const corked = new Set<Corkable>();
let flushTimer: NodeJS.Timeout | null = null;

function flush(): void {
  flushTimer = null;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

function corkUntilFlush(socket: Corkable): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

/**
 * The relay of one accepted publish (node-media-server's `broadcastMessage`, replaced through the
 * adapter). Measured against nginx-rtmp (BENCHMARKS.md, "Relay"), nms's own relay spent most of its time
 * allocating: two serializations of every packet (HTTP-FLV and RTMP) into fresh zero-filled buffers, a
 * Set entry per GOP packet, unbounded except by count. Here:
 *  - a message is serialized once, into one unfilled buffer, and only when the stream has players;
 *  - the GOP cache is one arena per stream (payload bytes copied in, grown by doubling, bounded by
 *    `maxGopBytes`; a GOP that outgrows it is not cached, as nms does past 4096 messages) with typed-array
 *    indexes: no object per packet, nothing for the GC to trace;
 *  - the cache is serialized only when a player joins, once per GOP state;
 *  - writes to players are coalesced (FLUSH_MS above).
 * The packet handed in is the ingest's reused one: nothing here keeps a reference to it or its buffer.
 */
export class Relay implements BroadcastRelay {
  private meta: Buffer | null = null;
  private audio: Buffer | null = null;
  private video: Buffer | null = null;

  private arena: Buffer = Buffer.alloc(0);
  private used = 0;
  private count = 0;
  private valid = false;
  private generation = 0;
  private offsets = new Uint32Array(64);
  private sizes = new Uint32Array(64);
  private stamps = new Float64Array(64);
  private types = new Uint8Array(64);
  private serialized: { generation: number; count: number; messages: Buffer[] } | null = null;

  constructor(private readonly maxGopBytes = DEFAULT_MAX_GOP_BYTES) {}

  onMessage(p: NmsPacket, subscribers: Iterable<RelaySubscriber>, hasSubscribers: boolean): void {
    // Audio, video and AMF0 data only (nms would send an AMF3 data message on chunk stream 0).
    if (p.codec_type !== 8 && p.codec_type !== 9 && p.codec_type !== 18) return;
    switch (p.flags) {
      case 0:
        this.audio = rtmpMessage(p.codec_type, p.dts, p.data, 0, p.size);
        break;
      case 2:
        this.video = rtmpMessage(p.codec_type, p.dts, p.data, 0, p.size);
        break;
      case 5:
        this.meta = rtmpMessage(p.codec_type, p.dts, p.data, 0, p.size);
        break;
      case 3:
        this.generation++;
        this.used = 0;
        this.count = 0;
        this.valid = true;
        this.keep(p);
        break;
      case 1:
      case 4:
        if (this.valid) this.keep(p);
        break;
    }
    if (!hasSubscribers) return;
    let message: Buffer | null = null;
    for (const s of subscribers) {
      if (s.protocol !== 'rtmp') continue;
      message ??= rtmpMessage(p.codec_type, p.dts, p.data, 0, p.size);
      if (s.socket) corkUntilFlush(s.socket);
      s.sendBuffer(message);
    }
  }

  private keep(p: NmsPacket): void {
    const end = this.used + p.size;
    if (end > this.maxGopBytes || this.count >= MAX_GOP_MESSAGES) {
      this.valid = false;
      this.count = 0;
      this.used = 0;
      return;
    }
    if (end > this.arena.length) {
      const grown = Buffer.allocUnsafeSlow(Math.min(this.maxGopBytes, Math.max(end, this.arena.length * 2, 64 * 1024)));
      this.arena.copy(grown, 0, 0, this.used);
      this.arena = grown;
    }
    if (this.count === this.offsets.length) this.growIndex();
    p.data.copy(this.arena, this.used, 0, p.size);
    const i = this.count++;
    this.offsets[i] = this.used;
    this.sizes[i] = p.size;
    this.stamps[i] = p.dts;
    this.types[i] = p.codec_type;
    this.used = end;
  }

  private growIndex(): void {
    const n = this.offsets.length * 2;
    const grow = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets, (k) => new Uint32Array(k));
    this.sizes = grow(this.sizes, (k) => new Uint32Array(k));
    this.stamps = grow(this.stamps, (k) => new Float64Array(k));
    this.types = grow(this.types, (k) => new Uint8Array(k));
  }

  metaData(): Buffer | null {
    return this.meta;
  }

  audioHeader(): Buffer | null {
    return this.audio;
  }

  videoHeader(): Buffer | null {
    return this.video;
  }

  /** Bytes the GOP cache holds (its arena may be larger: it keeps its size for the next GOP). */
  get gopBytes(): number {
    return this.valid ? this.used : 0;
  }

  gop(): Buffer[] | null {
    if (!this.valid || this.count === 0) return null;
    // nms's postPlay reads the cache twice (a null check, then forEach): serialize once per GOP state.
    const s = this.serialized;
    if (s && s.generation === this.generation && s.count === this.count) return s.messages;
    const messages: Buffer[] = [];
    for (let i = 0; i < this.count; i++) messages.push(rtmpMessage(this.types[i]!, this.stamps[i]!, this.arena, this.offsets[i]!, this.sizes[i]!));
    this.serialized = { generation: this.generation, count: this.count, messages };
    return messages;
  }

  clear(): void {
    this.meta = this.audio = this.video = null;
    this.valid = false;
    this.count = this.used = 0;
    this.serialized = null;
    this.arena = Buffer.alloc(0);
  }
}
