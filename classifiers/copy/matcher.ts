import type { Frame } from '../frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from '../frame-classifier.ts';
import type { FrameInference } from '../onnx/shared-inference.ts';
import { frameInner, frameTrim } from '../frame-geometry.ts';
import { cropImage, isWhole, type Rect } from '../regions.ts';
import type { CopyLookup, CopyMatch } from './bank-index.ts';
import type { Picture } from './picture.ts';
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
  /**
   * Views described besides the whole frame, each one more forward pass on the frames that have it:
   * `trimmed`, the picture inside uniform borders (a portrait, letterboxed or pillarboxed stream);
   * `inner`, a picture-in-picture / screen region found by its edges (classifiers/frame-geometry.ts, shared
   * with PDQ's region hashing). The whole frame's descriptor alone describes the bars or the background too.
   */
  views: { trimmed: boolean; inner: boolean };
}

export const DEFAULT_COPY_MATCHER: CopyMatcherOptions = { reportFloor: 0.5, maxMatches: 4, views: { trimmed: true, inner: true } };

/** Embeddings of a crop of the frame (a forward pass of its own: the pool, not the shared per-frame run). */
export type ViewEmbedder = (picture: Picture) => Promise<Float32Array>;

/** Live views smaller than this on either side are not described (a sliver says nothing about content). */
const MIN_VIEW_SIDE = 64;

/** The views of a live frame besides the whole frame: inside its borders, and its picture-in-picture. */
export function liveCopyViews(img: Picture, views: CopyMatcherOptions['views']): Array<{ region: 'trimmed' | 'inner'; rect: Rect }> {
  const out: Array<{ region: 'trimmed' | 'inner'; rect: Rect }> = [];
  const image = { rgb: img.rgb, width: img.width, height: img.height };
  if (views.trimmed) {
    const trim = frameTrim(image);
    if (!isWhole(trim, image) && trim.w >= MIN_VIEW_SIDE && trim.h >= MIN_VIEW_SIDE) out.push({ region: 'trimmed', rect: trim });
  }
  if (views.inner) {
    const inner = frameInner(image);
    if (inner && inner.w >= MIN_VIEW_SIDE && inner.h >= MIN_VIEW_SIDE) out.push({ region: 'inner', rect: inner });
  }
  return out;
}

/**
 * The learned copy descriptor beside PDQ, for what no hash survives (a caption over the picture, a heavy
 * crop, a picture-in-picture, re-filming): the frame's backbone embedding — taken from the same forward
 * pass as the nsfw model's scores (SharedInference) — whitened (classifiers/copy/whitening.ts) and
 * compared by cosine with every banked descriptor (exact scan). One `copy_match` signal per matched banked
 * content: label = the bank's category, score = the cosine similarity, the bank, its category and the entry
 * in `detail` (a policy rule's `bank` / `category` filters read them there).
 * With `embedView`, while anything is banked, the picture inside the frame's uniform borders and its
 * picture-in-picture are described too (one forward pass each, only on the frames that have one); the best
 * view per content is reported, `detail.region` naming it when it is not the whole frame.
 * The frame's descriptor goes into its evidence facts (`copy`), so a confirmed decision can bank it.
 * A frame with no match reports one `none` signal at score 0 (see below).
 * Runs at the models' rate (wrap it in RateLimited): the whole frame costs no inference of its own, but it
 * has no result without the model's.
 */
export class CopyMatcher implements FrameClassifier {
  readonly name = 'copy';
  readonly stats = { frames: 0, matches: 0, scanMs: 0, views: 0, viewsFailed: 0 };

  constructor(
    private readonly inference: FrameInference,
    private readonly whitening: Whitening,
    private readonly banks: CopyLookup,
    private readonly opts: CopyMatcherOptions = DEFAULT_COPY_MATCHER,
    /** Without it only the whole frame is described (its embedding comes from the shared pass). */
    private readonly embedView?: ViewEmbedder,
  ) {}

  end(streamId: string): void {
    this.inference.end?.(streamId);
  }

  async classify(frame: Frame, ctx: ClassifyContext): Promise<FrameFindings> {
    const result = await this.inference.classify(frame);
    if (!result.embedding) throw new Error('copy descriptor: the model returned no embedding (create its pool with embeddings: true)');
    this.stats.frames++;
    const t0 = performance.now();
    const d = this.whitening.apply(result.embedding);
    // Best match per banked content over the frame's views; `region` says which view of the frame it was.
    const best = new Map<string, CopyMatch & { view: string }>();
    const add = (found: CopyMatch[], view: string) => {
      for (const m of found) {
        const key = `${m.bank}\u0000${m.entryId}`;
        const prev = best.get(key);
        if (!prev || m.similarity > prev.similarity) best.set(key, { ...m, view });
      }
    };
    add(this.banks.match(d, this.opts.reportFloor, this.opts.maxMatches), 'full');
    this.stats.scanMs += performance.now() - t0;
    const views = this.embedView && this.banks.size > 0 ? liveCopyViews(frame, this.opts.views) : [];
    for (const v of views) {
      // A view the pool refuses (queue full under load) is skipped; the whole frame's result still stands.
      const e = await this.embedView!(cropImage(frame, v.rect)).catch(() => null);
      if (!e) {
        this.stats.viewsFailed++;
        continue;
      }
      const t1 = performance.now();
      add(this.banks.match(this.whitening.apply(e), this.opts.reportFloor, this.opts.maxMatches), v.region);
      this.stats.scanMs += performance.now() - t1;
      this.stats.views++;
    }
    const found = [...best.values()].sort((a, b) => b.similarity - a.similarity).slice(0, this.opts.maxMatches);
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
        category: m.category,
        entryId: m.entryId,
        descriptorEntryId: m.descriptorEntryId,
        entryRegion: m.region,
        ...(m.view !== 'full' ? { region: m.view } : {}),
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
          matches: found.map((m) => ({
            bank: m.bank,
            entryId: m.entryId,
            region: m.region,
            view: m.view,
            similarity: Math.round(m.similarity * 10_000) / 10_000,
          })),
        },
      },
    };
  }
}
