import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededHash } from '../helpers/hashes.ts';
import { startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';

/**
 * Our opinion of a partner's hash is delivered even when the partner is down when it is given: two real
 * gateways (A serving its `shared` bank to B, each its own SQLite file), A stopped, a moderator on B
 * deconfirms A's hash → the opinion waits in B's outbox (API, /metrics) and is retried; B restarts while
 * A is still down → it still waits; A comes back on its port → B delivers it, and A records it once, even
 * when B sends it again because the first answer was lost (the same Idempotency-Key).
 */

interface OpinionView {
  id: number;
  hash: string;
  source: string;
  category: string;
  delivery: string | null;
  attempts: number;
  reportError: string | null;
  nextAttemptAt: number | null;
}

const hash = seededHash(1301);
let root: string;
let A: TestGateway;
let B: TestGateway;
let aPort = 0;

const startA = (port = 0) =>
  startTestGateway({
    dataDir: path.join(root, 'a'),
    db: `sqlite:${path.join(root, 'a', 'modgate.sqlite')}`,
    extra: { exchanges: { enabled: false }, ...(port ? { http: { host: '127.0.0.1', port, checkResponses: true } } : {}) },
  });
const startB = () =>
  startTestGateway({
    dataDir: path.join(root, 'b'),
    db: `sqlite:${path.join(root, 'b', 'modgate.sqlite')}`,
    extra: { exchanges: { enabled: true, pollMs: 200, opinionRetryBaseMs: 200, opinionMaxBackoffMs: 1_000 } },
  });
const ours = async () => (await B.mod.get<{ opinions: OpinionView[] }>(`/api/v1/opinions?mine=true&hash=${hash}`)).body.opinions;
const receivedOnA = async () => (await A.mod.get<{ opinions: OpinionView[] }>(`/api/v1/opinions?mine=false&hash=${hash}`)).body.opinions;
const metricLine = async (g: TestGateway, delivery: string) =>
  String((await g.api.get<string>('/metrics')).body)
    .split('\n')
    .find((l) => l.startsWith(`modgate_exchange_opinions{exchange="platform-a",delivery="${delivery}"`));

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'modgate-opinions-'));
  A = await startA();
  aPort = A.httpPort;
  expect((await A.api.post('/api/v1/banks', { name: 'shared', category: 'terrorist-violent-extremism' })).status).toBe(201);
  expect((await A.api.post('/api/v1/banks/shared/entries', { entries: [{ hash }] })).status).toBe(200);
  const partner = await A.api.post<{ token: string }>('/api/v1/exchange/partners', { name: 'platform-b', banks: ['shared'] });
  expect(partner.status).toBe(201);

  B = await startB();
  const added = await B.api.post('/api/v1/exchanges', { name: 'platform-a', kind: 'modgate', url: A.httpUrl, credential: partner.body.token, bank: 'from-a' });
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  await waitFor(
    async () => (await B.gw.store.db.selectFrom('bank_entries').select('id').where('bank', '=', 'from-a').where('hash', '=', hash).executeTakeFirst()) ?? null,
    60_000,
    "A's hash in B's bank",
  );
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([A?.stop(), B?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('a deconfirmation given while the partner is down', () => {
  it('waits in the outbox (API and /metrics) and is retried with back-off', async () => {
    await A.stop({ keepData: true });
    const res = await B.mod.post<{ opinion: OpinionView; reportedTo: string | null; reportError: string | null }>('/api/v1/banks/from-a/opinions', {
      hash,
      opinion: 'deconfirm',
      reason: 'a news broadcast, not the attack',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.reportedTo).toBeNull();
    expect(res.body.reportError).toMatch(/^unreachable: /);
    expect(res.body.opinion).toMatchObject({ category: 'negative_class', delivery: 'pending', attempts: 1 });
    expect(res.body.opinion.nextAttemptAt).not.toBeNull();

    // Tried again while A stays down: attempts grow, the opinion stays pending.
    const retried = await waitFor(async () => (await ours()).find((o) => o.attempts >= 3) ?? null, 60_000, 'two more attempts');
    expect(retried).toMatchObject({ delivery: 'pending' });
    expect(retried.reportError).toMatch(/^unreachable: /);
    expect((await B.mod.get<{ opinions: OpinionView[] }>('/api/v1/opinions?delivery=pending')).body.opinions.map((o) => o.id)).toEqual([retried.id]);
    expect(await metricLine(B, 'pending')).toMatch(/ 1$/);
    expect(String((await B.api.get<string>('/metrics')).body)).toMatch(/^modgate_exchange_opinions_oldest_pending_seconds\{exchange="platform-a"[^}]*\} \d/m);
    expect(String((await B.api.get<string>('/metrics')).body)).toMatch(
      /modgate_exchange_opinion_attempts_total\{exchange="platform-a",outcome="unreachable"[^}]*\} [3-9]/,
    );
  }, 120_000);

  it('survives a restart of our gateway while the partner is still down', async () => {
    await B.stop({ keepData: true });
    B = await startB();
    const [o] = await ours();
    expect(o).toMatchObject({ delivery: 'pending' });
  }, 120_000);

  it('is delivered once the partner is back, and recorded there once even when sent again', async () => {
    A = await startA(aPort);
    const delivered = await waitFor(async () => (await ours()).find((o) => o.delivery === 'delivered') ?? null, 60_000, 'the opinion delivered to A');
    expect(delivered.reportError).toBeNull();
    const got = await receivedOnA();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ source: 'partner:platform-b', category: 'negative_class' });
    const queue = (await A.mod.get<{ quarantines: Array<{ bank: string; reason: string }> }>('/api/v1/entry-quarantines')).body.quarantines;
    expect(queue).toEqual([expect.objectContaining({ bank: 'shared', reason: 'partner_opinion' })]);
    expect(await metricLine(B, 'delivered')).toMatch(/ 1$/);
    expect(await metricLine(B, 'pending')).toBeUndefined();

    // The answer was lost after A recorded it (as a crash between send and mark leaves it): B sends it again, with its key.
    await B.gw.store.db.updateTable('entry_opinions').set({ delivery: 'pending', next_attempt_at: 0 }).where('id', '=', delivered.id).execute();
    const again = await waitFor(
      async () => (await ours()).find((o) => o.delivery === 'delivered' && o.attempts > delivered.attempts) ?? null,
      60_000,
      'the repeat delivered',
    );
    expect(again.id).toBe(delivered.id);
    expect(await receivedOnA()).toHaveLength(1);
  }, 180_000);
});
