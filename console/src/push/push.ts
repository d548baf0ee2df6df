import type { Decision, LiveStream } from '../api/types.ts';

/**
 * Server push, as the console will receive it (contract: docs/console-api.md, "Push events"). Screens
 * subscribe to event types; they never poll. Phase 1 has no push endpoint, so the only implementation is
 * UnavailablePush, and screens show their data as of the last load with a refresh action. Phase 2 adds an
 * SSE implementation (fetch with the Authorization header, so the token stays out of URLs) behind this
 * same interface.
 */
export type PushEvent =
  | { type: 'stream.started'; at: string; stream: LiveStream }
  | { type: 'stream.ended'; at: string; streamId: string; account: string; reason: string }
  | {
      type: 'stream.frame';
      at: string;
      streamId: string;
      seq: number;
      samplingMode: 'full' | 'keyframe' | 'adaptive-keyframe' | 'adaptive-full';
      scores: Record<string, Record<string, number>>;
      nearestBankDistance: number | null;
    }
  | { type: 'decision.created'; at: string; decision: Decision }
  | { type: 'decision.reviewed'; at: string; decision: Decision }
  | { type: 'appeal.created'; at: string; appealId: string; decisionId: string; account: string }
  | { type: 'appeal.decided'; at: string; appealId: string; outcome: 'upheld' | 'overturned' };

export type PushEventType = PushEvent['type'];
export type PushState = 'unavailable' | 'connecting' | 'open' | 'reconnecting';

export interface PushClient {
  readonly state: PushState;
  /** Calls `handler` for each event of the given types; returns the unsubscribe function. */
  subscribe<T extends PushEventType>(types: readonly T[], handler: (event: Extract<PushEvent, { type: T }>) => void): () => void;
  onState(handler: (state: PushState) => void): () => void;
  close(): void;
}

/** Phase 1: the gateway has no push endpoint yet. */
export class UnavailablePush implements PushClient {
  readonly state: PushState = 'unavailable';
  subscribe(): () => void {
    return () => {};
  }
  onState(): () => void {
    return () => {};
  }
  close(): void {}
}
