import type { BankLookup, BankMatch } from './bank-index.ts';
import type { Frame } from './frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from './frame-classifier.ts';
import { DIHEDRAL_VARIANTS, PDQ_MIN_QUALITY, toHex, type PdqHash } from './pdq.ts';
import { RegionHasher, type RegionHash } from './region-hashes.ts';

export interface HashMatcherOptions {
  /** Also query the 7 rotated/flipped variants, so a mirrored or rotated re-stream still matches. */
  dihedral: boolean;
  /** Frames whose PDQ quality is below this are skipped (and counted), never matched. */
  minQuality: number;
  /**
   * Region-aware matching (classifiers/regions.ts): `tiles` hashes overlapping tiles of the frame (a caption
   * over part of it), `inner` the inside of a picture-in-picture found by its edges. The whole frame and,
   * when it has uniform borders, the frame inside them are always hashed.
   */
  regions?: { tiles: boolean; inner: boolean };
  /**
   * Tiles and the inner rectangle on at most this many frames per second of each stream (the first frame of
   * each 1/fps slot of media time); the whole and trimmed frame are hashed on every frame. Absent: every frame.
   * Region hashing costs several whole-frame hashes, and the evasions it catches last longer than a frame.
   */
  regionsFps?: number;
}

export const DEFAULT_HASH_MATCHER: HashMatcherOptions = { dihedral: true, minQuality: PDQ_MIN_QUALITY, regions: { tiles: true, inner: true }, regionsFps: 2 };

/**
 * The source of a bank match that must not act: suppressed by a negative bank's entry on the same frame,
 * quarantined (a flood of matches, a partner's deconfirmation) or outside its bank's gradual rollout. No
 * rule of a policy selects it unless written to; it is stored with the stream's signals like any match, so
 * what was held back and why stays on record.
 */
export const HASH_SUPPRESSED_SOURCE = 'hash_suppressed';

type SuppressedReason = 'negative_bank' | 'quarantined' | 'rollout';

function suppression(m: BankMatch, negative: BankMatch | undefined): { source: string; detail?: Record<string, string> } {
  const reason: SuppressedReason | null = negative ? 'negative_bank' : m.quarantined ? 'quarantined' : m.outsideRollout ? 'rollout' : null;
  if (!reason) return { source: 'hash_match' };
  return {
    source: HASH_SUPPRESSED_SOURCE,
    detail: { suppressed: reason, ...(negative ? { suppressedBy: `${negative.bank}/${negative.entryId}` } : {}) },
  };
}

/** Streams whose region slot is remembered at once; the oldest is forgotten past it. */
const MAX_STREAMS = 10_000;

/**
 * PDQ on every sampled frame — the whole frame, the frame inside uniform borders (a letterboxed or
 * pillarboxed picture is hashed at its own shape), tiles and a picture-in-picture — looked up in the enabled
 * banks: one `hash_match` signal per matched banked entry (best region and variant each), saying which
 * region of the frame matched and, for derived entries, which region of the banked content. The frame's hash
 * and quality go into its evidence facts (`pdq`), matched or not, so a moderator who confirms the decision
 * can add the frame to the `confirmed` bank.
 */
export class HashMatcher implements FrameClassifier {
  readonly name = 'pdq';
  private readonly hasher = new RegionHasher();
  readonly stats = { frames: 0, lowQuality: 0, matches: 0, regions: 0 };
  private readonly regionSlot = new Map<string, number>();

  constructor(
    private readonly banks: BankLookup,
    private readonly opts: HashMatcherOptions = DEFAULT_HASH_MATCHER,
    /**
     * Every usable whole-frame hash, matched or not, with the usable hash of the picture inside the frame's
     * uniform borders where it has them (crisis mode keeps the recent ones: classifiers/recent-hashes.ts).
     */
    private readonly onHashed?: (frame: Frame, hash: PdqHash, quality: number, observedAt: number, trimmed?: PdqHash) => void,
  ) {}

  classify(frame: Frame, ctx: ClassifyContext): FrameFindings {
    this.stats.frames++;
    const withRegions = this.regionsDue(frame);
    // The frame itself: a YUV frame's luma is hashed, its RGB made only if tiles or the inset need it.
    const regions = this.hasher.live(frame, {
      dihedral: this.opts.dihedral,
      tiles: withRegions && (this.opts.regions?.tiles ?? false),
      inner: withRegions && (this.opts.regions?.inner ?? false),
    });
    this.stats.regions += regions.length;
    const whole = regions[0]!;
    const hex = toHex(whole.result.hash);
    const pdq: Record<string, unknown> = { hash: hex, quality: whole.result.quality };
    const trimmed = regions.find((r) => r.region === 'trimmed');
    if (trimmed) pdq.trimmed = { hash: toHex(trimmed.result.hash), quality: trimmed.result.quality, rect: trimmed.rect };
    const usable = regions.filter((r) => r.result.quality >= this.opts.minQuality);
    if (this.onHashed && whole.result.quality >= this.opts.minQuality) {
      const inner = trimmed && trimmed.result.quality >= this.opts.minQuality ? trimmed.result.hash : undefined;
      this.onHashed(frame, whole.result.hash, whole.result.quality, ctx.observedAt, inner);
    }
    if (usable.length === 0) {
      this.stats.lowQuality++;
      return { signals: [], facts: { pdq, matches: [] } };
    }
    const best = new Map<string, { m: BankMatch; r: RegionHash }>();
    for (const r of usable) {
      const variants: Array<{ variant: (typeof DIHEDRAL_VARIANTS)[number]; hash: PdqHash }> = r.result.dihedral
        ? DIHEDRAL_VARIANTS.map((v) => ({ variant: v, hash: r.result.dihedral![v] }))
        : [{ variant: 'original', hash: r.result.hash }];
      for (const m of this.banks.match(variants)) {
        const key = `${m.bank}\u0000${m.entryId}`;
        const prev = best.get(key);
        if (!prev || m.distance < prev.m.distance) best.set(key, { m, r });
      }
    }
    const all = [...best.values()].sort((a, b) => a.m.distance - b.m.distance);
    // A negative ("don't match") bank's entry acts on nothing itself: it suppresses the frame's positive matches.
    const negative = all.find((f) => f.m.negative);
    const found = all.filter((f) => !f.m.negative);
    this.stats.matches += found.length;
    const signals = found.map(({ m, r }): FrameSignal => ({
      streamId: frame.streamId,
      frameTimeMs: frame.mediaTimeMs,
      observedAt: ctx.observedAt,
      ...suppression(m, negative?.m),
      label: m.category,
      match: {
        bank: m.bank,
        entryId: m.entryId,
        distance: m.distance,
        variant: m.variant,
        category: m.category,
        severity: m.severity,
        frameHash: toHex(r.result.hash),
        quality: r.result.quality,
        ...(r.region !== 'full' ? { region: r.region } : {}),
        ...(m.entryRegion ? { entryRegion: m.entryRegion } : {}),
        ...(m.derivedEntryId ? { derivedEntryId: m.derivedEntryId } : {}),
      },
      version: `banks@${this.banks.revision}`,
    }));
    return {
      signals,
      facts: {
        pdq,
        matches: signals.map((s) => (s.source === HASH_SUPPRESSED_SOURCE ? { ...s.match, suppressed: s.detail?.suppressed } : s.match)),
        ...(negative ? { negativeMatch: { bank: negative.m.bank, entryId: negative.m.entryId, distance: negative.m.distance } } : {}),
      },
    };
  }

  /** Is this frame the first of its region slot in its stream? */
  end(streamId: string): void {
    this.regionSlot.delete(streamId);
  }

  /** Streams whose region slot is remembered (tests). */
  get trackedStreams(): number {
    return this.regionSlot.size;
  }

  private regionsDue(frame: Frame): boolean {
    const fps = this.opts.regionsFps;
    if (fps === undefined || !(fps > 0)) return true;
    const slot = Math.floor((frame.mediaTimeMs / 1000) * fps);
    if (this.regionSlot.get(frame.streamId) === slot) return false;
    this.regionSlot.delete(frame.streamId);
    this.regionSlot.set(frame.streamId, slot);
    if (this.regionSlot.size > MAX_STREAMS) this.regionSlot.delete(this.regionSlot.keys().next().value!);
    return true;
  }
}
