import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { DETECTION_INTERNALS } from '../../gateway/enforcement/streamer-words.ts';
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

/** The statements of an account, as moderators list them. */
async function statementsFor(handle: string): Promise<StatementView[]> {
  return (await t.mod.get<{ statements: StatementView[] }>(`/api/v1/statements?account=${handle}`)).body.statements;
}

describe('statements of reasons', () => {
  it('a bank-match cut yields a statement with the ground, category, automation fields and end date; the streamer reads it; overturning updates it', async () => {
    const a = await t.account('sor-alice', { subject: 'idp:sor-alice' });
    // A second account of the same person: the decision's suspension binds it too.
    await t.account('sor-alice-2', { subject: 'idp:sor-alice' });
    const { token } = await issueAccountToken(t.gw.store.db, { id: 'test' }, 'sor-alice');
    const me = new ApiClient(t.httpUrl, token);
    const p = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
    publishers.push(p);
    const live = await t.waitForStream('sor-alice', 15_000);
    const signal = hashMatch(live.id);
    t.gw.runner.onSignal(signal);
    await p.done;
    const decision = await waitFor(
      () => t.gw.store.db.selectFrom('decisions').selectAll().where('stream_id', '=', live.id).executeTakeFirst(),
      15_000,
      'the decision',
    );
    expect(decision.rule_id).toBe('tve-known-content');
    // The statement cites the stored signal (signals are written in batches): wait for it, as a later sync would.
    await waitFor(
      async () =>
        (await t.gw.store.db.selectFrom('signals').select('id').where('stream_id', '=', live.id).where('observed_at', '=', signal.observedAt).execute())
          .length > 0,
      15_000,
      'the stored signal',
    );

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
    // The facts in plain words: what kind of content, never the bank, the distance or the engine's limits.
    expect(words.text.join(' ')).toContain('a frame of the stream matched known terrorist or violent extremist content');
    expect(words.text.join(' ')).not.toMatch(DETECTION_INTERNALS);
    // The public database reads the same plain facts: no bank or distance that would tell an evader how
    // close a copy came (moderators read those on the decision itself).
    expect(String(s.statement.decision_facts)).toContain('matched known terrorist or violent extremist content');
    expect(String(s.statement.decision_facts)).not.toMatch(DETECTION_INTERNALS);

    // The other account of the person: a statement of its own, the suspension only, pointing at the decision.
    const other = (await t.mod.get<{ statements: StatementView[] }>('/api/v1/statements?account=sor-alice-2')).body.statements;
    expect(other).toHaveLength(1);
    expect(other[0]!.decisionId).toBeNull();
    expect(other[0]!.puid).not.toBe(s.puid);
    expect(other[0]!.statement).toMatchObject({
      decision_account: 'DECISION_ACCOUNT_SUSPENDED',
      end_date_account_restriction: new Date(decision.decided_at + 30 * DAY).toISOString().slice(0, 10),
      category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
      automated_decision: 'AUTOMATED_DECISION_FULLY',
      source_type: 'SOURCE_VOLUNTARY',
    });
    expect(other[0]!.statement).not.toHaveProperty('decision_visibility');
    expect(other[0]!.plain.join(' ')).toContain(`appeal decision ${decision.id} from the account it was taken on`);
    expect(other[0]!.delivery).toBe('submitted');

    expect((await t.mod.post(`/api/v1/decisions/${decision.id}/overturn`, { reason: 'news reporting, not propaganda' })).status).toBe(200);
    await t.gw.accountability.syncNow();
    const after = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${s.id}`);
    expect(after.body).toMatchObject({ status: 'overturned', overturnReason: 'news reporting, not propaganda', puid: s.puid });
    const mineAfter = await me.get<{ statements: Array<{ status: string; text: string[] }> }>('/api/v1/me');
    expect(mineAfter.body.statements[0]!.status).toBe('overturned');
    expect(mineAfter.body.statements[0]!.text.join(' ')).toContain('overturned');
    expect(mineAfter.body.statements[0]!.text.join(' ')).toContain('news reporting, not propaganda');
    // The overturn lifted the person's suspension: the other account's statement says so too.
    const otherAfter = await t.mod.get<StatementView>(`/api/v1/statements/${other[0]!.id}`);
    expect(otherAfter.body.status).toBe('overturned');
  });

  it("a moderator's suspension binds the person: every account of theirs, also one verified later, gets a statement with the suspension's category; lifting updates each", async () => {
    await t.account('sor-person-a', { subject: 'idp:sor-person' });
    await t.account('sor-person-b', { subject: 'idp:sor-person' });
    const res = await t.mod.post<{ suspension: { id: string; category: string | null } }>('/api/v1/accounts/sor-person-a/suspend', {
      reason: 'showed a real assault on stream',
      durationSeconds: 14 * 86_400,
      category: 'graphic-violence',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.suspension.category).toBe('graphic-violence');
    await t.gw.accountability.syncNow();
    // Verified as the same person after the suspension: bound from then on, so the next sync gives it a statement.
    await t.account('sor-person-c', { subject: 'idp:sor-person' });
    await t.gw.accountability.syncNow();

    const [a, b, c] = await Promise.all([statementsFor('sor-person-a'), statementsFor('sor-person-b'), statementsFor('sor-person-c')]);
    const end = (await t.gw.store.db.selectFrom('suspensions').select('ends_at').where('id', '=', res.body.suspension.id).executeTakeFirstOrThrow()).ends_at!;
    for (const list of [a, b, c]) {
      expect(list).toHaveLength(1);
      expect(list[0]!.statement).toMatchObject({
        decision_account: 'DECISION_ACCOUNT_SUSPENDED',
        end_date_account_restriction: new Date(end).toISOString().slice(0, 10),
        decision_ground: 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
        category: 'STATEMENT_CATEGORY_VIOLENCE',
        incompatible_content_ground: 'Community guidelines: graphic violence',
        source_type: 'SOURCE_VOLUNTARY',
        automated_detection: 'No',
        automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
      });
      expect(list[0]!.delivery).toBe('submitted');
    }
    expect(new Set([a[0]!.puid, b[0]!.puid, c[0]!.puid]).size).toBe(3);
    expect(a[0]!.plain.join(' ')).not.toContain('another account');
    expect(b[0]!.plain.join(' ')).toContain('issued on another account of yours');
    expect([...tdb.unknownFields]).toEqual([]);

    expect((await t.mod.post('/api/v1/accounts/sor-person-b/unsuspend', { reason: 'it was a film scene' })).status).toBe(200);
    await t.gw.accountability.syncNow();
    for (const s of [a[0]!, b[0]!, c[0]!]) {
      const after = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${s.id}`);
      expect(after.body).toMatchObject({ status: 'overturned', overturnReason: 'it was a film scene' });
      expect(after.body.plain.join(' ')).toContain('This suspension was lifted');
    }
  });

  it('a court-ordered ban gives every account of the person a statement (legal reference as ground, suspended to its end date, not automated), also one verified after the ban; the streamer reads it; lifting updates them', async () => {
    await t.account('sor-banned-1', { subject: 'idp:sor-banned' });
    const endsAt = Date.now() + 180 * DAY;
    const ban = await t.api.post<{ ban: { id: string } }>('/api/v1/bans', {
      handle: 'sor-banned-1',
      kind: 'court_order',
      legalReference: 'TJ Paris, 12 nov. 2026, n° 26/01234 (loi SREN art. 5)',
      authority: 'Tribunal judiciaire de Paris',
      reason: 'bannissement: six months',
      category: 'violent-extremism',
      endsAt: new Date(endsAt).toISOString(),
    });
    expect(ban.status, JSON.stringify(ban.body)).toBe(201);
    await t.gw.accountability.syncNow();
    // A new account verified as the same person after the ban.
    await t.account('sor-banned-2', { subject: 'idp:sor-banned' });
    await t.gw.accountability.syncNow();

    const [first, second] = await Promise.all([statementsFor('sor-banned-1'), statementsFor('sor-banned-2')]);
    for (const list of [first, second]) {
      expect(list).toHaveLength(1);
      expect(list[0]!.decisionId).toBeNull();
      expect(list[0]!.statement).toMatchObject({
        decision_account: 'DECISION_ACCOUNT_SUSPENDED',
        end_date_account_restriction: new Date(endsAt).toISOString().slice(0, 10),
        decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT',
        illegal_content_legal_ground: 'TJ Paris, 12 nov. 2026, n° 26/01234 (loi SREN art. 5)',
        category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
        category_specification: ['KEYWORD_TERRORIST_CONTENT'],
        source_type: 'SOURCE_TYPE_OTHER_NOTIFICATION',
        source_identity: 'Tribunal judiciaire de Paris',
        automated_detection: 'No',
        automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
      });
      expect(String(list[0]!.statement.illegal_content_explanation)).toContain('bannissement: six months');
      expect(list[0]!.statement).not.toHaveProperty('decision_visibility');
      expect(list[0]!.delivery).toBe('submitted');
    }
    // The later account's restriction applies from its verification, not from the ban.
    const firstRow = await t.gw.store.db.selectFrom('statements').select('decided_at').where('id', '=', first[0]!.id).executeTakeFirstOrThrow();
    const secondRow = await t.gw.store.db.selectFrom('statements').select('decided_at').where('id', '=', second[0]!.id).executeTakeFirstOrThrow();
    expect(secondRow.decided_at).toBeGreaterThanOrEqual(firstRow.decided_at);
    expect([...tdb.unknownFields]).toEqual([]);

    const { token } = await issueAccountToken(t.gw.store.db, { id: 'test' }, 'sor-banned-2');
    const me = await new ApiClient(t.httpUrl, token).get<{ goLive: { reason: string }; statements: Array<{ text: string[]; ground: string }> }>('/api/v1/me');
    expect(me.body.goLive.reason).toBe('banned');
    const words = me.body.statements[0]!.text.join(' ');
    expect(words).toContain('you are banned from live streaming until');
    expect(words).toContain('ordered by a court');
    expect(words).toContain('challenged before the courts');
    expect(words).not.toMatch(DETECTION_INTERNALS);

    expect((await t.api.post(`/api/v1/bans/${ban.body.ban.id}/lift`, { reason: 'order set aside on appeal' })).status).toBe(200);
    await t.gw.accountability.syncNow();
    for (const s of [first[0]!, second[0]!]) {
      const after = await t.mod.get<StatementView & { overturnReason: string }>(`/api/v1/statements/${s.id}`);
      expect(after.body).toMatchObject({ status: 'overturned', overturnReason: 'order set aside on appeal' });
      expect(after.body.plain.join(' ')).toContain('This ban was lifted');
    }
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
