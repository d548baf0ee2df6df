import type { Frame } from './frame.ts';
import type { HashBankIndex } from './bank-index.ts';
import { DIHEDRAL_VARIANTS, PDQ_MIN_QUALITY, PdqHasher, toHex, type PdqHash } from './pdq.ts';
import { SignalSchema, type Signal } from './signal.ts';

export interface HashMatcherOptions {
  /** Also query the 7 rotated/flipped variants, so a mirrored or rotated re-stream still matches. */
  dihedral: boolean;
  /** Frames whose PDQ quality is below this are skipped (and counted), never matched. */
  minQuality: number;
}

export interface FrameHashResult {
  hash: string;
  quality: number;
  skippedLowQuality: boolean;
  /** One `hash_match` signal per matched bank entry (best variant each); evidenceRef filled by the caller. */
  matches: Array<Omit<Signal, 'evidenceRef'>>;
}

/** PDQ on every sampled frame, looked up in the enabled banks. One hasher per matcher: buffers are reused. */
export class HashMatcher {
  private readonly hasher = new PdqHasher();
  readonly stats = { frames: 0, lowQuality: 0, matches: 0 };

  constructor(
    private readonly banks: HashBankIndex,
    private readonly opts: HashMatcherOptions = { dihedral: true, minQuality: PDQ_MIN_QUALITY },
  ) {}

  matchFrame(frame: Frame, observedAt = Date.now()): FrameHashResult {
    this.stats.frames++;
    const r = this.hasher.fromRgb(frame.rgb, frame.width, frame.height, { dihedral: this.opts.dihedral });
    const hex = toHex(r.hash);
    if (r.quality < this.opts.minQuality) {
      this.stats.lowQuality++;
      return { hash: hex, quality: r.quality, skippedLowQuality: true, matches: [] };
    }
    const variants: Array<{ variant: (typeof DIHEDRAL_VARIANTS)[number]; hash: PdqHash }> = r.dihedral
      ? DIHEDRAL_VARIANTS.map((v) => ({ variant: v, hash: r.dihedral![v] }))
      : [{ variant: 'original', hash: r.hash }];
    const found = this.banks.match(variants);
    this.stats.matches += found.length;
    const matches = found.map((m) => {
      const signal = {
        streamId: frame.streamId,
        frameTimeMs: frame.mediaTimeMs,
        observedAt,
        source: 'hash_match',
        label: m.category,
        match: { bank: m.bank, entryId: m.entryId, distance: m.distance, variant: m.variant, category: m.category, severity: m.severity, frameHash: hex, quality: r.quality },
        version: `banks@${this.banks.revision}`,
      };
      SignalSchema.parse({ ...signal, evidenceRef: null });
      return signal;
    });
    return { hash: hex, quality: r.quality, skippedLowQuality: false, matches };
  }
}
