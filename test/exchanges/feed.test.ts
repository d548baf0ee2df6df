import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModgateExchange } from '../../gateway/exchanges/modgate.ts';
import { SIGNATURE_HEADER, signFeedBody } from '../../gateway/exchanges/feed-format.ts';
import { seededHash } from '../helpers/hashes.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** The feed a gateway serves its partners: scoped, checkpointed, signed, long-polled. */

let g: TestGateway;
let token: string;

beforeAll(async () => {
  g = await startTestGateway({ extra: { exchanges: { enabled: false, pollMs: 1000 } } });
  for (const name of ['shared', 'private']) expect((await g.api.post('/api/v1/banks', { name, category: 'terrorist-violent-extremism' })).status).toBe(201);
  const res = await g.api.post<{ token: string }>('/api/v1/exchange/partners', { name: 'acme', banks: ['shared'] });
  expect(res.status).toBe(201);
  token = res.body.token;
});
afterAll(async () => g?.stop());

const feed = (query: string, bearer = token) => fetch(`${g.httpUrl}/api/v1/exchange/feed?${query}`, { headers: { authorization: `Bearer ${bearer}` } });

describe('GET /api/v1/exchange/feed', () => {
  it("serves only the partner's banks, signed with its token, and moves on from the checkpoint", async () => {
    const [a, b, hidden] = [seededHash(1), seededHash(2), seededHash(3)];
    expect((await g.api.post('/api/v1/banks/shared/entries', { entries: [{ hash: a }, { hash: b }] })).status).toBe(200);
    expect((await g.api.post('/api/v1/banks/private/entries', { entries: [{ hash: hidden }] })).status).toBe(200);
    const res = await feed('checkpoint=0');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(res.headers.get(SIGNATURE_HEADER)).toBe(signFeedBody(token, body));
    const page = JSON.parse(body) as { checkpoint: string; more: boolean; deltas: Array<{ hash: string; bank: string; deleted: boolean; key: string }> };
    expect(page.deltas.map((d) => d.hash).sort()).toEqual([a, b].sort());
    expect(page.deltas.every((d) => d.bank === 'shared' && !d.deleted && d.key === `pdq:${d.hash}`)).toBe(true);

    // From its checkpoint: nothing new (no wait), then a disabled bank arrives as tombstones.
    const again = JSON.parse(await (await feed(`checkpoint=${page.checkpoint}`)).text()) as typeof page;
    expect(again.deltas).toEqual([]);
    expect((await g.api.post('/api/v1/banks/shared/disable', { reason: 'test' })).status).toBe(200);
    const gone = JSON.parse(await (await feed(`checkpoint=${again.checkpoint}`)).text()) as typeof page;
    expect(gone.deltas.map((d) => [d.hash, d.deleted]).sort()).toEqual(
      [
        [a, true],
        [b, true],
      ].sort(),
    );
    expect(Number(gone.checkpoint)).toBeGreaterThan(Number(again.checkpoint));
  });

  it('a long-poll answers as soon as an entry lands', async () => {
    expect((await g.api.post('/api/v1/banks/shared/disable', { reason: 'back on', enabled: true })).status).toBe(200);
    const at = JSON.parse(await (await feed('checkpoint=0&limit=5000')).text()) as { checkpoint: string };
    const waiting = feed(`checkpoint=${at.checkpoint}&wait=60`);
    const h = seededHash(9);
    expect((await g.api.post('/api/v1/banks/shared/entries', { entries: [{ hash: h }] })).status).toBe(200);
    const page = JSON.parse(await (await waiting).text()) as { deltas: Array<{ hash: string }> };
    expect(page.deltas.map((d) => d.hash)).toEqual([h]);
  });

  it('refuses a missing, wrong or revoked token (401) and a checkpoint it never handed out (400)', async () => {
    expect((await feed('checkpoint=0', 'px_' + 'A'.repeat(43))).status).toBe(401);
    expect((await fetch(`${g.httpUrl}/api/v1/exchange/feed`)).status).toBe(401);
    expect((await feed('checkpoint=DROP TABLE')).status).toBe(400);
    const other = await g.api.post<{ token: string }>('/api/v1/exchange/partners', { name: 'gone', banks: ['shared'] });
    expect((await g.api.post('/api/v1/exchange/partners/gone/revoke', {})).status).toBe(200);
    expect((await feed('checkpoint=0', other.body.token)).status).toBe(401);
  });

  it('a reader refuses a page whose signature does not match (altered on the way)', async () => {
    const tamper: typeof fetch = async (url, init) => {
      const res = await fetch(url, init);
      const text = (await res.text()).replace(
        /"deltas":\[/,
        '"deltas":[{"key":"pdq:' +
          'f'.repeat(64) +
          '","signal_type":"pdq","hash":"' +
          'f'.repeat(64) +
          '","bank":"shared","category":"x","severity":"critical","deleted":false},',
      );
      return new Response(text, { status: res.status, headers: res.headers });
    };
    const honest = new ModgateExchange({ url: g.httpUrl, credential: token, waitS: 0 });
    expect((await honest.fetchDeltas(null)).deltas.size).toBeGreaterThan(0);
    const altered = new ModgateExchange({ url: g.httpUrl, credential: token, waitS: 0, fetch: tamper });
    await expect(altered.fetchDeltas(null)).rejects.toMatchObject({ code: 'malformed_page' });
  });
});
