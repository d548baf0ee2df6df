import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../gateway/identity/webhook.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * A flood of forged identity-webhook posts cannot grow the append-only audit log by a row each: one row
 * per source and reason at once, one with the count when the window ends (here: at shutdown). Past 100
 * refusals a source gets 429, and a correctly signed event from the same source is still accepted.
 */

const SECRET = 'abuse-webhook-secret-0123456789abcdef';
let t: TestGateway;
let stopped = false;
beforeAll(async () => {
  t = await startTestGateway({ identity: { webhookSecret: SECRET, webhookToleranceSeconds: 60 } });
});
afterAll(async () => {
  if (!stopped) await t?.stop();
});

const refusedRows = async (db = t.gw.store.db) =>
  (await db.selectFrom('audit_log').select(['reason', 'detail']).where('action', '=', 'identity.webhook.refused').orderBy('id').execute()).map((r) => ({
    reason: r.reason,
    detail: r.detail ? (JSON.parse(r.detail) as { count?: number; aggregated?: boolean }) : null,
  }));

describe('identity webhook under a flood of forged posts', () => {
  it('1,000 forged posts add two audit rows (one at once, one with the count), the flood gets 429, a signed event is still accepted', async () => {
    await t.account('flooded', { verified: false });
    const forged = JSON.stringify({ id: 'evt_forged_flood', type: 'identity.verified', handle: 'flooded', subject: 'idp:x' });
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'x-modgate-timestamp': String(ts), 'x-modgate-signature': signWebhook('not-the-secret-0123456789abcdef', ts, forged) };
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 100; batch++) {
      const res = await Promise.all(Array.from({ length: 10 }, () => t.anon.post('/api/v1/identity/webhook', { raw: forged }, headers)));
      for (const r of res) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    expect(statuses.get(401)).toBe(100);
    expect(statuses.get(429)).toBe(900);
    const during = await refusedRows();
    expect(during).toEqual([{ reason: 'bad_signature', detail: expect.objectContaining({ count: 1 }) }]);

    const real = JSON.stringify({ id: 'evt_real_after_flood', type: 'identity.verified', handle: 'flooded', subject: 'idp:flooded' });
    const rts = Math.floor(Date.now() / 1000);
    const ok = await t.anon.post(
      '/api/v1/identity/webhook',
      { raw: real },
      { 'x-modgate-timestamp': String(rts), 'x-modgate-signature': signWebhook(SECRET, rts, real) },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const acc = await t.api.get<{ identity: { status: string } }>('/api/v1/accounts/flooded');
    expect(acc.body.identity.status).toBe('verified');

    // At shutdown the open window is written with its count: 999 further refusals in one row.
    await t.stop({ keepData: true });
    stopped = true;
    const { openStore } = await import('../../gateway/store/db.ts');
    const store = await openStore(`sqlite:${t.dataDir}/modgate.sqlite`);
    try {
      const rows = await refusedRows(store.db);
      expect(rows).toHaveLength(2);
      expect(rows[1]).toEqual({ reason: 'bad_signature', detail: expect.objectContaining({ count: 999, aggregated: true }) });
    } finally {
      await store.close();
      const { rmSync } = await import('node:fs');
      rmSync(t.dataDir, { recursive: true, force: true });
    }
  });
});
