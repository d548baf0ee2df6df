import type { LatestFrame } from './latest.ts';
import type { LiveStream } from './registry.ts';

export type SamplingMode = 'full' | 'keyframe' | 'adaptive-full' | 'adaptive-keyframe' | 'off';

export interface SheddingStatus {
  /** Frames per second hashed now: the configured rate, or the model rate while shed. */
  fps: number;
  /** How far (ms of media) the latest sampled frame was behind the newest media received. */
  lagMs: number | null;
  /** Times the decoder fell behind live and was restarted at the live edge. */
  skips: number;
  /** Times the rate was raised again after keeping up. */
  raises: number;
}

/** What the API adds to a live stream beyond the registry's record: how it is sampled, its latest frame, how to watch it. */
export interface LiveStatus {
  samplingMode(streamId: string): SamplingMode;
  /** Load shedding of the stream's sampler (gateway/sampler/shedding.ts); null where it does not apply. */
  shedding(streamId: string): SheddingStatus | null;
  latest(streamId: string): LatestFrame | null;
  /** The HTTP-FLV path a moderator's player reads, or null when the stream cannot be watched in a browser. */
  flvPath(stream: LiveStream): string | null;
}
