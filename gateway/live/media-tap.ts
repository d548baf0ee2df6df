import { ArrivalIndex } from './arrivals.ts';
import { Tap } from './tap.ts';

/**
 * Fan-out of a WebSocket publisher's media chunks to in-process consumers (the sampler's ffmpeg stdin).
 * The first chunk holds the container header (the ingest joins a header split across messages into it) (WebM EBML + tracks, or the MP4 init segment); it is kept so
 * a consumer that (re)starts mid-stream can be fed the header before the live chunks.
 */
export class MediaTap extends Tap<Buffer> {
  header: Buffer | null = null;
  /**
   * When each video block arrived, by presentation time (WebM only: the ingest reads block times,
   * gateway/ingest/webm-times.ts; an MP4 stream's are not read, so its time to cut runs from decoding).
   */
  readonly arrivals: ArrivalIndex | null;

  constructor(readonly container: 'webm' | 'mp4') {
    super();
    this.arrivals = container === 'webm' ? new ArrivalIndex() : null;
  }

  push(chunk: Buffer): void {
    if (this.isEnded) return;
    if (this.header === null) this.header = chunk;
    this.fanOut(chunk);
  }

  protected override replay(): Buffer | null {
    return this.header;
  }
}
