import type { Kysely } from 'kysely';
import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { decisionViews } from '../api/views/decision.ts';
import { streamView } from '../api/views/stream.ts';
import type { LatestFrames } from '../live/latest.ts';
import type { CutRequest, EndReason, LiveRegistry, LiveStream } from '../live/registry.ts';
import type { LiveStatus } from '../live/status.ts';
import type { Database, DecisionRow } from '../store/schema.ts';
import type { EventBus } from './bus.ts';

/** At most one `stream.frame` event per stream per this many ms; the latest frame wins. */
export const FRAME_EVENT_INTERVAL_MS = 1000;

export interface FeedSources {
  bus: EventBus;
  db: Kysely<Database>;
  registry: LiveRegistry;
  live: LiveStatus;
  latest: LatestFrames;
  /** The sampler's classified frames (absent when sampling is off). */
  onSampled?: (cb: (frame: Frame, signals: readonly Signal[]) => void) => () => void;
  /** The policy runner's recorded decisions. */
  onDecision: (cb: (decisionId: string) => void) => void;
  onError: (err: unknown, context: string) => void;
}

const iso = (ms = Date.now()) => new Date(ms).toISOString();

/** The decision view with the account's handle, as push events carry it. */
export async function decisionEventView(db: Kysely<Database>, row: DecisionRow) {
  const [view] = await decisionViews(db, [row]);
  return view!;
}

/** Publishes decision.reviewed for a decision just confirmed or overturned (API routes, appeal outcomes). */
export async function publishReviewed(bus: EventBus, db: Kysely<Database>, decisionId: string): Promise<void> {
  const row = await db.selectFrom('decisions').selectAll().where('id', '=', decisionId).executeTakeFirst();
  if (row) bus.publish('decision.reviewed', { at: iso(), decision: await decisionEventView(db, row) });
}

/**
 * Connects this node's sources to the bus: the registry (stream.started / stream.ended), the sampler
 * (the latest frame per stream, and stream.frame at most once a second per stream) and the policy runner
 * (decision.created). Reviews and appeals publish from the routes that make them (gateway/api/).
 */
export function connectFeeds(f: FeedSources): () => void {
  const { bus, registry, latest } = f;
  const pendingFrames = new Map<string, { timer: NodeJS.Timeout | null; lastAt: number }>();

  const publishFrame = (streamId: string) => {
    const now = latest.get(streamId);
    if (!now || !registry.get(streamId)) return;
    bus.publish('stream.frame', {
      at: iso(now.at),
      streamId,
      seq: now.seq,
      samplingMode: f.live.samplingMode(streamId),
      scores: now.scores,
      nearestBankDistance: now.nearestBankDistance,
    });
  };

  const onStarted = (s: LiveStream) => bus.publish('stream.started', { at: iso(s.startedAt), stream: streamView(s, f.live) });
  const onEnded = (s: LiveStream, reason: EndReason, request?: CutRequest) => {
    latest.drop(s.id);
    const p = pendingFrames.get(s.id);
    if (p?.timer) clearTimeout(p.timer);
    pendingFrames.delete(s.id);
    const decisionId = typeof request?.detail?.decisionId === 'string' ? request.detail.decisionId : null;
    bus.publish('stream.ended', { at: iso(), streamId: s.id, account: s.handle, reason, decisionId });
  };
  registry.on('started', onStarted);
  registry.on('ended', onEnded);

  const offSampled = f.onSampled?.((frame, signals) => {
    if (!registry.get(frame.streamId)) return;
    latest.record(frame, signals);
    const now = Date.now();
    let p = pendingFrames.get(frame.streamId);
    if (!p) pendingFrames.set(frame.streamId, (p = { timer: null, lastAt: 0 }));
    if (p.timer) return; // a publish is already scheduled: it will carry this (latest) frame
    const wait = p.lastAt + FRAME_EVENT_INTERVAL_MS - now;
    const entry = p;
    const fire = () => {
      entry.timer = null;
      entry.lastAt = Date.now();
      publishFrame(frame.streamId);
    };
    if (wait <= 0) fire();
    else {
      entry.timer = setTimeout(fire, wait);
      entry.timer.unref();
    }
  });

  f.onDecision((decisionId) => {
    void (async () => {
      const row = await f.db.selectFrom('decisions').selectAll().where('id', '=', decisionId).executeTakeFirst();
      if (row) bus.publish('decision.created', { at: iso(), decision: await decisionEventView(f.db, row) });
    })().catch((err) => f.onError(err, `publishing decision ${decisionId}`));
  });

  return () => {
    registry.off('started', onStarted);
    registry.off('ended', onEnded);
    offSampled?.();
    for (const p of pendingFrames.values()) if (p.timer) clearTimeout(p.timer);
  };
}
