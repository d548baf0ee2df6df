import type { Frame } from '../frame.ts';
import type { ClassifyResult, OnnxPool } from './pool.ts';

/** What a classifier needs to get a model's result for a frame. */
export interface FrameInference {
  classify(frame: Frame): Promise<ClassifyResult>;
  /** The stream ended: forget what is kept for it. */
  end?(streamId: string): void;
}

/** Streams whose last frame is remembered at once; the oldest is forgotten past it. */
const MAX_STREAMS = 10_000;

/**
 * One forward pass per frame for every classifier that reads the same model: the nsfw scores and the copy
 * descriptor's embedding (classifiers/copy) come out of the same MobileNetV2 run, so the descriptor adds
 * no inference — only its whitening and the bank scan. The first caller for a frame starts the pool's
 * classify; a second caller for the same frame (same stream, sequence number and pixel buffer) shares its
 * promise. Only each stream's latest frame is remembered: frames of a stream are classified in order.
 */
export class SharedInference implements FrameInference {
  private readonly last = new Map<string, { seq: number; rgb: Buffer; result: Promise<ClassifyResult> }>();
  readonly stats = { runs: 0, shared: 0 };

  constructor(readonly pool: OnnxPool) {}

  classify(frame: Frame): Promise<ClassifyResult> {
    const prev = this.last.get(frame.streamId);
    if (prev && prev.seq === frame.seq && prev.rgb === frame.rgb) {
      this.stats.shared++;
      return prev.result;
    }
    this.stats.runs++;
    const result = this.pool.classify(frame);
    this.last.delete(frame.streamId);
    this.last.set(frame.streamId, { seq: frame.seq, rgb: frame.rgb, result });
    if (this.last.size > MAX_STREAMS) this.last.delete(this.last.keys().next().value!);
    // A rejected run (queue full) is reported to each caller; nothing is left unhandled here.
    result.catch(() => undefined);
    return result;
  }

  /** The stream ended: its last frame (a whole RGB picture) is not kept until 10,000 other streams pushed it out. */
  end(streamId: string): void {
    this.last.delete(streamId);
  }

  /** Streams whose last frame is remembered (tests). */
  get size(): number {
    return this.last.size;
  }
}
