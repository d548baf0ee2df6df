import type { Frame } from '../frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings, FrameSignal } from '../frame-classifier.ts';
import { HASH_SUPPRESSED_SOURCE } from '../hash-matcher.ts';
import { fromHex, isPdqHex } from '../pdq.ts';
import type { VideoEntryMeta, VideoLookup } from './bank-index.ts';
import { VPDQ_QUALITY_THRESHOLD } from './frames.ts';
import { VideoWindows, type VideoWindowOptions, type WindowMatch } from './window.ts';

/** The signal source of a banked video matched by a stream's recent frames (the default policy's `tve-known-video` reads it). */
export const VIDEO_MATCH_SOURCE = 'video_match';

export interface VideoMatcherOptions extends Partial<VideoWindowOptions> {
  /** Frames below this PDQ quality are not part of the window (vPDQ's quality_filter: 50). */
  minQuality: number;
  /** Video entries one frame may count towards, closest first (bounds a frame's cost on a bank of near-duplicates). */
  maxEntriesPerFrame: number;
}

export const DEFAULT_VIDEO_MATCHER: VideoMatcherOptions = { minQuality: VPDQ_QUALITY_THRESHOLD, maxEntriesPerFrame: 32 };

/**
 * Video matching beside single-frame matching: wraps the PDQ hash matcher (classifiers/hash-matcher.ts),
 * whose findings it passes on unchanged, and takes the frame's whole-frame hash from them (its `pdq`
 * evidence facts), so a frame is hashed once for both. The hash is looked up among the banked videos' frames
 * (VideoBankIndex, at most vPDQ's distance 31) and enters the stream's window (classifiers/vpdq/window.ts);
 * each banked video the window matches (>= 80 % of its distinct frames) yields one `video_match` signal: label
 * = the entry's category, score = the share of the window's frames that matched, bank, entry and counts in
 * `detail`. A quarantined entry, one outside its bank's rollout, or a match while a negative bank's video
 * also matches the window is reported as `hash_suppressed`, as single-frame matches are. Only the frame as
 * it is: no rotated or mirrored variants (vPDQ has none; single-frame matching still checks them).
 */
export class VideoMatcher implements FrameClassifier {
  readonly name: string;
  readonly windows: VideoWindows;
  readonly stats = { frames: 0, lookups: 0, matches: 0 };

  constructor(
    private readonly frames: FrameClassifier,
    private readonly videos: VideoLookup,
    private readonly opts: VideoMatcherOptions = DEFAULT_VIDEO_MATCHER,
  ) {
    this.name = frames.name;
    this.windows = new VideoWindows(opts);
  }

  classify(frame: Frame, ctx: ClassifyContext): FrameFindings | Promise<FrameFindings> {
    const found = this.frames.classify(frame, ctx);
    return found instanceof Promise ? found.then((f) => this.withVideos(frame, ctx, f)) : this.withVideos(frame, ctx, found);
  }

  /** The stream ended: its window goes, and what the frame classifier under it keeps. */
  end(streamId: string): void {
    this.windows.end(streamId);
    this.frames.end?.(streamId);
  }

  private withVideos(frame: Frame, ctx: ClassifyContext, found: FrameFindings): FrameFindings {
    this.stats.frames++;
    // Nothing banked: no lookup and no window (a video banked later matches once its window has filled).
    if (this.videos.entries === 0) return found;
    const pdq = found.facts?.pdq as { hash?: unknown; quality?: unknown } | undefined;
    if (typeof pdq?.hash !== 'string' || typeof pdq.quality !== 'number' || !isPdqHex(pdq.hash) || pdq.quality < this.opts.minQuality) return found;
    this.stats.lookups++;
    const hits = this.videos.match(fromHex(pdq.hash), this.opts.maxEntriesPerFrame);
    const matches = this.windows.push(
      frame.streamId,
      frame.mediaTimeMs,
      pdq.hash,
      hits.map((h) => h.entryId),
      hits.map((h) => h.scene),
    );
    if (matches.length === 0) return found;
    const matched = matches.flatMap((m) => {
      const entry = this.videos.entry(m.entryId);
      return entry ? [{ m, entry }] : [];
    });
    const negative = matched.find((x) => x.entry.negative);
    const positive = matched.filter((x) => !x.entry.negative);
    this.stats.matches += positive.length;
    const version = `vpdq@banks${this.videos.revision}`;
    const signals = positive.map(({ m, entry }) => videoSignal(frame, ctx, m, entry, negative?.entry, version));
    return {
      signals: [...found.signals, ...signals],
      facts: {
        ...found.facts,
        videoMatches: positive.map(({ m, entry }) => ({
          bank: entry.bank,
          entryId: entry.entryId,
          matched: m.matched,
          distinct: m.distinct,
          scenes: m.scenes,
          frames: m.frames,
          spanMs: m.spanMs,
        })),
      },
    };
  }
}

function videoSignal(
  frame: Frame,
  ctx: ClassifyContext,
  m: WindowMatch,
  entry: VideoEntryMeta,
  negative: VideoEntryMeta | undefined,
  version: string,
): FrameSignal {
  const reason = negative ? 'negative_bank' : entry.quarantined ? 'quarantined' : entry.outsideRollout ? 'rollout' : null;
  return {
    streamId: frame.streamId,
    frameTimeMs: frame.mediaTimeMs,
    observedAt: ctx.observedAt,
    source: reason ? HASH_SUPPRESSED_SOURCE : VIDEO_MATCH_SOURCE,
    label: entry.category,
    score: Math.min(1, m.fraction),
    version,
    detail: {
      kind: 'video',
      bank: entry.bank,
      entryId: entry.entryId,
      severity: entry.severity,
      matchedFrames: m.matched,
      distinctFrames: m.distinct,
      scenes: m.scenes,
      windowFrames: m.frames,
      windowSpanMs: m.spanMs,
      entryFrames: entry.frames,
      ...(reason ? { suppressed: reason } : {}),
      ...(negative ? { suppressedBy: `${negative.bank}/${negative.entryId}` } : {}),
    },
  };
}
