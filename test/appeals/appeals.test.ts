import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DETECTION_INTERNALS, streamerReason } from '../../gateway/enforcement/streamer-words.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { ApiClient, sleep, waitFor } from '../helpers/gateway.ts';
import { DAY, ffmpegPath, startAppealsGateway, type AppealsGateway, type Streamer } from './helpers.ts';

if (!ffmpegPath) console.warn('skipping the RTMP part of the appeal tests: no ffmpeg at /usr/bin/ffmpeg (set MODGATE_TEST_FFMPEG)');

interface Me {
  handle: string;
  canGoLive: boolean;
  goLive: { allowed: boolean; reason: string | null; message: string };
  activeSuspension: {
    reason: string;
    decidedBy: string;
    rule: string | null;
    decisionId: string | null;
    startsAt: string;
    endsAt: string | null;
    permanent: boolean;
  } | null;
  strikes: Array<{ category: string; expiresAt: string; decisionId: string | null }>;
  decisions: Array<{
    id: string;
    rule: string;
    reason: string;
    decidedAt: string;
    reviewStatus: string;
    appealable: boolean;
    notAppealableBecause: string | null;
    appeal: { id: string; status: string; outcome: { result: string; reason: string } | null } | null;
  }>;
  howToAppeal: { text: string; method: string; endpoint: string };
}

interface AppealView {
  id: string;
  decisionId: string;
  status: string;
  statement: string;
  outcome: { result: string; reason: string; decidedAt: string } | null;
}

interface ModAppeal {
  id: string;
  status: string;
  account: string;
  statement: string;
  decision: { id: string; ruleId: string; reason: string; review: { status: string }; evidence: Array<{ ref: string; image: string }> };
}

let t: AppealsGateway;
let alice: Streamer;
let bob: Streamer;
let carol: Streamer;
const publishers: Publisher[] = [];

beforeAll(async () => {
  t = await startAppealsGateway();
  alice = await t.streamer('alice');
  bob = await t.streamer('bob');
  carol = await t.streamer('carol');
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await t?.stop();
});

const me = async (s: Streamer) => {
  const res = await s.me.get<Me>('/api/v1/me');
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const appeal = (s: Streamer, decisionId: string, statement = 'That clip was a news report about the attack, not the attack footage.') =>
  s.me.post<{ appeal: AppealView }>('/api/v1/me/appeals', { decisionId, statement });

describe('streamer status and appeals', () => {
  let aliceDecision: string;
  let aliceAppeal: string;

  it('a suspended streamer reads their status: the reason, who decided, when the suspension ends, their strike, and how to appeal', async () => {
    const before = await me(alice);
    expect(before.canGoLive).toBe(true);
    expect(before.activeSuspension).toBeNull();

    const rec = await t.enforce('alice');
    aliceDecision = rec.row.id;
    const status = await me(alice);
    expect(status.handle).toBe('alice');
    expect(status.canGoLive).toBe(false);
    expect(status.goLive.reason).toBe('suspended');
    expect(status.goLive.message).toMatch(/suspended until .*terrorist/);
    // Plain words: the engine's reason (match distance, limits) is for moderators only.
    expect(status.goLive.message).not.toMatch(DETECTION_INTERNALS);
    expect(status.activeSuspension).toMatchObject({
      reason: 'automated moderation found terrorist or violent extremist content in your stream',
      decidedBy: 'rule',
      rule: 'tve-known-content',
      decisionId: aliceDecision,
      permanent: false,
      endsAt: new Date(rec.suspension!.ends_at!).toISOString(),
    });
    const days = (Date.parse(status.activeSuspension!.endsAt!) - Date.now()) / DAY;
    expect(days).toBeGreaterThan(29.9);
    expect(status.strikes).toEqual([expect.objectContaining({ category: 'terrorist-violent-extremism', decisionId: aliceDecision })]);
    expect(status.decisions).toEqual([
      expect.objectContaining({
        id: aliceDecision,
        rule: 'tve-known-content',
        reason: streamerReason(rec.row),
        reviewStatus: 'pending',
        appealable: true,
        appeal: null,
      }),
    ]);
    expect(status.howToAppeal).toMatchObject({ method: 'POST', endpoint: '/api/v1/me/appeals' });
    expect(status.howToAppeal.text).toMatch(/appeal/i);
  });

  it('a permanent suspension by a moderator reads as permanent, decided by a moderator (never which one)', async () => {
    const dave = await t.streamer('dave');
    const res = await t.mod.post(`/api/v1/accounts/dave/suspend`, { reason: 'ban evasion' });
    expect(res.status).toBe(200);
    const status = await me(dave);
    expect(status.canGoLive).toBe(false);
    expect(status.activeSuspension).toMatchObject({ reason: 'ban evasion', decidedBy: 'moderator', rule: null, permanent: true, endsAt: null });
    expect(JSON.stringify(status)).not.toContain('appeals-mod');
  });

  it('the streamer files an appeal; moderators see it in the open queue with the decision and its evidence links; it is audited', async () => {
    const res = await appeal(alice, aliceDecision);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.appeal).toMatchObject({ decisionId: aliceDecision, status: 'open', outcome: null });
    aliceAppeal = res.body.appeal.id;

    const status = await me(alice);
    expect(status.decisions[0]).toMatchObject({ appealable: false, appeal: { id: aliceAppeal, status: 'open', outcome: null } });

    const queue = await t.mod.get<{ appeals: ModAppeal[] }>('/api/v1/appeals?status=open');
    expect(queue.status).toBe(200);
    const item = queue.body.appeals.find((a) => a.id === aliceAppeal);
    expect(item).toMatchObject({
      account: 'alice',
      status: 'open',
      decision: { id: aliceDecision, ruleId: 'tve-known-content', review: { status: 'pending' } },
    });
    expect(item!.statement).toMatch(/news report/);
    expect(item!.decision.evidence.map((e) => e.image)).toEqual(item!.decision.evidence.map((e) => `/api/v1/evidence/${e.ref}`));
    expect(item!.decision.evidence).toHaveLength(2);

    const audit = await t.mod.get<{ records: Array<{ action: string; actor: string }> }>(`/api/v1/audit?targetId=${aliceAppeal}`);
    expect(audit.body.records).toEqual([expect.objectContaining({ action: 'appeal.create', actor: 'account:alice' })]);
  });

  it('a second appeal on the same decision is refused', async () => {
    const again = await appeal(alice, aliceDecision, 'Please look again.');
    expect(again.status).toBe(409);
    expect(String((again.body as unknown as { message: string }).message)).toMatch(/one appeal per decision/);
    const mine = await alice.me.get<{ appeals: AppealView[] }>('/api/v1/me/appeals');
    expect(mine.body.appeals.filter((a) => a.decisionId === aliceDecision)).toHaveLength(1);
  });

  it("another account's decision is invisible: not in their status, and appealing it is 'not found' like an unknown id", async () => {
    const bobStatus = await me(bob);
    expect(bobStatus.decisions).toEqual([]);
    expect(bobStatus.activeSuspension).toBeNull();
    expect(JSON.stringify(bobStatus)).not.toContain(aliceDecision);

    const theirs = await appeal(bob, aliceDecision);
    const unknown = await appeal(bob, 'dec_000000000000000000000');
    expect(theirs.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(Object.keys(theirs.body)).toEqual(Object.keys(unknown.body));
    expect((await bob.me.get<{ appeals: AppealView[] }>('/api/v1/me/appeals')).body.appeals).toEqual([]);
  });

  it('a shadow decision (never enforced) is neither listed nor appealable', async () => {
    const shadow = await t.shadow('bob');
    expect((await me(bob)).decisions).toEqual([]);
    expect((await appeal(bob, shadow.row.id)).status).toBe(404);
  });

  it.skipIf(!ffmpegPath)(
    'a moderator overturns the appeal: the strike is voided, the suspension lifted, the streamer goes live again over real RTMP and reads the outcome',
    async () => {
      const publish = (durationSec: number) => {
        const p = startPublisher({
          ffmpegPath: ffmpegPath!,
          url: t.publishUrl(alice.streamKey),
          width: 320,
          height: 180,
          durationSec,
          pattern: { color: 'darkslateblue' },
        });
        publishers.push(p);
        return p;
      };
      const live = async () => (await t.api.get<{ streams: Array<{ account: string }> }>('/api/v1/streams')).body.streams.some((s) => s.account === 'alice');

      // While suspended, the gate refuses the publish.
      const refused = await publish(5).done;
      expect(refused.code).not.toBe(0);
      expect(await live()).toBe(false);

      const decided = await t.mod.post<{ appeal: { status: string; outcomeReason: string }; strikesVoided: number; suspensionsLifted: number }>(
        `/api/v1/appeals/${aliceAppeal}/decide`,
        {
          outcome: 'overturn',
          reason: 'The footage is a news broadcast with commentary; allowed under the newsworthiness exception.',
        },
      );
      expect(decided.status, JSON.stringify(decided.body)).toBe(200);
      expect(decided.body).toMatchObject({ strikesVoided: 1, suspensionsLifted: 1, appeal: { status: 'overturned' } });

      const p = publish(30);
      await waitFor(live, 15_000, 'alice to go live again');
      await p.stop();

      const outcome = (await alice.me.get<{ appeals: Array<AppealView & { decision: { reviewStatus: string } }> }>('/api/v1/me/appeals')).body.appeals.find(
        (a) => a.id === aliceAppeal,
      );
      expect(outcome).toMatchObject({
        status: 'overturned',
        outcome: { result: 'overturned', reason: expect.stringMatching(/newsworthiness/) },
        decision: { reviewStatus: 'overturned' },
      });
      const status = await me(alice);
      expect(status.canGoLive).toBe(true);
      expect(status.activeSuspension).toBeNull();
      expect(status.strikes).toEqual([]);
      expect(status.decisions[0]).toMatchObject({ reviewStatus: 'overturned', appeal: { status: 'overturned', outcome: { result: 'overturned' } } });

      // Decided once: a second decision on the same appeal is refused.
      expect((await t.mod.post(`/api/v1/appeals/${aliceAppeal}/decide`, { outcome: 'uphold', reason: 'changed my mind' })).status).toBe(409);
      const audit = await t.mod.get<{ records: Array<{ action: string; targetId: string }> }>('/api/v1/audit?limit=500');
      const actions = audit.body.records.filter((r) => r.targetId === aliceAppeal || r.targetId === aliceDecision).map((r) => r.action);
      expect(actions).toEqual(expect.arrayContaining(['appeal.create', 'decision.overturn', 'appeal.overturn']));
    },
    90_000,
  );

  it('an upheld appeal keeps the suspension and the strike, confirms the pending review, and the streamer reads the outcome', async () => {
    const rec = await t.enforce('carol', { suspendDays: 7 });
    const filed = await appeal(carol, rec.row.id);
    expect(filed.status).toBe(201);
    const id = filed.body.appeal.id;

    const decided = await t.mod.post<{ decisionConfirmed: boolean; appeal: { status: string; decision: { review: { status: string } } } }>(
      `/api/v1/appeals/${id}/decide`,
      {
        outcome: 'uphold',
        reason: 'The frames match the banked attack footage exactly.',
      },
    );
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body).toMatchObject({ decisionConfirmed: true, appeal: { status: 'upheld', decision: { review: { status: 'confirmed' } } } });

    const status = await me(carol);
    expect(status.canGoLive).toBe(false);
    expect(status.activeSuspension).toMatchObject({ decisionId: rec.row.id, endsAt: new Date(rec.suspension!.ends_at!).toISOString() });
    expect(status.strikes).toHaveLength(1);
    expect(status.decisions[0]).toMatchObject({
      reviewStatus: 'confirmed',
      appealable: false,
      appeal: { status: 'upheld', outcome: { result: 'upheld', reason: expect.stringMatching(/banked attack footage/) } },
    });

    const mine = (await carol.me.get<{ appeals: AppealView[] }>('/api/v1/me/appeals')).body.appeals;
    expect(mine).toEqual([expect.objectContaining({ id, status: 'upheld', outcome: expect.objectContaining({ result: 'upheld' }) })]);
    expect((await t.mod.get<{ appeals: ModAppeal[] }>('/api/v1/appeals?status=open')).body.appeals.map((a) => a.id)).not.toContain(id);
    expect((await t.mod.get<{ appeals: ModAppeal[] }>('/api/v1/appeals?status=upheld')).body.appeals.map((a) => a.id)).toContain(id);
    const audit = await t.mod.get<{ records: Array<{ action: string }> }>(`/api/v1/audit?targetId=${id}`);
    expect(audit.body.records.map((r) => r.action).sort()).toEqual(['appeal.create', 'appeal.uphold']);
  });

  it('the open queue is oldest first; a decision overturned in the review queue meanwhile can only be closed as overturned', async () => {
    const erin = await t.streamer('erin');
    const first = await t.enforce('erin', { suspendDays: 3 });
    const second = await t.enforce('erin', { suspendDays: 5 });
    const a1 = (await appeal(erin, first.row.id)).body.appeal.id;
    await sleep(5);
    const a2 = (await appeal(erin, second.row.id)).body.appeal.id;
    const open = (await t.mod.get<{ appeals: ModAppeal[] }>('/api/v1/appeals?status=open')).body.appeals.map((a) => a.id);
    expect(open.indexOf(a1)).toBeLessThan(open.indexOf(a2));
    expect(open.indexOf(a1)).toBeGreaterThanOrEqual(0);

    expect((await t.mod.post(`/api/v1/decisions/${second.row.id}/overturn`, { reason: 'wrong match' })).status).toBe(200);
    expect((await t.mod.post(`/api/v1/appeals/${a2}/decide`, { outcome: 'uphold', reason: 'x' })).status).toBe(409);
    const closed = await t.mod.post<{ appeal: { status: string } }>(`/api/v1/appeals/${a2}/decide`, {
      outcome: 'overturn',
      reason: 'already overturned on review',
    });
    expect(closed.status).toBe(200);
    expect(closed.body.appeal.status).toBe('overturned');
    // The first decision still suspends erin.
    expect((await me(erin)).activeSuspension).toMatchObject({ decisionId: first.row.id });
    expect((await t.mod.post(`/api/v1/appeals/apl_missing/decide`, { outcome: 'overturn', reason: 'x' })).status).toBe(404);
  });
});

describe('input and authentication', () => {
  it('bad appeal bodies are refused with 400 naming the field', async () => {
    const rec = await t.enforce('bob', { suspendDays: 1 });
    const cases: Array<[unknown, string]> = [
      [{ statement: 'why' }, 'body.decisionId'],
      [{ decisionId: rec.row.id }, 'body.statement'],
      [{ decisionId: rec.row.id, statement: '   ' }, 'body.statement'],
      [{ decisionId: rec.row.id, statement: 'x'.repeat(2001) }, 'body.statement'],
      [{ decisionId: 42, statement: 'why' }, 'body.decisionId'],
      [{ decisionId: rec.row.id, statement: 'why', extra: true }, 'body'],
      [{ raw: '["not", "an", "object"]' }, 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await bob.me.post<{ error: string; field: string; message: string }>('/api/v1/me/appeals', body as never);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.field, JSON.stringify(res.body)).toBe(field);
      expect(res.body.message.startsWith(field)).toBe(true);
    }
    // 2000 characters is the limit, not over it.
    expect((await appeal(bob, rec.row.id, 'y'.repeat(2000))).status).toBe(201);

    const decide = [
      [{ outcome: 'maybe', reason: 'x' }, 'body.outcome'],
      [{ outcome: 'uphold' }, 'body.reason'],
      [{ outcome: 'uphold', reason: '' }, 'body.reason'],
    ] as const;
    for (const [body, field] of decide) {
      const res = await t.mod.post<{ field: string }>('/api/v1/appeals/apl_x/decide', body as never);
      expect(res.status).toBe(400);
      expect(res.body.field).toBe(field);
    }
    const q = await t.mod.get<{ field: string }>('/api/v1/appeals?status=pending');
    expect(q.status).toBe(400);
    expect(q.body.field).toBe('query.status');
  });

  it('a wrong, missing, revoked or admin token is 401 on the streamer endpoints; an account token opens no moderator endpoint', async () => {
    const base = t.anon.baseUrl;
    const wrong = [null, 'at_not-a-token', `at_${'A'.repeat(43)}`, t.mod.token, t.api.token];
    for (const token of wrong) {
      const c = new ApiClient(base, token);
      for (const [method, url] of [
        ['GET', '/api/v1/me'],
        ['GET', '/api/v1/me/appeals'],
        ['POST', '/api/v1/me/appeals'],
      ] as const) {
        const res = await c.request(method, url, method === 'POST' ? { decisionId: 'dec_x', statement: 'x' } : undefined);
        expect(res.status, `${method} ${url} with ${token?.slice(0, 3)}`).toBe(401);
      }
    }
    // A bad body without a valid token is still 401: authentication comes first.
    expect((await t.anon.post('/api/v1/me/appeals', { nonsense: true })).status).toBe(401);
    // A Basic header is not a bearer token.
    expect((await t.anon.request('GET', '/api/v1/me', undefined, { authorization: `Basic ${alice.token}` })).status).toBe(401);

    // Issuing a new token revokes the old one.
    const old = alice.me;
    const issued = await t.api.post<{ accountToken: string; revoked: string[] }>('/api/v1/accounts/alice/token');
    expect(issued.status).toBe(201);
    expect(issued.body.accountToken).toMatch(/^at_[A-Za-z0-9_-]{43}$/);
    expect(issued.body.revoked).toHaveLength(1);
    expect((await old.get('/api/v1/me')).status).toBe(401);
    alice = { ...alice, token: issued.body.accountToken, me: new ApiClient(base, issued.body.accountToken) };
    expect((await alice.me.get<Me>('/api/v1/me')).body.handle).toBe('alice');

    // Account tokens are not admin tokens.
    expect((await alice.me.get('/api/v1/appeals')).status).toBe(401);
    expect((await alice.me.get('/api/v1/accounts/alice')).status).toBe(401);
  });

  it('only operators issue account tokens; the token is stored only as a hash', async () => {
    expect((await t.mod.post('/api/v1/accounts/bob/token')).status).toBe(403);
    expect((await t.anon.post('/api/v1/accounts/bob/token')).status).toBe(401);
    expect((await t.api.post('/api/v1/accounts/nobody/token')).status).toBe(404);
    const issued = await t.api.post<{ accountToken: string; tokenId: string }>('/api/v1/accounts/bob/token');
    expect(issued.status).toBe(201);
    const row = await t.db.selectFrom('account_tokens').selectAll().where('id', '=', issued.body.tokenId).executeTakeFirstOrThrow();
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(issued.body.accountToken);
    const audit = await t.mod.get<{ records: Array<{ action: string; detail: Record<string, unknown> }> }>(
      '/api/v1/audit?targetId=bob&action=account.token.issue',
    );
    expect(JSON.stringify(audit.body)).not.toContain(issued.body.accountToken);
    expect(audit.body.records.length).toBeGreaterThan(0);
  });
});
