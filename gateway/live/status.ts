import type { LatestFrame } from './latest.ts';
import type { LiveStream } from './registry.ts';

export type SamplingMode = 'full' | 'keyframe' | 'adaptive-full' | 'adaptive-keyframe' | 'off';

/** What the API adds to a live stream beyond the registry's record: how it is sampled, its latest frame, how to watch it. */
export interface LiveStatus {
  samplingMode(streamId: string): SamplingMode;
  latest(streamId: string): LatestFrame | null;
  /** The HTTP-FLV path a moderator's player reads, or null when the stream cannot be watched in a browser. */
  flvPath(stream: LiveStream): string | null;
}
