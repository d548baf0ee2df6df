import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ChangeFeed } from '../store/change-feed.ts';
import type { Database, Dialect } from '../store/schema.ts';
import { PUSH_EVENT_TYPES, type BusEvent, type EventBus, type PushEventType } from './bus.ts';

/**
 * Console push events across nodes (PostgreSQL). A console is open on one node but moderates the platform:
 * a stream that starts on node B, a decision B's policy takes, a report B receives must reach it by push.
 * Each node writes the events it publishes itself into `console_events` (0061_console_events), whose insert
 * trigger announces `event` to every listener (gateway/store/notifications.ts); each node reads the rows of
 * the other nodes with the gap-free feed reader (change-feed.ts) and publishes them into its own bus, where
 * the SSE route sends them like its own. The table holds minutes of events, not history.
 *
 * Not relayed: `stream.frame` (once a second per stream: the grid's thumbnails and scores of a stream are
 * served by the node that samples it). The write is off the publisher's path: a database away loses the
 * other nodes' view of these events, never a decision (those are in the decisions table and the journal).
 */

export const RELAYED_TYPES: ReadonlySet<PushEventType> = new Set(PUSH_EVENT_TYPES.filter((t) => t !== 'stream.frame'));

/** Rows older than this are deleted: every node reads them within a notification, or a reconcile, of the insert. */
export const KEEP_MS = 10 * 60_000;
const PRUNE_EVERY_MS = 60_000;

interface Row {
  seq: number;
  node_id: string;
  type: string;
  data: string;
  at: number;
}

const KNOWN = new Set<string>(PUSH_EVENT_TYPES);

export class ConsoleEventRelay {
  private readonly feed: ChangeFeed<Row>;
  private unsubscribe: (() => void) | null = null;
  private writes: Promise<void> = Promise.resolve();
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private failing = false;
  private stopped = false;
  private lastPrune: number;

  constructor(
    private readonly db: Kysely<Database>,
    dialect: Dialect,
    private readonly bus: EventBus,
    readonly nodeId: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.lastPrune = now();
    this.feed = new ChangeFeed<Row>(db, dialect, 'console_events', ['node_id', 'type', 'data', 'at']);
  }

  /** Positions the reader at now (earlier events are not replayed to this node's consoles) and starts writing. */
  async start(): Promise<void> {
    await this.feed.start();
    this.unsubscribe = this.bus.subscribe((e) => this.write(e));
  }

  /** Reads the other nodes' new events now (a notification, the listener reconnected, a reconcile). */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        await this.readOnce();
      } while (this.readAgain && !this.stopped);
    })()
      .catch((err) => this.trouble(err, 'reading other nodes’ console events failed; will retry'))
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  /** The periodic read in case a notification was lost (the gateway's reconcile), with a prune at most once a minute. */
  reconcile(): void {
    void this.kick();
    const now = this.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    void this.prune();
  }

  /** Deletes rows past KEEP_MS (any node may: the first does it, the others find nothing). */
  async prune(): Promise<void> {
    await this.db
      .deleteFrom('console_events')
      .where('at', '<', this.now() - KEEP_MS)
      .execute()
      .catch((err) => this.trouble(err, 'pruning console events failed; will retry'));
  }

  /** Stops writing and reading; waits for the writes already under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.writes;
    await this.reading;
  }

  private write(e: BusEvent): void {
    // Relayed events carry their node: writing them back would echo them between nodes.
    if (e.node !== undefined || !RELAYED_TYPES.has(e.type) || this.stopped) return;
    const row = { node_id: this.nodeId, type: e.type, data: JSON.stringify(e.data), at: e.publishedAt };
    // One write at a time, in publishing order, so the other nodes read this node's events in that order.
    this.writes = this.writes.then(() =>
      this.db
        .insertInto('console_events')
        .values(row)
        .execute()
        .then(() => this.recovered())
        .catch((err) => this.trouble(err, `writing a ${e.type} console event for the other nodes failed; their consoles miss it`)),
    );
  }

  private async readOnce(): Promise<void> {
    for (;;) {
      const read = await this.feed.read();
      for (const r of read.rows) {
        if (r.node_id === this.nodeId || !KNOWN.has(r.type)) continue;
        let data: unknown;
        try {
          data = JSON.parse(r.data);
        } catch {
          data = null;
        }
        if (!data || typeof data !== 'object' || Array.isArray(data)) {
          this.log.warn({ seq: r.seq, node: r.node_id, type: r.type }, 'skipped a console event that is not a JSON object');
          continue;
        }
        this.bus.publish(r.type as PushEventType, data as Record<string, unknown>, r.node_id);
      }
      read.ack();
      this.recovered();
      if (!read.more || this.stopped) return;
    }
  }

  /** One line per run of failures (a database outage would otherwise log one per event). */
  private trouble(err: unknown, what: string): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn({ err }, what);
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info('console events relay working again');
  }
}
