import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flipBits, seededHash } from '../helpers/hashes.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * An HMA client's calls against modgate get HMA's answer shapes, as HMA's own code writes them
 * (facebook/ThreatExchange, hasher-matcher-actioner/src/OpenMediaMatch/blueprints/matching.py `lookup_get`
 * and curation.py `banks_index`, `bank_add_as_signals` / `_bank_add_signals`).
 */

let g: TestGateway;
beforeAll(async () => {
  g = await startTestGateway({ extra: { exchanges: { enabled: false, pollMs: 1000 } } });
  for (const name of ['tve', 'other']) expect((await g.api.post('/api/v1/banks', { name, category: 'terrorist-violent-extremism' })).status).toBe(201);
});
afterAll(async () => g?.stop());

describe('HMA-compatible routes', () => {
  it('POST /c/bank/<name>/signal banks a hash and answers {id, signals}; GET /m/lookup answers {BANK: [{bank_content_id, distance}]}', async () => {
    const h = seededHash(7);
    const added = await g.mod.post<{ id: number; signals: Record<string, string> }>('/c/bank/tve/signal', { pdq: h.toUpperCase() });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(Object.keys(added.body).sort()).toEqual(['id', 'signals']);
    expect(Number.isInteger(added.body.id)).toBe(true);
    expect(added.body.signals).toEqual({ pdq: h });
    const again = await g.mod.post<{ id: number }>('/c/bank/tve/signal', { pdq: h });
    expect(again.body.id).toBe(added.body.id);
    expect((await g.mod.post('/c/bank/other/signal', { pdq: h })).status).toBe(200);

    // Four bits away: a match at distance "4" (HMA's pretty_str() of the PDQ distance), in both banks.
    const near = flipBits(h, 4);
    const res = await g.mod.get<Record<string, Array<{ bank_content_id: number; distance: string }>>>(`/m/lookup?signal_type=pdq&signal=${near}`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['other', 'tve']);
    expect(res.body.tve).toEqual([{ bank_content_id: added.body.id, distance: '4' }]);
    expect(res.body.other![0]!.bank_content_id).not.toBe(added.body.id);

    // `banks` restricts the search; a far hash matches nothing ({}).
    const only = await g.mod.get<Record<string, unknown>>(`/m/lookup?signal_type=pdq&signal=${near}&banks=other`);
    expect(Object.keys(only.body)).toEqual(['other']);
    expect((await g.mod.get(`/m/lookup?signal_type=pdq&signal=${seededHash(8)}`)).body).toEqual({});
    // A disabled bank matches nothing.
    expect((await g.api.post('/api/v1/banks/other/disable', { reason: 'rollback' })).status).toBe(200);
    expect(Object.keys((await g.mod.get<Record<string, unknown>>(`/m/lookup?signal_type=pdq&signal=${near}`)).body)).toEqual(['tve']);
  });

  it('GET /c/banks lists BankConfig {name, matching_enabled_ratio}', async () => {
    const res = await g.mod.get<Array<{ name: string; matching_enabled_ratio: number }>>('/c/banks');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(
      expect.arrayContaining([
        { name: 'tve', matching_enabled_ratio: 1 },
        { name: 'other', matching_enabled_ratio: 0 },
      ]),
    );
  });

  it('bad input gets HMA statuses: an unknown signal type or a malformed hash is 400, an unknown bank 404, no token 401', async () => {
    expect((await g.mod.get('/m/lookup?signal_type=md5&signal=abc')).status).toBe(400);
    const bad = await g.mod.get<{ error: string; field: string }>('/m/lookup?signal_type=pdq&signal=xyz');
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('query.signal');
    expect((await g.mod.post('/c/bank/nope/signal', { pdq: seededHash(1) })).status).toBe(404);
    expect((await g.mod.post('/c/bank/tve/signal', { vmd5: 'abc' })).status).toBe(400);
    expect((await g.anon.get(`/m/lookup?signal_type=pdq&signal=${seededHash(1)}`)).status).toBe(401);
  });
});
