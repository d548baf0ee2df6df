/**
 * The gateway's push events (docs/console-api.md, "Push events"): a small bus that the stream registry,
 * the sampler, decisions, reviews and appeals publish into, and that the SSE route (gateway/api/events.ts)
 * reads. It sits behind `EventBus` so the cross-node relay (gateway/events/relay.ts, on PostgreSQL) publishes
 * other nodes' events into the same bus without the route or the publishers changing.
 */

export type PushEventType =
  'stream.started' | 'stream.ended' | 'stream.frame' | 'decision.created' | 'decision.reviewed' | 'appeal.created' | 'appeal.decided' | 'report.created';

export const PUSH_EVENT_TYPES: readonly PushEventType[] = [
  'stream.started',
  'stream.ended',
  'stream.frame',
  'decision.created',
  'decision.reviewed',
  'appeal.created',
  'appeal.decided',
  'report.created',
];

export interface BusEvent {
  /** Increases by one per event on this node. */
  id: number;
  type: PushEventType;
  /** The event's `data` (JSON-serialisable), `at` included. */
  data: Record<string, unknown>;
  /** When it was published (epoch ms), for the buffer's age bound. */
  publishedAt: number;
  /** The node it happened on, when that is another node (relayed by gateway/events/relay.ts); absent: this node. */
  node?: string;
}

export type Replay = { events: BusEvent[] } | { reset: 'buffer_exceeded' | 'node_restarted' };

export interface EventBus {
  /** `node`: the node the event happened on, when it is not this one (a relayed event). */
  publish(type: PushEventType, data: Record<string, unknown>, node?: string): BusEvent;
  /** Calls `listener` with each event published from now on; returns the unsubscribe function. */
  subscribe(listener: (event: BusEvent) => void): () => void;
  /** The events after `lastId` (a reconnecting client's Last-Event-ID), or why they cannot be replayed. */
  since(lastId: number): Replay;
  /** The id of the last event published (the first event's id minus one before any). */
  readonly lastId: number;
}

export interface MemoryEventBusOptions {
  /** Events kept for replay (the contract's "at least the last 10,000 events"). Default 10,000. */
  maxEvents?: number;
  now?: () => number;
}

/**
 * One node's bus, in memory. Ids start at the node's start time in ms, so a Last-Event-ID from a previous
 * run of the node (lower than this run's first id, or above its last) is told `node_restarted` instead of
 * being answered with unrelated events.
 */
export class MemoryEventBus implements EventBus {
  private readonly listeners = new Set<(event: BusEvent) => void>();
  /** Ring buffer of the latest events, oldest first from `head`. */
  private readonly ring: Array<BusEvent | undefined>;
  private head = 0;
  private size = 0;
  private nextId: number;
  private readonly firstId: number;
  private readonly now: () => number;

  constructor(opts: MemoryEventBusOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ring = new Array<BusEvent | undefined>(Math.max(1, opts.maxEvents ?? 10_000));
    this.firstId = this.now();
    this.nextId = this.firstId;
  }

  get lastId(): number {
    return this.nextId - 1;
  }

  publish(type: PushEventType, data: Record<string, unknown>, node?: string): BusEvent {
    const event: BusEvent = { id: this.nextId++, type, data, publishedAt: this.now(), ...(node !== undefined ? { node } : {}) };
    const cap = this.ring.length;
    if (this.size < cap) {
      this.ring[(this.head + this.size) % cap] = event;
      this.size++;
    } else {
      this.ring[this.head] = event;
      this.head = (this.head + 1) % cap;
    }
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure (a broken connection) must not stop the others.
      }
    }
    return event;
  }

  subscribe(listener: (event: BusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  since(lastId: number): Replay {
    if (lastId < this.firstId - 1 || lastId > this.lastId) return { reset: 'node_restarted' };
    if (lastId === this.lastId) return { events: [] };
    const cap = this.ring.length;
    const oldestKept = this.size ? this.ring[this.head]!.id : this.nextId;
    if (lastId + 1 < oldestKept) return { reset: 'buffer_exceeded' };
    const events: BusEvent[] = [];
    for (let i = 0; i < this.size; i++) {
      const e = this.ring[(this.head + i) % cap]!;
      if (e.id <= lastId) continue;
      events.push(e);
    }
    return { events };
  }
}

/** One event in the text/event-stream format. */
export function sseFrame(event: Pick<BusEvent, 'id' | 'type' | 'data'>): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}
