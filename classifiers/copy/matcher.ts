import type { Frame } from '../frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from '../frame-classifier.ts';
import type { FrameInference } from '../onnx/shared-inference.ts';
import type { CopyLookup } from './bank-index.ts';
import { descriptorText, type Whitening } from './whitening.ts';

export const COPY_MATCH_SOURCE = 'copy_match';
/** The label of a model frame on which nothing banked was found. */
export const NO_COPY_MATCH = 'none';

export interface CopyMatcherOptions {
  /**
   * Matches below this cosine similarity are not reported at all (the policy's `minScore` decides what a
   * reported one does). Kept under the policy's thresholds so review rules can see near misses.
   */
  reportFloor: number;
  /** Most matches reported per frame. */
  maxMatches: number;
}

export const DEFAULT_COPY_MATCHER: CopyMatcherOptions = { reportFloor: 0.5, maxMatches: 4 };

/**
 * The learned copy descriptor beside PDQ, for what no hash survives (a caption over the picture, a heavy
 * crop, a picture-in-picture, re-filming): the frame's backbone embedding — taken from the same forward
 * pass as the nsfw model's scores (SharedInference) — whitened (classifiers/copy/whitening.ts) and
 * compared by cosine with every banked descriptor (exact scan). One `copy_match` signal per matched banked
 * content: label = the bank's category, score = the cosine similarity, the bank and entry in `detail`.
 * The frame's descriptor goes into its evidence facts (`copy`), so a confirmed decision can bank it.
 * A frame with no match reports one `none` signal at score 0 (see below).
 * Runs at the models' rate (wrap it in RateLimited): it costs no inference, but it has no result without one.
 */
export class CopyMatcher implements FrameClassifier {
  readonly name = 'copy';
  readonly stats = { frames: 0, matches: 0, scanMs: 0 };

  constructor(
    private readonly inference: FrameInference,
    private readonly whitening: Whitening,
    private readonly banks: CopyLookup,
    private readonly opts: CopyMatcherOptions = DEFAULT_COPY_MATCHER,
  ) {}

  async classify(frame: Frame, ctx: ClassifyContext): Promise<FrameFindings> {
    const result = await this.inference.classify(frame);
    if (!result.embedding) throw new Error('copy descriptor: the model returned no embedding (create its pool with embeddings: true)');
    this.stats.frames++;
    const t0 = performance.now();
    const d = this.whitening.apply(result.embedding);
    const found = this.banks.match(d, this.opts.reportFloor, this.opts.maxMatches);
    this.stats.scanMs += performance.now() - t0;
    this.stats.matches += found.length;
    const version = `copy:${this.whitening.id}@banks${this.banks.revision}`;
    const signals = found.map((m): FrameSignal => ({
      streamId: frame.streamId,
      frameTimeMs: frame.mediaTimeMs,
      observedAt: ctx.observedAt,
      source: COPY_MATCH_SOURCE,
      label: m.category,
      score: Math.min(1, Math.max(0, m.similarity)),
      version,
      detail: {
        bank: m.bank,
        entryId: m.entryId,
        descriptorEntryId: m.descriptorEntryId,
        entryRegion: m.region,
        severity: m.severity,
        similarity: Math.round(m.similarity * 10_000) / 10_000,
      },
    }));
    // A frame with no match still reports (label `none`, score 0), so a policy's k-of-n window counts the
    // model's frames, not only its matches: two look-alike frames a minute apart are not "2 of 3".
    // Only while something is banked: with no descriptor there is nothing to count towards.
    if (signals.length === 0 && this.banks.size > 0)
      signals.push({
        streamId: frame.streamId,
        frameTimeMs: frame.mediaTimeMs,
        observedAt: ctx.observedAt,
        source: COPY_MATCH_SOURCE,
        label: NO_COPY_MATCH,
        score: 0,
        version,
      });
    return {
      signals,
      facts: {
        copy: {
          whitening: this.whitening.id,
          descriptor: descriptorText(this.whitening.id, d),
          matches: found.map((m) => ({ bank: m.bank, entryId: m.entryId, region: m.region, similarity: Math.round(m.similarity * 10_000) / 10_000 })),
        },
      },
    };
  }
}
