import type { BankLookup } from './bank-index.ts';
import type { Frame } from './frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from './frame-classifier.ts';
import { DIHEDRAL_VARIANTS, PDQ_MIN_QUALITY, PdqHasher, toHex, type PdqHash } from './pdq.ts';

export interface HashMatcherOptions {
  /** Also query the 7 rotated/flipped variants, so a mirrored or rotated re-stream still matches. */
  dihedral: boolean;
  /** Frames whose PDQ quality is below this are skipped (and counted), never matched. */
  minQuality: number;
}

/**
 * PDQ on every sampled frame, looked up in the enabled banks: one `hash_match` signal per matched entry
 * (best variant each). The frame's hash and quality go into its evidence facts (`pdq`), matched or not, so
 * a moderator who confirms the decision can add the frame to the `confirmed` bank. One hasher per matcher:
 * buffers are reused.
 */
export class HashMatcher implements FrameClassifier {
  readonly name = 'pdq';
  private readonly hasher = new PdqHasher();
  readonly stats = { frames: 0, lowQuality: 0, matches: 0 };

  constructor(
    private readonly banks: BankLookup,
    private readonly opts: HashMatcherOptions = { dihedral: true, minQuality: PDQ_MIN_QUALITY },
  ) {}

  classify(frame: Frame, ctx: ClassifyContext): FrameFindings {
    this.stats.frames++;
    const r = this.hasher.fromRgb(frame.rgb, frame.width, frame.height, { dihedral: this.opts.dihedral });
    const hex = toHex(r.hash);
    const pdq = { hash: hex, quality: r.quality };
    if (r.quality < this.opts.minQuality) {
      this.stats.lowQuality++;
      return { signals: [], facts: { pdq, matches: [] } };
    }
    const variants: Array<{ variant: (typeof DIHEDRAL_VARIANTS)[number]; hash: PdqHash }> = r.dihedral
      ? DIHEDRAL_VARIANTS.map((v) => ({ variant: v, hash: r.dihedral![v] }))
      : [{ variant: 'original', hash: r.hash }];
    const found = this.banks.match(variants);
    this.stats.matches += found.length;
    const signals = found.map(
      (m): FrameSignal => ({
        streamId: frame.streamId,
        frameTimeMs: frame.mediaTimeMs,
        observedAt: ctx.observedAt,
        source: 'hash_match',
        label: m.category,
        match: { bank: m.bank, entryId: m.entryId, distance: m.distance, variant: m.variant, category: m.category, severity: m.severity, frameHash: hex, quality: r.quality },
        version: `banks@${this.banks.revision}`,
      }),
    );
    return { signals, facts: { pdq, matches: signals.map((s) => s.match) } };
  }
}
