/**
 * An ONNX model as a FrameClassifier: a frame in, its Signals and per-label scores out. Thin on purpose —
 * the pool does the work; this only stamps stream/time/version onto the manifest's signal mappings.
 */
import type { Frame } from '../frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from '../frame-classifier.ts';
import { OnnxPool, type ClassifyResult, type PoolOptions } from './pool.ts';
import type { FrameInference } from './shared-inference.ts';

/** Builds the Signals for one frame from a pool result (the stage validates them and adds the evidence ref). */
export function toSignals(frame: Pick<Frame, 'streamId' | 'mediaTimeMs'>, result: ClassifyResult, observedAt: number, model?: string): FrameSignal[] {
  return result.signals.map((s) => ({
    streamId: frame.streamId,
    frameTimeMs: frame.mediaTimeMs,
    observedAt: Math.round(observedAt),
    source: s.source,
    label: s.label,
    score: s.score,
    version: result.version,
    detail: { ...(model ? { model } : {}), inferenceMs: Math.round(result.inferenceMs * 100) / 100, batchSize: result.batchSize },
  }));
}

export class OnnxClassifier implements FrameClassifier {
  private constructor(
    readonly pool: OnnxPool,
    /** Where results come from: the pool itself, or a SharedInference over it (one pass for several classifiers). */
    private readonly inference: FrameInference = pool,
  ) {}

  static async open(opts: PoolOptions): Promise<OnnxClassifier> {
    return new OnnxClassifier(await OnnxPool.create(opts));
  }

  static fromPool(pool: OnnxPool, inference?: FrameInference): OnnxClassifier {
    return new OnnxClassifier(pool, inference ?? pool);
  }

  get name(): string {
    return this.pool.manifest.name;
  }

  get version(): string {
    return this.pool.manifest.version;
  }

  /**
   * Classifies a frame: its Signals, and the per-label scores as evidence facts (`scores.<model name>`).
   * Rejects with QueueFullError when the frame was dropped under load.
   */
  async classify(frame: Frame, ctx: ClassifyContext): Promise<FrameFindings> {
    const result = await this.inference.classify(frame);
    return { signals: toSignals(frame, result, ctx.observedAt, this.name), facts: { scores: { [this.name]: result.scores } } };
  }

  end(streamId: string): void {
    this.inference.end?.(streamId);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
