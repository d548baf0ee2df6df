import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * Push between nodes on PostgreSQL. Every change other nodes must apply is announced with NOTIFY on one
 * channel, from triggers on the change tables (migration 0010_change_notify), so the announcement commits
 * in the same transaction as the change and whoever writes (a node, the CLI) cannot forget it. A NOTIFY
 * carries no data a node trusts: it only says which feed to read now; the gap-free feeds (change-feed.ts)
 * are the truth, and a periodic reconcile reads them anyway in case a notification was lost.
 */

export const CHANNEL = 'modgate_changes';

/**
 * Which feed changed: the gate (keys, identity, suspensions, bans), the banks, the active policy, cut
 * requests, the console's push events (gateway/events/relay.ts).
 */
export type ChangeKind = 'gate' | 'bank' | 'policy' | 'cut' | 'event';
const KINDS = new Set<string>(['gate', 'bank', 'policy', 'cut', 'event']);

export interface ChangeListenerEvents {
  /** The kind, and when it was committed (epoch ms) where the announcement says so. */
  change: [ChangeKind, number?];
  /** (Re)connected and listening: anything announced while disconnected was missed, so read every feed. */
  listening: [];
}

/**
 * One dedicated connection (outside the pool: LISTEN binds to a session) that reconnects with capped
 * exponential backoff whenever it drops.
 */
export class ChangeListener extends EventEmitter<ChangeListenerEvents> {
  private client: pg.Client | null = null;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private connected = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly log: Logger,
    private readonly backoff = { initialMs: 100, maxMs: 5_000 },
  ) {
    super();
  }

  get listening(): boolean {
    return this.connected;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    this.connected = false;
    await c?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ ...this.config, keepAlive: true, connectionTimeoutMillis: 5_000 });
    this.client = client;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      this.connected = false;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.client === client) this.client = null;
      if (this.stopped) return;
      const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
      this.attempt++;
      this.log.warn({ err: err.message, retryInMs: delay }, 'change listener disconnected; reconnecting');
      this.timer = setTimeout(() => void this.connect(), delay);
      this.timer.unref();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL) return;
      const [kind = '', at] = (msg.payload ?? '').split(':');
      const committedAt = at !== undefined && /^\d+$/.test(at) ? Number(at) : undefined;
      if (KINDS.has(kind)) this.emit('change', kind as ChangeKind, committedAt);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      fail(err as Error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.attempt = 0;
    this.connected = true;
    this.emit('listening');
  }
}
