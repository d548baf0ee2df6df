import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { appendAudit } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';
import type { CutRequest, LiveRegistry } from './registry.ts';

/**
 * Cutting a stream another node carries: the request is a row (with its audit record) addressed to that
 * node, announced by NOTIFY (migration 0010_notify); the carrying node cuts the feed and marks the row
 * done. Pending rows are also picked up on every heartbeat, so a lost notification only delays a cut.
 */

export async function requestRemoteCut(db: Kysely<Database>, streamId: string, nodeId: string, request: CutRequest): Promise<string> {
  const id = `cut_${randomBytes(8).toString('hex')}`;
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('cut_requests')
      .values({
        id,
        stream_id: streamId,
        node_id: nodeId,
        reason: request.reason,
        message: request.message,
        actor: request.actor,
        detail: request.detail ? JSON.stringify(request.detail) : null,
        requested_at: now,
        done_at: null,
        outcome: null,
      })
      .execute();
    await appendAudit(trx, {
      actor: request.actor,
      action: 'stream.cut_requested',
      targetType: 'stream',
      targetId: streamId,
      reason: request.message,
      detail: { node: nodeId, request: id },
      at: now,
    });
  });
  return id;
}

/** Waits until the carrying node has handled the request; null when it has not within `timeoutMs`. */
export async function awaitRemoteCut(db: Kysely<Database>, id: string, timeoutMs: number): Promise<'cut' | 'not_live' | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await db.selectFrom('cut_requests').select(['done_at', 'outcome']).where('id', '=', id).executeTakeFirst();
    if (row?.done_at) return row.outcome === 'cut' ? 'cut' : 'not_live';
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Applies the cut requests addressed to this node. */
export class CutRequestWorker {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly registry: LiveRegistry,
    private readonly onError: (err: unknown, context: string) => void,
  ) {}

  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err) => this.onError(err, 'applying cut requests'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    const pending = await this.db
      .selectFrom('cut_requests')
      .selectAll()
      .where('node_id', '=', this.registry.nodeId)
      .where('done_at', 'is', null)
      .orderBy('requested_at')
      .limit(100)
      .execute();
    for (const r of pending) {
      const request: CutRequest = {
        reason: r.reason as CutRequest['reason'],
        message: r.message,
        actor: r.actor,
        detail: { ...(r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : {}), cutRequest: r.id },
      };
      const cut = await this.registry.cut(r.stream_id, request).catch((err) => {
        // The feed is ended even when its record fails (registry.cut): count it as cut.
        this.onError(err, `recording the requested cut of ${r.stream_id}`);
        return true;
      });
      await this.db
        .updateTable('cut_requests')
        .set({ done_at: Date.now(), outcome: cut ? 'cut' : 'not_live' })
        .where('id', '=', r.id)
        .execute();
    }
  }
}
