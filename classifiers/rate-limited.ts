import type { Frame } from './frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings } from './frame-classifier.ts';

/**
 * A classifier run on at most `fps` frames per second of each stream's media time: the first frame of
 * every 1/fps slot, as the sampler's own rate selection does (gateway/sampler/args.ts). The sampler then
 * delivers frames at the hash rate (PDQ costs ~0.7 ms a frame, so a banked picture is caught within a frame
 * or two of appearing) while each model keeps its own, lower rate (~25 ms a frame for MobileNetV2).
 * Frames between slots get no findings from the wrapped classifier; the stage sees an empty result, not
 * an error, so nothing counts as a failed classification.
 */
export class RateLimited implements FrameClassifier {
  readonly name: string;
  private readonly lastSlot = new Map<string, number>();
  readonly stats = { passed: 0, skipped: 0 };

  constructor(
    readonly inner: FrameClassifier,
    readonly fps: number,
    /** Streams remembered at once; the oldest is forgotten past it (a forgotten stream's next frame runs). */
    private readonly maxStreams = 10_000,
  ) {
    if (!(fps > 0)) throw new RangeError(`fps must be > 0, got ${fps}`);
    this.name = inner.name;
  }

  classify(frame: Frame, ctx: ClassifyContext): FrameFindings | Promise<FrameFindings> {
    const slot = Math.floor((frame.mediaTimeMs / 1000) * this.fps);
    // Any other slot runs, a later one or an earlier one (the stream's clock went back).
    if (this.lastSlot.get(frame.streamId) === slot) {
      this.stats.skipped++;
      return { signals: [] };
    }
    this.lastSlot.delete(frame.streamId);
    this.lastSlot.set(frame.streamId, slot);
    if (this.lastSlot.size > this.maxStreams) this.lastSlot.delete(this.lastSlot.keys().next().value!);
    this.stats.passed++;
    return this.inner.classify(frame, ctx);
  }

  end(streamId: string): void {
    this.lastSlot.delete(streamId);
    this.inner.end?.(streamId);
  }

  /** Streams whose last slot is remembered (tests). */
  get size(): number {
    return this.lastSlot.size;
  }
}
