/**
 * The ONNX stage as the rest of modgate sees it: a frame in, validated Signals out. Thin on purpose — the
 * pool does the work; this only stamps stream/time/version/evidence onto the manifest's signal mappings.
 */
import type { Frame } from '../frame.ts';
import { SignalSchema, type Signal } from '../signal.ts';
import { OnnxPool, type ClassifyResult, type PoolOptions } from './pool.ts';

/** Builds the Signals for one frame from a pool result. Validated, so a bad mapping fails loudly here. */
export function toSignals(frame: Pick<Frame, 'streamId' | 'mediaTimeMs'>, result: ClassifyResult, evidenceRef: string | null, observedAt: number, model?: string): Signal[] {
  return result.signals.map((s) =>
    SignalSchema.parse({
      streamId: frame.streamId,
      frameTimeMs: frame.mediaTimeMs,
      observedAt: Math.round(observedAt),
      source: s.source,
      label: s.label,
      score: s.score,
      version: result.version,
      evidenceRef,
      detail: { ...(model ? { model } : {}), inferenceMs: Math.round(result.inferenceMs * 100) / 100, batchSize: result.batchSize },
    }),
  );
}

export class OnnxClassifier {
  private constructor(readonly pool: OnnxPool) {}

  static async open(opts: PoolOptions): Promise<OnnxClassifier> {
    return new OnnxClassifier(await OnnxPool.create(opts));
  }

  static fromPool(pool: OnnxPool): OnnxClassifier {
    return new OnnxClassifier(pool);
  }

  get name(): string {
    return this.pool.manifest.name;
  }

  get version(): string {
    return this.pool.manifest.version;
  }

  /**
   * Classifies a frame and returns its Signals plus the raw result (per-label scores for the evidence
   * record). Rejects with QueueFullError when the frame was dropped under load.
   */
  async classify(frame: Frame, evidenceRef: string | null): Promise<{ signals: Signal[]; result: ClassifyResult }> {
    const result = await this.pool.classify(frame);
    return { signals: toSignals(frame, result, evidenceRef, Date.now(), this.pool.manifest.name), result };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
