import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => t?.stop());

describe('moderator strikes and bank export over the API', () => {
  it('a moderator records a strike by hand; it is listed as active, audited, and can be voided', async () => {
    await t.account('reported');
    const res = await t.mod.post<{ strike: { id: string; severity: string } }>('/api/v1/accounts/reported/strikes', {
      category: 'graphic-violence',
      severity: 'high',
      reason: 'user report #481 confirmed',
      expiresInDays: 90,
    });
    expect(res.status).toBe(201);
    const id = res.body.strike.id;
    const list = await t.mod.get<{ strikes: Array<{ id: string; active: boolean; ruleId: string }> }>('/api/v1/accounts/reported/strikes');
    expect(list.body.strikes).toEqual([expect.objectContaining({ id, active: true, ruleId: 'manual' })]);

    const voided = await t.mod.post(`/api/v1/strikes/${id}/void`, { reason: 'entered on the wrong account' });
    expect(voided.status).toBe(200);
    const after = await t.mod.get<{ strikes: Array<{ active: boolean; voided: boolean }> }>('/api/v1/accounts/reported/strikes');
    expect(after.body.strikes[0]).toMatchObject({ active: false, voided: true });
    expect((await t.mod.post(`/api/v1/strikes/${id}/void`, { reason: 'again' })).status).toBe(404);

    const audit = await t.mod.get<{ records: Array<{ action: string }> }>('/api/v1/audit?targetId=reported');
    expect(audit.body.records.map((r) => r.action)).toContain('strike.add');
  });

  it('a strike with a bad severity is refused with 400 naming the field', async () => {
    await t.account('bad-strike');
    const res = await t.mod.post<{ field: string }>('/api/v1/accounts/bad-strike/strikes', { category: 'x', severity: 'extreme', reason: 'r' });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('body.severity');
  });

  it('a bank exports as CSV with its header, and as plain hashes', async () => {
    expect((await t.api.post('/api/v1/banks', { name: 'exp', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const hash = 'f'.repeat(63) + '0';
    expect((await t.mod.post('/api/v1/banks/exp/entries', { entries: [{ hash, note: 'clip, 3' }] })).status).toBe(200);
    const csv = await fetch(`${t.httpUrl}/api/v1/banks/exp/export`, { headers: { authorization: `Bearer ${t.moderatorToken}` } });
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const text = await csv.text();
    expect(text.split('\n')[0]).toBe('hash,category,note,source,severity');
    expect(text).toContain(`${hash},terrorist-violent-extremism,"clip, 3"`);
    const plain = await (await fetch(`${t.httpUrl}/api/v1/banks/exp/export?format=plain`, { headers: { authorization: `Bearer ${t.moderatorToken}` } })).text();
    expect(plain).toBe(`${hash}\n`);
    expect((await fetch(`${t.httpUrl}/api/v1/banks/nope/export`, { headers: { authorization: `Bearer ${t.moderatorToken}` } })).status).toBe(404);
  });
});
