import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { thumbnailFromFrame } from '../media/thumbnail.ts';

/** What the console shows of a live stream's latest sampled frame. */
export interface LatestFrame {
  seq: number;
  /** When the frame came off the decoder (epoch ms). */
  at: number;
  framesSampled: number;
  /**
   * `scores[source][label]`: each classifier's score on the frame. For the latest frame (`get`), the latest
   * scores any frame of the stream got within SCORES_MAX_AGE_MS: hash matching sees up to 10 frames a second
   * and the models 2, so most frames carry no scores of their own, and the console showed "no model scores"
   * for a stream whose models had just scored it.
   */
  scores: Record<string, Record<string, number>>;
  /** The smallest distance of a bank match on the frame; null when no bank hash came within radius. */
  nearestBankDistance: number | null;
}

interface Entry extends LatestFrame {
  frame: Frame;
  jpeg: Buffer | null;
  /** When the frame that `scores` came from was sampled (epoch ms); null: no frame was scored yet. */
  scoredAt: number | null;
}

/** How long the latest scores stand for a stream's newer, unscored frames (adaptive mode scores a keyframe every 2–4 s). */
export const SCORES_MAX_AGE_MS = 10_000;

/** Sampled frames of a live stream kept (summaries only, no pixels) for its page's timeline: about 10 min at 1 frame/s. */
export const RECENT_SAMPLES = 600;

/**
 * The latest sampled frame of each live stream, in memory only (one per stream; evidence frames are kept
 * by gateway/evidence/). The JPEG is made when someone asks for it, once per frame: a Live grid that is not
 * open costs nothing but the reference to the frame.
 */
export class LatestFrames {
  private readonly byStream = new Map<string, Entry>();
  private readonly recentByStream = new Map<string, LatestFrame[]>();

  constructor(private readonly opts: { maxWidth?: number; quality?: number } = {}) {}

  record(frame: Frame, signals: readonly Signal[]): LatestFrame {
    const prev = this.byStream.get(frame.streamId);
    const scores: Record<string, Record<string, number>> = {};
    let nearest: number | null = null;
    for (const s of signals) {
      if (s.score !== undefined && s.match === undefined) (scores[s.source] ??= {})[s.label] = Math.round(s.score * 1000) / 1000;
      if (s.match) nearest = nearest === null ? s.match.distance : Math.min(nearest, s.match.distance);
    }
    const own = Object.keys(scores).length > 0;
    const carried = !own && prev?.scoredAt != null && frame.receivedAt - prev.scoredAt <= SCORES_MAX_AGE_MS;
    const entry: Entry = {
      seq: frame.seq,
      at: frame.receivedAt,
      framesSampled: (prev?.framesSampled ?? 0) + 1,
      scores: own ? scores : carried ? prev!.scores : {},
      nearestBankDistance: nearest,
      frame,
      jpeg: null,
      scoredAt: own ? frame.receivedAt : carried ? prev!.scoredAt : null,
    };
    this.byStream.set(frame.streamId, entry);
    // The timeline keeps each frame's own scores: a frame the models did not see draws no point.
    const s = { ...summary(entry), scores };
    let recent = this.recentByStream.get(frame.streamId);
    if (!recent) this.recentByStream.set(frame.streamId, (recent = []));
    recent.push(s);
    if (recent.length > RECENT_SAMPLES) recent.splice(0, recent.length - RECENT_SAMPLES);
    return s;
  }

  get(streamId: string): LatestFrame | null {
    const e = this.byStream.get(streamId);
    return e ? summary(e) : null;
  }

  /** The stream's recent sampled frames, oldest first (at most RECENT_SAMPLES). */
  recent(streamId: string): readonly LatestFrame[] {
    return this.recentByStream.get(streamId) ?? [];
  }

  /** The latest frame as a JPEG (the sampler's size unless `maxWidth` is smaller). */
  jpeg(streamId: string): { jpeg: Buffer; seq: number; at: number } | null {
    const e = this.byStream.get(streamId);
    if (!e) return null;
    e.jpeg ??= thumbnailFromFrame(e.frame, { maxWidth: this.opts.maxWidth ?? e.frame.width, quality: this.opts.quality ?? 75 }).jpeg;
    return { jpeg: e.jpeg, seq: e.seq, at: e.at };
  }

  drop(streamId: string): void {
    this.byStream.delete(streamId);
    this.recentByStream.delete(streamId);
  }
}

function summary(e: Entry): LatestFrame {
  return { seq: e.seq, at: e.at, framesSampled: e.framesSampled, scores: e.scores, nearestBankDistance: e.nearestBankDistance };
}
