import type { Kysely } from 'kysely';
import { recordManualCut } from '../../enforcement/manual.ts';
import { suspendAccount } from '../../enforcement/suspensions.ts';
import { DomainError, notFound } from '../../errors.ts';
import type { LiveRegistry } from '../../live/registry.ts';
import { newId } from '../../security/secrets.ts';
import { appendAudit } from '../../store/audit.ts';
import type { Database, RemovalOrderRow } from '../../store/schema.ts';

/**
 * Removal orders from competent authorities. Regulation (EU) 2021/784 (TCO), Art. 3(3): a hosting provider
 * removes or disables terrorist content "as soon as possible and in any event within one hour of receipt
 * of the removal order". Each order's deadline is fixed at intake (receipt + 1 h); executing it carries
 * out what it names (cut the live stream, suspend the account, record the banked entry) and records the
 * time to execute; an order still open past its deadline is marked overdue once (audit, log, metric,
 * the overdue queue). Time comes from an injected clock.
 */

export const ORDER_DEADLINE_MS = 3600_000;

export type OrderAction = 'cut' | 'suspended' | 'banked' | 'already_offline';

export interface OrderInput {
  authority: string;
  memberState: string;
  reference: string;
  orderType: 'tco_removal' | 'dsa_art9';
  legalBasis?: string;
  target: { streamId: string } | { handle: string };
  description?: string;
}

export interface ExecuteInput {
  cut: boolean;
  /** Suspend the account's live rights for this many days; null: permanently; absent: no suspension. */
  suspendDays?: number | null;
  /** The bank entry the content was added to (hash sharing), when it was. */
  bankEntryId?: string;
  reason: string;
}

/** Open and past its deadline at `now`. */
export function isOverdue(o: Pick<RemovalOrderRow, 'status' | 'deadline_at'>, now: number): boolean {
  return o.status === 'open' && now > o.deadline_at;
}

export class OrderService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly registry: LiveRegistry,
    private readonly now: () => number = Date.now,
    private readonly onOverdue: (o: RemovalOrderRow) => void = () => undefined,
  ) {}

  async receive(actor: string, input: OrderInput): Promise<{ order: RemovalOrderRow; duplicate: boolean }> {
    const now = this.now();
    const existing = await this.db
      .selectFrom('removal_orders')
      .selectAll()
      .where('authority', '=', input.authority)
      .where('reference', '=', input.reference)
      .executeTakeFirst();
    if (existing) return { order: existing, duplicate: true };
    let streamId: string | null = null;
    let accountId: string | null = null;
    if ('streamId' in input.target) {
      const live = this.registry.get(input.target.streamId);
      const row = live ? null : await this.db.selectFrom('streams').select(['id', 'account_id']).where('id', '=', input.target.streamId).executeTakeFirst();
      if (!live && !row) throw notFound(`stream '${input.target.streamId}'`);
      streamId = input.target.streamId;
      accountId = live?.accountId ?? row!.account_id;
    } else {
      const acc = await this.db.selectFrom('accounts').select('id').where('handle', '=', input.target.handle).executeTakeFirst();
      if (!acc) throw notFound(`account '${input.target.handle}'`);
      accountId = acc.id;
    }
    const order: RemovalOrderRow = {
      id: newId('ord', now),
      authority: input.authority,
      member_state: input.memberState,
      reference: input.reference,
      legal_basis: input.legalBasis ?? (input.orderType === 'tco_removal' ? 'Regulation (EU) 2021/784, Art. 3' : 'Regulation (EU) 2022/2065, Art. 9'),
      order_type: input.orderType,
      target_kind: 'streamId' in input.target ? 'stream' : 'account',
      stream_id: streamId,
      account_id: accountId,
      description: input.description ?? null,
      received_at: now,
      received_by: actor,
      deadline_at: now + ORDER_DEADLINE_MS,
      acknowledged_at: null,
      executed_at: null,
      executed_by: null,
      actions: null,
      status: 'open',
      status_reason: null,
      overdue_at: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('removal_orders').values(order).execute();
      await appendAudit(trx, {
        actor,
        action: 'order.receive',
        targetType: 'order',
        targetId: order.id,
        reason: input.reference,
        detail: { authority: order.authority, memberState: order.member_state, target: input.target, deadline: order.deadline_at },
        at: now,
      });
    });
    return { order, duplicate: false };
  }

  async get(id: string): Promise<RemovalOrderRow> {
    const o = await this.db.selectFrom('removal_orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (!o) throw notFound(`order '${id}'`);
    return o;
  }

  async acknowledge(id: string, actor: string): Promise<RemovalOrderRow> {
    const o = await this.get(id);
    if (o.acknowledged_at !== null) return o;
    const now = this.now();
    await this.db.updateTable('removal_orders').set({ acknowledged_at: now }).where('id', '=', id).where('acknowledged_at', 'is', null).execute();
    await appendAudit(this.db, { actor, action: 'order.acknowledge', targetType: 'order', targetId: id, at: now });
    return { ...o, acknowledged_at: now };
  }

  /** Carries the order out: the cut and suspension happen here, then the order records what was done and when. */
  async execute(id: string, actor: string, input: ExecuteInput): Promise<RemovalOrderRow> {
    const o = await this.get(id);
    if (o.status !== 'open') throw new DomainError('conflict', `order '${id}' is already ${o.status}`);
    if (!input.cut && input.suspendDays === undefined && !input.bankEntryId)
      throw new DomainError('invalid', 'name what was done: cut, suspendDays or bankEntryId');
    const actions: OrderAction[] = [];
    if (input.cut) {
      const live = o.stream_id ? this.registry.get(o.stream_id) : undefined;
      const streams = live ? [live] : o.account_id ? this.registry.byAccount(o.account_id) : [];
      if (streams.length === 0) actions.push('already_offline');
      for (const s of streams) {
        const message = `removed under a removal order (${o.authority}, ${o.reference})`;
        // A decision of its own (decided by `order:<id>`, as the order's suspension is): the streamer reads
        // it, and its statement of reasons names the order as its source, not own initiative.
        const recorded = await recordManualCut(this.db, {
          streamId: s.id,
          accountId: s.accountId,
          subject: s.subject,
          actor: `order:${o.id}`,
          reason: `${message}: ${input.reason}`,
          category: 'terrorist-violent-extremism',
          origin: { kind: 'removal_order', orderId: o.id },
          at: this.now(),
        });
        await this.registry.cut(s.id, { reason: 'cut', message, streamerMessage: message, actor, detail: { orderId: o.id, decisionId: recorded.row.id } });
      }
      if (streams.length) actions.push('cut');
    }
    if (input.suspendDays !== undefined && o.account_id) {
      const acc = await this.db.selectFrom('accounts').select('handle').where('id', '=', o.account_id).executeTakeFirstOrThrow();
      await suspendAccount(this.db, { id: `order:${o.id}` }, acc.handle, {
        reason: `removal order ${o.reference} (${o.authority}): ${input.reason}`,
        durationSeconds: input.suspendDays === null ? undefined : input.suspendDays * 86400,
      });
      actions.push('suspended');
    }
    if (input.bankEntryId) actions.push('banked');
    const now = this.now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('removal_orders')
        .set({
          status: 'executed',
          executed_at: now,
          executed_by: actor,
          actions: JSON.stringify(actions),
          status_reason: input.reason,
          acknowledged_at: o.acknowledged_at ?? now,
        })
        .where('id', '=', id)
        .execute();
      await appendAudit(trx, {
        actor,
        action: 'order.execute',
        targetType: 'order',
        targetId: id,
        reason: input.reason,
        detail: { actions, bankEntryId: input.bankEntryId ?? null, msToExecute: now - o.received_at, late: now > o.deadline_at },
        at: now,
      });
    });
    return this.get(id);
  }

  async reject(id: string, actor: string, reason: string): Promise<RemovalOrderRow> {
    const o = await this.get(id);
    if (o.status !== 'open') throw new DomainError('conflict', `order '${id}' is already ${o.status}`);
    const now = this.now();
    await this.db
      .updateTable('removal_orders')
      .set({ status: 'rejected', status_reason: reason, acknowledged_at: o.acknowledged_at ?? now })
      .where('id', '=', id)
      .execute();
    await appendAudit(this.db, { actor, action: 'order.reject', targetType: 'order', targetId: id, reason, at: now });
    return this.get(id);
  }

  async list(q: { status?: 'open' | 'executed' | 'rejected' | 'overdue'; receivedBy?: string; limit?: number } = {}): Promise<RemovalOrderRow[]> {
    let query = this.db.selectFrom('removal_orders').selectAll();
    if (q.status === 'overdue') query = query.where('status', '=', 'open').where('deadline_at', '<', this.now());
    else if (q.status) query = query.where('status', '=', q.status);
    if (q.receivedBy) query = query.where('received_by', '=', q.receivedBy);
    return query
      .orderBy('deadline_at')
      .limit(q.limit ?? 500)
      .execute();
  }

  /** Marks orders that passed their deadline unexecuted (once each) and returns how many are overdue now. */
  async checkOverdue(): Promise<{ overdue: number; newlyOverdue: RemovalOrderRow[] }> {
    const now = this.now();
    const open = await this.db.selectFrom('removal_orders').selectAll().where('status', '=', 'open').where('deadline_at', '<', now).execute();
    const fresh = open.filter((o) => o.overdue_at === null);
    for (const o of fresh) {
      await this.db.updateTable('removal_orders').set({ overdue_at: now }).where('id', '=', o.id).where('overdue_at', 'is', null).execute();
      await appendAudit(this.db, {
        actor: 'system',
        action: 'order.overdue',
        targetType: 'order',
        targetId: o.id,
        reason: `not executed within one hour of receipt (${o.reference})`,
        at: now,
      });
      this.onOverdue({ ...o, overdue_at: now });
    }
    return { overdue: open.length, newlyOverdue: fresh.map((o) => ({ ...o, overdue_at: now })) };
  }
}
