import type { Frame } from './frame.ts';
import type { HashMatcher } from './hash-matcher.ts';
import type { OnnxClassifier } from './onnx/classifier.ts';
import { toSignals } from './onnx/classifier.ts';
import type { ClassifyResult } from './onnx/pool.ts';
import type { Signal } from './signal.ts';

/** Where a frame's evidence goes (gateway/evidence/store.ts); null when nothing is kept. */
export type EvidenceSink = (frame: Frame, facts: Record<string, unknown>) => Promise<string | null>;

export interface StageOptions {
  /** Frames with any classifier score at or above this (or any hash match) keep a thumbnail as evidence. */
  evidenceFloor: number;
}

/**
 * Every classifier run on one frame: the PDQ bank lookup (synchronous, cheap) and the ONNX models (in
 * worker threads). Returns the frame's Signals; a classifier that fails or drops the frame under load is
 * counted and simply produces none (the policy's stall rules notice a source that stays silent).
 */
export class ClassifierStage {
  readonly stats = { frames: 0, classifierErrors: 0, evidence: 0 };

  constructor(
    private readonly matcher: HashMatcher | null,
    private readonly models: readonly OnnxClassifier[],
    private readonly evidence: EvidenceSink | null,
    private readonly opts: StageOptions,
    private readonly onError: (err: unknown, classifier: string) => void = () => {},
  ) {}

  async process(frame: Frame): Promise<Signal[]> {
    this.stats.frames++;
    const observedAt = Date.now();
    const hash = this.matcher ? this.matcher.matchFrame(frame, observedAt) : null;
    const results = await Promise.all(
      this.models.map((m) =>
        m.pool.classify(frame).then(
          (r): [OnnxClassifier, ClassifyResult] | null => [m, r],
          (err) => {
            this.stats.classifierErrors++;
            this.onError(err, m.name);
            return null;
          },
        ),
      ),
    );
    const ok = results.filter((r): r is [OnnxClassifier, ClassifyResult] => r !== null);
    const worth = (hash?.matches.length ?? 0) > 0 || ok.some(([, r]) => r.signals.some((s) => s.score >= this.opts.evidenceFloor));
    let ref: string | null = null;
    if (worth && this.evidence) {
      ref = await this.evidence(frame, {
        pdq: hash ? { hash: hash.hash, quality: hash.quality } : null,
        matches: hash?.matches.map((m) => m.match) ?? [],
        scores: Object.fromEntries(ok.map(([m, r]) => [m.name, r.scores])),
      }).catch((err) => {
        this.onError(err, 'evidence');
        return null;
      });
      if (ref) this.stats.evidence++;
    }
    const signals: Signal[] = (hash?.matches ?? []).map((m) => ({ ...m, evidenceRef: ref }));
    for (const [m, r] of ok) signals.push(...toSignals(frame, r, ref, observedAt, m.name));
    return signals;
  }
}
