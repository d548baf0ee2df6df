import type { Frame } from './frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings } from './frame-classifier.ts';
import { hamming, PDQ_MIN_QUALITY, PdqHasher, type PdqHash } from './pdq.ts';

export interface ReuseOptions {
  /** Reuse while the frame's PDQ hash is within this many bits of the last classified frame's. */
  maxDistance: number;
  /** ... and the last classified frame is at most this old in media time (a bounded staleness). */
  maxAgeMs: number;
  /** Frames whose hash quality is below this are always classified (a flat frame's hash says little). */
  minQuality?: number;
}

export const DEFAULT_REUSE: ReuseOptions = { maxDistance: 8, maxAgeMs: 2_000, minQuality: PDQ_MIN_QUALITY };

interface LastRun {
  hash: PdqHash;
  mediaTimeMs: number;
  seq: number;
  findings: FrameFindings;
}

/** Streams remembered at once; the oldest is forgotten past it. */
const MAX_STREAMS = 10_000;

/**
 * Skips model inference on frames that have not changed: while a stream's frame stays within a few PDQ bits
 * of the last frame the model classified (and that one is recent enough), the model's last findings are
 * reported again for this frame — same scores, this frame's time — instead of running the model. A static
 * scene, a slide, a paused game cost one PDQ hash (~0.7 ms) instead of an inference (~25 ms for MobileNetV2
 * at 224²). The age bound keeps a slowly changing scene from riding on old scores for long.
 */
export class ReuseUnchanged implements FrameClassifier {
  readonly name: string;
  private readonly hasher = new PdqHasher();
  private readonly last = new Map<string, LastRun>();
  readonly stats = { classified: 0, reused: 0 };

  constructor(
    readonly inner: FrameClassifier,
    private readonly opts: ReuseOptions = DEFAULT_REUSE,
  ) {
    this.name = inner.name;
  }

  async classify(frame: Frame, ctx: ClassifyContext): Promise<FrameFindings> {
    const { hash, quality } = frame.luma
      ? this.hasher.fromLuma(frame.luma, frame.width, frame.height)
      : this.hasher.fromRgb(frame.rgb, frame.width, frame.height);
    const prev = this.last.get(frame.streamId);
    const usable = quality >= (this.opts.minQuality ?? PDQ_MIN_QUALITY);
    if (prev && usable) {
      const age = frame.mediaTimeMs - prev.mediaTimeMs;
      const distance = hamming(hash, prev.hash);
      if (age >= 0 && age <= this.opts.maxAgeMs && distance <= this.opts.maxDistance) {
        this.stats.reused++;
        return {
          signals: prev.findings.signals.map((s) => ({
            ...s,
            streamId: frame.streamId,
            frameTimeMs: frame.mediaTimeMs,
            observedAt: ctx.observedAt,
            detail: { ...s.detail, reusedFromSeq: prev.seq },
          })),
          facts: { ...prev.findings.facts, reused: { [this.name]: { fromSeq: prev.seq, distance, ageMs: age } } },
        };
      }
    }
    const findings = await this.inner.classify(frame, ctx);
    this.stats.classified++;
    this.last.delete(frame.streamId);
    if (usable) {
      this.last.set(frame.streamId, { hash, mediaTimeMs: frame.mediaTimeMs, seq: frame.seq, findings });
      if (this.last.size > MAX_STREAMS) this.last.delete(this.last.keys().next().value!);
    }
    return findings;
  }

  /** The stream ended: its last findings (the copy descriptor among the facts) go at once. */
  end(streamId: string): void {
    this.last.delete(streamId);
    this.inner.end?.(streamId);
  }

  /** Streams whose last run is remembered (tests). */
  get size(): number {
    return this.last.size;
  }
}
