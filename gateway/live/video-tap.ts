import { ArrivalIndex } from './arrivals.ts';
import { Tap } from './tap.ts';

/**
 * Fan-out of an RTMP publisher's video messages (FLV video tag bodies, as node-media-server parsed them)
 * to in-process consumers: the shared keyframe decoder reads keyframes here instead of pulling the whole
 * stream back over RTMP through its own ffmpeg (gateway/sampler/keyframe-sampler.ts).
 *
 * Producers build packets only while someone consumes (`hasConsumers`), except the sequence header.
 * Only the latest sequence header is kept, so a consumer that subscribes mid-stream can start at the next
 * keyframe. Consumers run synchronously on the ingest path: they must be cheap and must not throw (a
 * throwing consumer is dropped, never the publisher).
 */

export type VideoPacketKind = 'config' | 'key' | 'inter';

export interface VideoPacket {
  kind: VideoPacketKind;
  /** Decode timestamp, ms, from the publisher's RTMP clock. */
  dts: number;
  /** The FLV video tag body: codec byte(s), then the codec's payload. Consumers must not modify it. */
  body: Buffer;
  /** Wall-clock arrival at the gateway (epoch ms). */
  receivedAt: number;
}

export class VideoTap extends Tap<VideoPacket> {
  /** The latest sequence header (decoder configuration), if any. */
  config: VideoPacket | null = null;
  packets = 0;
  /**
   * Decode timestamp (publisher's clock, ms) of the newest video message received, consumers or not: how far
   * a sampler's decoder is behind live (gateway/sampler/shedding.ts). Set by the ingest for every message.
   */
  lastDts: number | null = null;
  /** When each recent video message arrived, by timestamp (set by the ingest for every message, consumers or not). */
  readonly arrivals = new ArrivalIndex();

  push(p: VideoPacket): void {
    if (this.isEnded) return;
    this.packets++;
    if (p.kind === 'config') {
      this.config = { ...p, body: Buffer.from(p.body) };
      this.fanOut(this.config);
      return;
    }
    this.fanOut(p);
  }

  protected override replay(): VideoPacket | null {
    return this.config;
  }
}
