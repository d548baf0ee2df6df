import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addEntries } from '../../gateway/banks/manage.ts';
import { ExchangeFetchError, type SignalOpinion } from '../../gateway/exchanges/exchange.ts';
import { fetchText } from '../../gateway/exchanges/http.ts';
import { addExchange } from '../../gateway/exchanges/manage.ts';
import { OpinionOutbox, type OpinionSender } from '../../gateway/exchanges/opinion-outbox.ts';
import { giveOpinion, listOpinions, opinionView } from '../../gateway/exchanges/opinions.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { seededHash } from '../helpers/hashes.ts';
import { FakeTimers } from '../sampler/unit/fake-timers.ts';

/**
 * The opinion outbox on its own (the two-gateway case is opinion-delivery.test.ts): back-off per failed
 * attempt, one key for every attempt of an opinion, and one exchange's opinions delivered in the order
 * given even when the first one had to wait. The sender stands for the exchange runner (our interface).
 */

class Partner implements OpinionSender {
  down = true;
  /** An HTTP status the partner answers for a hash (through fetchText, as the real exchanges post). */
  readonly answers = new Map<string, number>();
  readonly calls: Array<{ hash: string; category: string; key: string; at: number }> = [];
  constructor(private readonly timers: FakeTimers) {}
  async reportOpinion(_exchange: string, _type: string, hash: string, opinion: SignalOpinion, key: string): Promise<boolean> {
    this.calls.push({ hash, category: opinion.category, key, at: this.timers.now() });
    if (this.down) throw new ExchangeFetchError('unreachable', 'connect ECONNREFUSED 127.0.0.1:9');
    const status = this.answers.get(hash) ?? 200;
    await fetchText(async () => new Response(status === 200 ? '{}' : '{"error":"no"}', { status }), 'http://127.0.0.1:9/x/opinions', { method: 'POST' });
    return true;
  }
}

let dir: string;
let store: Store;
let timers: FakeTimers;
let partner: Partner;
let outbox: OpinionOutbox;
let entryIds: string[];
let outcomes: string[];
const hashes = [seededHash(31), seededHash(32)];

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modgate-outbox-'));
  store = await openStore(`sqlite:${path.join(dir, 'db.sqlite')}`);
  timers = new FakeTimers();
  partner = new Partner(timers);
  outcomes = [];
  outbox = new OpinionOutbox({
    db: store.db,
    sender: partner,
    log: pino({ level: 'silent' }),
    timers,
    random: () => 0.5,
    retryBaseMs: 1_000,
    maxBackoffMs: 4_000,
    onAttempt: (_exchange, outcome) => outcomes.push(outcome),
  });
  await addExchange(store.db, randomBytes(32), 'token:ops', { name: 'acme', kind: 'modgate', url: 'http://127.0.0.1:9', credential: 'px_test' });
  await addEntries(
    store.db,
    'exchange:acme',
    'exchange-acme',
    hashes.map((hash) => ({ hash })),
  );
  entryIds = await Promise.all(
    hashes.map(async (h) => (await store.db.selectFrom('bank_entries').select('id').where('hash', '=', h).executeTakeFirstOrThrow()).id),
  );
});
afterEach(async () => {
  await outbox.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const row = async (id: number) => store.db.selectFrom('entry_opinions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('the opinion outbox', () => {
  it('backs off after each failed attempt (doubling, capped) and sends the same key every time', async () => {
    const given = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[0]!, 'deconfirm', 'not the attack', timers.now());
    expect(given.reportError).toMatch(/^unreachable: /);
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await row(given.opinion.id);
      expect(r.delivery).toBe('pending');
      gaps.push(Number(r.next_attempt_at) - timers.now());
      await timers.advance(gaps.at(-1)! - 1);
      await outbox.deliverDue(); // not due yet: nothing sent
      await timers.advance(1);
      await outbox.deliverDue();
    }
    expect(gaps).toEqual([1_000, 2_000, 4_000, 4_000]);
    expect(partner.calls).toHaveLength(5);
    expect(new Set(partner.calls.map((c) => c.key)).size).toBe(1);

    partner.down = false;
    await timers.advance(4_000);
    expect(await outbox.deliverDue()).toBe(1);
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'delivered', attempts: 6, report_error: null, next_attempt_at: null });
    expect(await outbox.deliverDue()).toBe(0);
    expect(partner.calls).toHaveLength(6);
  });

  it("keeps one exchange's opinions in the order given: a later one waits for the earlier one", async () => {
    const first = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[0]!, 'deconfirm', 'news footage', timers.now());
    // Given while the first waits: not tried ahead of it.
    const second = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[1]!, 'confirm', 'the attack', timers.now());
    expect(second.reportError).toBeNull();
    expect(partner.calls.map((c) => c.hash)).toEqual([hashes[0]]);
    await timers.advance(500);
    await outbox.deliverDue(); // the second is due, the first is not: neither is sent
    expect(partner.calls).toHaveLength(1);

    partner.down = false;
    await timers.advance(500);
    expect(await outbox.deliverDue()).toBe(2);
    expect(partner.calls.map((c) => [c.hash, c.category])).toEqual([
      [hashes[0], 'negative_class'],
      [hashes[0], 'negative_class'],
      [hashes[1], 'positive_class'],
    ]);
    expect((await row(first.opinion.id)).delivery).toBe('delivered');
    expect((await row(second.opinion.id)).delivery).toBe('delivered');
  });

  it('settles an opinion the exchange refuses (422) after one attempt, and sends the next one to that exchange', async () => {
    const first = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[0]!, 'deconfirm', 'news footage', timers.now());
    const second = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[1]!, 'confirm', 'the attack', timers.now());
    expect(partner.calls).toHaveLength(1); // the second waits behind the first

    partner.down = false;
    partner.answers.set(hashes[0]!, 422);
    await timers.advance(1_000);
    expect(await outbox.deliverDue()).toBe(1);
    expect(await row(first.opinion.id)).toMatchObject({ delivery: 'rejected', attempts: 2, next_attempt_at: null, reported_at: null });
    expect((await row(first.opinion.id)).report_error).toMatch(/^http_error: .*HTTP 422$/);
    expect((await row(second.opinion.id)).delivery).toBe('delivered');
    expect(outcomes).toEqual(['unreachable', 'rejected', 'delivered']);

    // Never tried again, and GET /api/v1/opinions shows it with the exchange's answer.
    await timers.advance(60_000);
    expect(await outbox.deliverDue()).toBe(0);
    expect(partner.calls.map((c) => c.hash)).toEqual([hashes[0], hashes[0], hashes[1]]);
    const listed = (await listOpinions(store.db, { delivery: 'rejected' })).map(opinionView);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: first.opinion.id, delivery: 'rejected', nextAttemptAt: null, reportError: expect.stringMatching(/^http_error: /) });
  });

  it.each([400, 404, 422])('settles a first attempt answered %i as rejected at once', async (status) => {
    partner.down = false;
    partner.answers.set(hashes[0]!, status);
    const given = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[0]!, 'deconfirm', 'news footage', timers.now());
    expect(given.reportedTo).toBeNull();
    expect(given.reportError).toMatch(/^http_error: /);
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'rejected', attempts: 1, next_attempt_at: null });
    expect(outcomes).toEqual(['rejected']);
  });

  it.each([503, 500, 408, 429])('retries an opinion answered %i until the exchange takes it', async (status) => {
    partner.down = false;
    partner.answers.set(hashes[0]!, status);
    const given = await giveOpinion(store.db, outbox, 'mod', 'exchange-acme', entryIds[0]!, 'deconfirm', 'news footage', timers.now());
    expect(given.reportError).toMatch(/^http_error: /);
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'pending', attempts: 1, next_attempt_at: timers.now() + 1_000 });

    await timers.advance(1_000);
    await outbox.deliverDue();
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'pending', attempts: 2 });
    partner.answers.delete(hashes[0]!);
    await timers.advance(2_000);
    expect(await outbox.deliverDue()).toBe(1);
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'delivered', attempts: 3, report_error: null });
    expect(outcomes).toEqual(['http_error', 'http_error', 'delivered']);
  });
});

describe('the opinion outbox with a dead exchange', () => {
  /** Fails every opinion to acme (down for good); takes those to beta. */
  const sends: string[] = [];
  const sender: OpinionSender = {
    async reportOpinion(exchange) {
      sends.push(exchange);
      if (exchange === 'acme') throw new ExchangeFetchError('unreachable', 'connect ECONNREFUSED 127.0.0.1:9');
      return true;
    },
  };
  beforeEach(() => {
    sends.length = 0;
  });

  it("does not let the dead exchange's backlog (more than a page of a pass) hold back another exchange's opinion", async () => {
    await addExchange(store.db, randomBytes(32), 'token:ops', { name: 'beta', kind: 'modgate', url: 'http://127.0.0.1:9', credential: 'px_test' });
    const [betaEntry] = (await addEntries(store.db, 'exchange:beta', 'exchange-beta', [{ hash: seededHash(33) }])).ids;
    // 600 opinions to acme, all older than beta's, all due.
    const backlog = Array.from({ length: 600 }, (_, i) => ({
      at: i,
      bank: 'exchange-acme',
      entry_id: entryIds[0]!,
      signal_type: 'pdq',
      hash: hashes[0]!,
      category: 'negative_class',
      tags: '[]',
      is_mine: 1,
      source: 'moderator',
      actor: 'mod',
      reason: null,
      exchange: 'acme',
      reported_at: null,
      report_error: null,
      delivery: 'pending',
      next_attempt_at: 0,
      idempotency_key: `k${i}`,
    }));
    for (let i = 0; i < backlog.length; i += 100)
      await store.db
        .insertInto('entry_opinions')
        .values(backlog.slice(i, i + 100))
        .execute();
    const given = await giveOpinion(store.db, null, 'mod', 'exchange-beta', betaEntry!, 'deconfirm', 'news footage', timers.now());
    expect(given.opinion.delivery).toBe('pending');

    const dead = new OpinionOutbox({ db: store.db, sender, log: pino({ level: 'silent' }), timers, random: () => 0.5, retryBaseMs: 1_000 });
    expect(await dead.deliverDue()).toBe(1);
    expect(await row(given.opinion.id)).toMatchObject({ delivery: 'delivered', attempts: 1 });
    // acme: its oldest opinion tried once and backing off, the rest waiting behind it in order.
    expect(sends.sort()).toEqual(['acme', 'beta']);
    const acme = await store.db
      .selectFrom('entry_opinions')
      .select(['attempts'])
      .where('exchange', '=', 'acme')
      .where('delivery', '=', 'pending')
      .orderBy('id')
      .execute();
    expect(acme).toHaveLength(600);
    expect(acme.filter((r) => r.attempts > 0)).toEqual([{ attempts: 1 }]);
    expect(acme[0]).toEqual({ attempts: 1 });
  });

  it('delivers every due opinion of a live exchange in one pass, also past a page', async () => {
    await addExchange(store.db, randomBytes(32), 'token:ops', { name: 'beta', kind: 'modgate', url: 'http://127.0.0.1:9', credential: 'px_test' });
    const [betaEntry] = (await addEntries(store.db, 'exchange:beta', 'exchange-beta', [{ hash: seededHash(34) }])).ids;
    for (let i = 0; i < 250; i++) await giveOpinion(store.db, null, 'mod', 'exchange-beta', betaEntry!, i % 2 ? 'confirm' : 'deconfirm', null, timers.now());
    const live = new OpinionOutbox({ db: store.db, sender, log: pino({ level: 'silent' }), timers });
    expect(await live.deliverDue()).toBe(250);
    expect(await store.db.selectFrom('entry_opinions').select('id').where('delivery', '=', 'pending').execute()).toEqual([]);
  });
});
