import type { Decision, LiveStream } from '../api/types.ts';

/**
 * Server push, as the console receives it (contract: docs/console-api.md, "Push events"). Screens
 * subscribe to event types; they never poll. SsePush (sse.ts) reads GET /api/v1/events; UnavailablePush
 * stands in where there is no push (screens then show their data as of the last load with a refresh).
 */
export type PushEvent =
  | { type: 'stream.started'; at: string; stream: LiveStream }
  | { type: 'stream.ended'; at: string; streamId: string; account: string; reason: string; decisionId: string | null }
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
  | { type: 'appeal.decided'; at: string; appealId: string; outcome: 'upheld' | 'overturned' }
  | { type: 'report.created'; at: string; reportId: string; streamId: string; category: string; independentReports: number }
  /** The gateway could not replay what a reconnect missed: reload lists. */
  | { type: 'reset'; reason: 'buffer_exceeded' | 'node_restarted' };

export type PushEventType = PushEvent['type'];
export type PushState = 'unavailable' | 'connecting' | 'open' | 'reconnecting';

export interface PushClient {
  readonly state: PushState;
  /** Calls `handler` for each event of the given types; returns the unsubscribe function. */
  subscribe<T extends PushEventType>(types: readonly T[], handler: (event: Extract<PushEvent, { type: T }>) => void): () => void;
  onState(handler: (state: PushState) => void): () => void;
  close(): void;
}

/** No push (a gateway without GET /api/v1/events). */
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
