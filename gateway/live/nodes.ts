import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { appendAudit } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';

export interface NodeLivenessOptions {
  heartbeatIntervalMs: number;
  /** A node whose last heartbeat is older than this is lost. */
  lostAfterMs: number;
}

export interface NodeInfo {
  httpUrl: string | null;
  rtmpUrl: string | null;
}

/**
 * Node liveness on a shared database: each node writes a heartbeat, and each node looks for others whose
 * heartbeat is stale and closes their open streams as `node_lost`, so the streams table (and
 * GET /api/v1/streams on any node) stays the platform's true live list after a `kill -9`. The first node to
 * mark a lost node (a conditional update) closes its streams; the others find nothing to do. Heartbeats
 * use each node's clock: keep nodes' clocks in sync (NTP) well within `lostAfterMs`.
 */
export class NodeLiveness {
  private timer: NodeJS.Timeout | null = null;
  private beating = false;

  constructor(
    private readonly db: Kysely<Database>,
    readonly nodeId: string,
    private readonly opts: NodeLivenessOptions,
    private readonly log: Logger,
    /** Ids of the streams this node carries now (to re-open their rows if this node was wrongly declared lost). */
    private readonly liveIds: () => string[],
    /** Called after every heartbeat that reached the database (retry deferred writes, pending cut requests). */
    private readonly onBeat: () => void = () => {},
  ) {}

  async start(info: NodeInfo): Promise<void> {
    const now = Date.now();
    const row = { started_at: now, heartbeat_at: now, http_url: info.httpUrl, rtmp_url: info.rtmpUrl, stopped_at: null, lost_at: null, lost_by: null };
    const updated = await this.db.updateTable('nodes').set(row).where('id', '=', this.nodeId).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0)
      await this.db
        .insertInto('nodes')
        .values({ id: this.nodeId, ...row })
        .execute();
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** One heartbeat and one look for lost nodes; errors (database away) are logged and retried next beat. */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const now = Date.now();
      const mine = await this.db.selectFrom('nodes').select(['lost_at', 'lost_by']).where('id', '=', this.nodeId).executeTakeFirst();
      await this.db.updateTable('nodes').set({ heartbeat_at: now, lost_at: null, lost_by: null, stopped_at: null }).where('id', '=', this.nodeId).execute();
      if (mine?.lost_at) await this.reclaim(mine.lost_by);
      await this.sweep(now);
      this.onBeat();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'node heartbeat failed; will retry');
    } finally {
      this.beating = false;
    }
  }

  /** This node was declared lost (a pause longer than lostAfterMs, a partition) but still carries streams: re-open their rows. */
  private async reclaim(by: string | null): Promise<void> {
    const ids = this.liveIds();
    this.log.warn({ lostBy: by, live: ids.length }, 'this node had been declared lost; re-opening the rows of the streams it still carries');
    if (ids.length === 0) return;
    await this.db
      .updateTable('streams')
      .set({ ended_at: null, end_reason: null, end_detail: null })
      .where('id', 'in', ids)
      .where('node_id', '=', this.nodeId)
      .where('end_reason', '=', 'node_lost')
      .execute();
  }

  private async sweep(now: number): Promise<void> {
    const stale = await this.db
      .selectFrom('nodes')
      .select(['id', 'heartbeat_at'])
      .where('id', '!=', this.nodeId)
      .where('lost_at', 'is', null)
      .where('stopped_at', 'is', null)
      .where('heartbeat_at', '<', now - this.opts.lostAfterMs)
      .execute();
    for (const node of stale) {
      const closed = await this.db.transaction().execute(async (trx) => {
        const marked = await trx
          .updateTable('nodes')
          .set({ lost_at: now, lost_by: this.nodeId })
          .where('id', '=', node.id)
          .where('lost_at', 'is', null)
          .where('heartbeat_at', '=', node.heartbeat_at)
          .executeTakeFirst();
        if (Number(marked.numUpdatedRows) === 0) return null; // another node got there first, or it came back
        const detail = `node ${node.id} stopped heartbeating (last ${new Date(node.heartbeat_at).toISOString()})`;
        const res = await trx
          .updateTable('streams')
          .set({ ended_at: now, end_reason: 'node_lost', end_detail: detail })
          .where('node_id', '=', node.id)
          .where('ended_at', 'is', null)
          .executeTakeFirst();
        const n = Number(res.numUpdatedRows);
        await appendAudit(trx, {
          actor: `node:${this.nodeId}`,
          action: 'node.lost',
          targetType: 'node',
          targetId: node.id,
          reason: detail,
          detail: { streamsClosed: n },
          at: now,
        });
        return n;
      });
      if (closed !== null) this.log.warn({ lostNode: node.id, streamsClosed: closed }, 'a node stopped heartbeating: its streams are closed as node_lost');
    }
  }

  /** Graceful stop: this node's absence is not a loss. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.db
      .updateTable('nodes')
      .set({ stopped_at: Date.now() })
      .where('id', '=', this.nodeId)
      .execute()
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'recording the node stop failed'));
  }
}
