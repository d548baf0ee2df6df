import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_DEADLINE_MS, OrderService } from '../../gateway/accountability/orders/service.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { startPublisher } from '../helpers/ffmpeg-publisher.ts';
import { ApiClient, FFMPEG, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Removal orders (Regulation (EU) 2021/784, Art. 3: one hour from receipt): intake by a competent
 * authority's token, execution by a moderator that cuts a real RTMP publisher and suspends the account,
 * the time to execute recorded, and the overdue alert (audit, queue, metric) on an injected clock.
 */

let t: TestGateway;
let authority: ApiClient;

beforeAll(async () => {
  t = await startTestGateway();
  authority = new ApiClient(t.httpUrl, await t.token('authority', 'OCRVP-FR'));
});
afterAll(async () => t?.stop());

interface Order {
  id: string;
  authority: string;
  receivedAt: string;
  deadline: string;
  executedAt: string | null;
  msToExecute: number | null;
  actions: string[];
  status: string;
  overdue: boolean;
}

describe('removal orders', () => {
  it('an authority submits an order for a live stream; a moderator executes it: the stream is cut, the account suspended, the time recorded', async () => {
    const a = await t.account('tco-target', { subject: 'idp:tco-target' });
    const p = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
    const live = await t.waitForStream('tco-target', 15_000);

    // Only authority (or operator) tokens submit orders, and an authority token can do nothing else.
    expect((await t.mod.post('/api/v1/orders', { memberState: 'FR', reference: 'x', streamId: live.id })).status).toBe(403);
    expect((await authority.get('/api/v1/streams')).status).toBe(403);

    const res = await authority.post<{ order: Order }>('/api/v1/orders', {
      memberState: 'FR',
      reference: 'OCRVP-2026-1187',
      streamId: live.id,
      description: 'live-streamed attack',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const order = res.body.order;
    expect(order).toMatchObject({ authority: 'OCRVP-FR', status: 'open', overdue: false, actions: [] });
    expect(Date.parse(order.deadline) - Date.parse(order.receivedAt)).toBe(ORDER_DEADLINE_MS);
    // Sent twice, it is the same order.
    const again = await authority.post<{ order: Order }>('/api/v1/orders', { memberState: 'FR', reference: 'OCRVP-2026-1187', streamId: live.id });
    expect(again.status).toBe(200);
    expect(again.body.order.id).toBe(order.id);

    const queue = await t.mod.get<{ orders: Order[] }>('/api/v1/orders?status=open');
    expect(queue.body.orders.map((o) => o.id)).toContain(order.id);
    const done = await t.mod.post<{ order: Order }>(`/api/v1/orders/${order.id}/execute`, {
      cut: true,
      suspendDays: 30,
      bankEntryId: 'ent_tco_1',
      reason: 'terrorist content confirmed',
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.order).toMatchObject({ status: 'executed', actions: ['cut', 'suspended', 'banked'], overdue: false });
    expect(done.body.order.msToExecute).toBe(Date.parse(done.body.order.executedAt!) - Date.parse(order.receivedAt));
    expect(await p.done.then((r) => r.code)).not.toBe(0);
    expect((await t.mod.post(`/api/v1/orders/${order.id}/execute`, { reason: 'again' })).status).toBe(409);
    // The authority reads its order back; the suspension's statement of reasons names the order as its source.
    expect((await authority.get<Order>(`/api/v1/orders/${order.id}`)).body.status).toBe('executed');
    await t.gw.accountability.syncNow();
    const st = await t.mod.get<{ statements: Array<{ statement: Record<string, unknown> }> }>('/api/v1/statements?account=tco-target');
    expect(st.body.statements[0]!.statement).toMatchObject({
      source_type: 'SOURCE_TYPE_OTHER_NOTIFICATION',
      source_identity: 'OCRVP-FR (FR)',
      decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT',
      category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
    });
  });

  it('an unexecuted order alerts once after one hour (injected clock): audit record, overdue queue', async () => {
    await addAccount(t.gw.store.db, { id: 'test' }, { handle: 'tco-late', verified: true });
    let now = Date.UTC(2026, 11, 2, 10, 0);
    const alerts: string[] = [];
    const orders = new OrderService(
      t.gw.store.db,
      t.gw.registry,
      () => now,
      (o) => alerts.push(o.id),
    );
    const { order } = await orders.receive('token:OCRVP-FR', {
      authority: 'OCRVP-FR',
      memberState: 'FR',
      reference: 'late-1',
      orderType: 'tco_removal',
      target: { handle: 'tco-late' },
    });
    now += ORDER_DEADLINE_MS - 60_000;
    expect((await orders.checkOverdue()).newlyOverdue).toEqual([]);
    now += 2 * 60_000;
    const check = await orders.checkOverdue();
    expect(check.newlyOverdue.map((o) => o.id)).toEqual([order.id]);
    expect(alerts).toEqual([order.id]);
    now += 3600_000;
    expect((await orders.checkOverdue()).newlyOverdue).toEqual([]);
    expect(alerts).toEqual([order.id]);
    expect((await orders.list({ status: 'overdue' })).map((o) => o.id)).toContain(order.id);
    const audit = await t.mod.get<{ records: Array<{ targetId: string }> }>('/api/v1/audit?action=order.overdue');
    expect(audit.body.records.map((r) => r.targetId)).toContain(order.id);
    // Executed late, it records the time it took.
    const executed = await orders.execute(order.id, 'token:mod', { cut: true, reason: 'late but done' });
    expect(executed.executed_at! - executed.received_at).toBe(ORDER_DEADLINE_MS + 60_000 + 3600_000);
    expect(JSON.parse(executed.actions!)).toEqual(['already_offline']);
  });

  it("the gateway's overdue gauge counts open orders past their deadline", async () => {
    await addAccount(t.gw.store.db, { id: 'test' }, { handle: 'tco-gauge', verified: true });
    const res = await authority.post<{ order: Order }>('/api/v1/orders', { memberState: 'DE', reference: 'BKA-77', handle: 'tco-gauge' });
    expect(res.status).toBe(201);
    // The deadline passes (moved into the past rather than waiting an hour).
    await t.gw.store.db
      .updateTable('removal_orders')
      .set({ deadline_at: Date.now() - 1 })
      .where('id', '=', res.body.order.id)
      .execute();
    await t.gw.accountability.checkOrders();
    const metrics = (await t.api.get<string>('/metrics')).body;
    expect(metrics).toMatch(/^modgate_removal_orders_overdue\{node="[^"]+"\} [1-9]/m);
    expect(metrics).toMatch(/^modgate_removal_orders_overdue_total\{node="[^"]+"\} [1-9]/m);
    const overdue = await t.mod.get<{ orders: Order[] }>('/api/v1/orders?status=overdue');
    expect(overdue.body.orders.find((o) => o.id === res.body.order.id)?.overdue).toBe(true);
  });
});
