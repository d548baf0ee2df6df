import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { suspendAccount } from '../../gateway/enforcement/suspensions.ts';
import { issueAccountToken } from '../../gateway/identity/account-tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { ApiClient, FFMPEG, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { startTransparencyDb, type TransparencyDbStandIn } from '../helpers/transparency-db.ts';

/**
 * Statements of reasons end to end: a real RTMP publish, a bank-match signal through the real policy
 * runner and the default one-strike policy, the cut and 30-day suspension it decides, the statement made
 * from it, what the streamer reads at /me, the overturn, and the outbox delivering to a local stand-in of
 * the Transparency Database that validates the real field rules (test/helpers/transparency-db.ts).
 */

const DAY = 86_400_000;
let tdb: TransparencyDbStandIn;
let t: TestGateway;
const publishers: Publisher[] = [];

beforeAll(async () => {
  tdb = await startTransparencyDb();
  t = await startTestGateway({
    accountability: {
      territorialScope: ['DE', 'FR', 'IE'],
      contentLanguage: 'EN',
      termsUrl: 'https://example.org/terms',
      // The test drives every pass itself (syncNow); backoff short so retries are quick.
      transparencyDb: { url: tdb.url, token: tdb.token, batchSize: 100, intervalMs: 3_600_000, backoffMs: 10, maxBackoffMs: 50 },
    },
  });
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await t?.stop();
  await tdb?.close();
});

function hashMatch(streamId: string): Signal {
  return {
    streamId,
    frameTimeMs: 2000,
    observedAt: Date.now(),
    source: 'hash_match',
    label: 'terrorist-violent-extremism',
    match: {
      bank: 'tve',
      entryId: 'ent_1',
      distance: 4,
      variant: 'original',
      category: 'terrorist-violent-extremism',
      severity: 'critical',
      frameHash: 'a'.repeat(64),
      quality: 90,
    },
    version: 'pdq@test',
    evidenceRef: null,
  };
}

interface StatementView {
  id: string;
  puid: string;
  status: string;
  delivery: string;
  decisionId: string | null;
  plain: string[];
  statement: Record<string, unknown>;
}

describe('statements of reasons', () => {
  it('a bank-match cut yields a statement with the ground, category, automation fields and end date; the streamer reads it; overturning updates it', async () => {
    const a = await t.account('sor-alice', { subject: 'idp:sor-alice' });
    const { token } = await issueAccountToken(t.gw.store.db, { id: 'test' }, 'sor-alice');
    const me = new ApiClient(t.httpUrl, token);
    const p = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
    publishers.push(p);
    const live = await t.waitForStream('sor-alice', 15_000);
    t.gw.runner.onSignal(hashMatch(live.id));
    await p.done;
    const decision = await waitFor(
      () => t.gw.store.db.selectFrom('decisions').selectAll().where('stream_id', '=', live.id).executeTakeFirst(),
      15_000,
      'the decision',
    );
    expect(decision.rule_id).toBe('tve-known-content');

    await t.gw.accountability.syncNow();
    const list = await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-alice');
    expect(list.status).toBe(200);
    expect(list.body.statements).toHaveLength(1);
    const s = list.body.statements[0]!;
    expect(s.decisionId).toBe(decision.id);
    expect(s.puid).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(s.statement).toMatchObject({
      puid: s.puid,
      decision_visibility: ['DECISION_VISIBILITY_CONTENT_REMOVED'],
      decision_account: 'DECISION_ACCOUNT_SUSPENDED',
      end_date_account_restriction: new Date(decision.decided_at + 30 * DAY).toISOString().slice(0, 10),
      decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT',
      category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
      category_specification: ['KEYWORD_TERRORIST_CONTENT'],
      content_type: ['CONTENT_TYPE_VIDEO'],
      territorial_scope: ['DE', 'FR', 'IE'],
      content_language: 'EN',
      decision_ground_reference_url: 'https://example.org/terms',
      source_type: 'SOURCE_VOLUNTARY',
      automated_detection: 'Yes',
      automated_decision: 'AUTOMATED_DECISION_FULLY',
      application_date: new Date(decision.decided_at).toISOString().slice(0, 10),
    });
    expect(String(s.statement.illegal_content_legal_ground)).toContain('2021/784');
    expect(s.statement).not.toHaveProperty('incompatible_content_ground');
    // Delivered, and the stand-in's validation (the database's rules) found nothing to refuse or ignore.
    expect(s.delivery).toBe('submitted');
    expect(tdb.stored.get(s.puid)).toMatchObject({ category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY' });
    expect([...tdb.unknownFields]).toEqual([]);

    const mine = await me.get<{ statements: Array<{ id: string; status: string; text: string[]; ground: string; automatedDecision: boolean }> }>('/api/v1/me');
    expect(mine.status).toBe(200);
    expect(mine.body.statements).toHaveLength(1);
    const words = mine.body.statements[0]!;
    expect(words).toMatchObject({ id: s.id, status: 'in_force', ground: 'illegal_content', automatedDecision: true });
    expect(words.text.join(' ')).toContain('your live stream was ended and you cannot go live until');
    expect(words.text.join(' ')).toContain('decided automatically');

    expect((await t.mod.post(`/api/v1/decisions/${decision.id}/overturn`, { reason: 'news reporting, not propaganda' })).status).toBe(200);
    await t.gw.accountability.syncNow();
    const after = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${s.id}`);
    expect(after.body).toMatchObject({ status: 'overturned', overturnReason: 'news reporting, not propaganda', puid: s.puid });
    const mineAfter = await me.get<{ statements: Array<{ status: string; text: string[] }> }>('/api/v1/me');
    expect(mineAfter.body.statements[0]!.status).toBe('overturned');
    expect(mineAfter.body.statements[0]!.text.join(' ')).toContain('overturned');
    expect(mineAfter.body.statements[0]!.text.join(' ')).toContain('news reporting, not propaganda');
  });

  it('a moderator suspension on its own has a statement decided by a person, permanent as a termination', async () => {
    await addAccount(t.gw.store.db, { id: 'test' }, { handle: 'sor-manual', verified: true, subject: 'idp:sor-manual' });
    await suspendAccount(t.gw.store.db, { id: 'token:mod-1' }, 'sor-manual', { reason: 'threats against a named person on stream' });
    await t.gw.accountability.syncNow();
    const list = await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-manual');
    expect(list.body.statements).toHaveLength(1);
    expect(list.body.statements[0]!.statement).toMatchObject({
      decision_account: 'DECISION_ACCOUNT_TERMINATED',
      end_date_account_restriction: null,
      automated_detection: 'No',
      automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
      decision_ground: 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
      incompatible_content_illegal: 'No',
    });
    expect(list.body.statements[0]!.statement).not.toHaveProperty('decision_visibility');
  });

  it("a moderator's cut is a decision with a statement decided by a person (own initiative); overturning it on appeal updates the statement", async () => {
    const a = await t.account('sor-modcut', { subject: 'idp:sor-modcut' });
    const { token } = await issueAccountToken(t.gw.store.db, { id: 'test' }, 'sor-modcut');
    const me = new ApiClient(t.httpUrl, token);
    const p = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
    publishers.push(p);
    const live = await t.waitForStream('sor-modcut', 15_000);
    const cut = await t.mod.post(`/api/v1/streams/${live.id}/cut`, { reason: 'graphic injury shown on stream', category: 'graphic-violence' });
    expect(cut.status).toBe(200);
    const exit = await p.done;
    // ffmpeg reads the moderator's words and the decision to appeal, from the onStatus.
    expect(/Server error: (.*)/.exec(exit.stderrTail)?.[1]).toMatch(/^cut: ended by a moderator: graphic injury shown on stream; to appeal decision dec_/);
    const decision = await t.gw.store.db.selectFrom('decisions').selectAll().where('stream_id', '=', live.id).executeTakeFirstOrThrow();
    expect(decision).toMatchObject({ rule_id: 'moderator-cut', review_status: 'none', shadow: 0, reason: 'graphic injury shown on stream' });
    expect(decision.decided_by).toMatch(/^token:/);

    await t.gw.accountability.syncNow();
    const list = await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-modcut');
    expect(list.body.statements).toHaveLength(1);
    const s = list.body.statements[0]!;
    expect(s.decisionId).toBe(decision.id);
    expect(s.statement).toMatchObject({
      decision_visibility: ['DECISION_VISIBILITY_CONTENT_REMOVED'],
      decision_ground: 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
      category: 'STATEMENT_CATEGORY_VIOLENCE',
      source_type: 'SOURCE_VOLUNTARY',
      automated_detection: 'No',
      automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
    });
    expect(s.statement).not.toHaveProperty('decision_account');
    expect(s.statement).not.toHaveProperty('source_identity');
    expect(String(s.statement.decision_facts)).toContain('graphic injury shown on stream');
    expect(s.delivery).toBe('submitted');
    expect([...tdb.unknownFields]).toEqual([]);

    // The streamer appeals the moderator's decision; a second moderator overturns it: the statement follows.
    const appeal = await me.post<{ appeal: { id: string } }>('/api/v1/me/appeals', { decisionId: decision.id, statement: 'it was stage make-up' });
    expect(appeal.status).toBe(201);
    expect((await t.mod.post(`/api/v1/appeals/${appeal.body.appeal.id}/decide`, { outcome: 'overturn', reason: 'stage make-up, not an injury' })).status).toBe(
      200,
    );
    await t.gw.accountability.syncNow();
    const after = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${s.id}`);
    expect(after.body).toMatchObject({ status: 'overturned', overturnReason: expect.stringContaining('stage make-up, not an injury') });
  });

  it("a moderator's cut of a reported stream is on notice (SOURCE_ARTICLE_16); lifting a moderator's suspension updates its statement", async () => {
    const a = await t.account('sor-reported', { subject: 'idp:sor-reported' });
    const p = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
    publishers.push(p);
    const live = await t.waitForStream('sor-reported', 15_000);
    expect((await new ApiClient(t.httpUrl, '').post('/api/v1/reports', { streamId: live.id, category: 'violence' })).status).toBe(202);
    expect((await t.mod.post(`/api/v1/streams/${live.id}/cut`, { reason: 'confirmed the viewers: a fight' })).status).toBe(200);
    await p.done;
    await t.gw.accountability.syncNow();
    const cutStatement = (await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-reported')).body.statements[0]!;
    expect(cutStatement.statement).toMatchObject({
      source_type: 'SOURCE_ARTICLE_16',
      source_identity: 'viewers of the live stream (reports)',
      automated_detection: 'No',
      automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
    });

    await suspendAccount(t.gw.store.db, { id: 'token:mod-1' }, 'sor-reported', { reason: 'repeated fights on stream', durationSeconds: 7 * 86_400 });
    await t.gw.accountability.syncNow();
    const suspension = (await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-reported')).body.statements.find(
      (x) => x.decisionId === null,
    )!;
    expect(suspension.statement).toMatchObject({ decision_account: 'DECISION_ACCOUNT_SUSPENDED', automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED' });
    expect((await t.mod.post('/api/v1/accounts/sor-reported/unsuspend', { reason: 'the other party started it' })).status).toBe(200);
    await t.gw.accountability.syncNow();
    const lifted = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${suspension.id}`);
    expect(lifted.body).toMatchObject({ status: 'overturned', overturnReason: 'the other party started it' });
  });

  it('the outbox sends batches of at most 100, retries through failures and lost answers, and never duplicates a puid', async () => {
    const db = t.gw.store.db;
    for (let i = 0; i < 150; i++) {
      const handle = `sor-bulk-${i}`;
      await addAccount(db, { id: 'test' }, { handle, verified: true, subject: `idp:${handle}` });
      await suspendAccount(db, { id: 'token:mod-1' }, handle, { reason: 'bulk', durationSeconds: 7 * 86400 });
    }
    // A malformed statement in the outbox (a puid the database refuses) must not hold up the others.
    const good = await db.selectFrom('statements').selectAll().executeTakeFirstOrThrow();
    await db
      .insertInto('statements')
      .values({
        ...good,
        id: 'sor_bad',
        puid: 'bad puid',
        source_kind: 'suspension',
        source_id: 'sus_bad',
        body: JSON.stringify({ ...(JSON.parse(good.body) as object), puid: 'bad puid' }),
        delivery: 'pending',
        submitted_at: null,
        next_attempt_at: 0,
      })
      .execute();

    const callsBefore = tdb.calls.length;
    tdb.failNext(2); // two 500s, nothing stored
    tdb.loseAnswerNext(1); // then one stored but answered 500: the retry must not duplicate it
    await t.gw.accountability.statements.sync();
    await waitFor(
      async () => {
        await t.gw.accountability.outbox!.flush();
        const pending = await db.selectFrom('statements').select('id').where('delivery', '=', 'pending').execute();
        return pending.length === 0;
      },
      30_000,
      'every statement delivered or rejected',
    );
    const calls = tdb.calls.slice(callsBefore);
    expect(calls.every((c) => c.count <= 100)).toBe(true);
    expect(calls.filter((c) => c.status === 500).length).toBe(3);
    expect(calls.some((c) => c.status === 422)).toBe(true);

    const rows = await db.selectFrom('statements').select(['puid', 'delivery', 'last_error']).execute();
    const submitted = rows.filter((r) => r.delivery === 'submitted');
    expect(rows.filter((r) => r.delivery === 'rejected').map((r) => r.puid)).toEqual(['bad puid']);
    expect(rows.find((r) => r.puid === 'bad puid')!.last_error).toContain('puid');
    // Every delivered statement is in the database exactly once (its store is keyed by puid and refuses repeats).
    expect(submitted.length).toBe(rows.length - 1);
    expect(new Set(submitted.map((r) => r.puid)).size).toBe(submitted.length);
    expect(submitted.every((r) => tdb.stored.has(r.puid))).toBe(true);
    expect(tdb.stored.size).toBe(submitted.length);
    expect([...tdb.unknownFields]).toEqual([]);
  });
});
