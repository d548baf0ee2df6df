import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPublish } from '../helpers/rtmp-client.ts';
import { waitFor } from '../helpers/gateway.ts';
import { startAppealsGateway, type AppealsGateway, type Streamer } from './helpers.ts';

/**
 * DSA Art. 20(1)(b)-(c): a person may complain against a decision to suspend their account as against a
 * removal. A suspension a moderator set on the account, or a platform ban of the person, has no decision
 * behind it; it is appealed on its own, with its id.
 */

interface Ref {
  id: string;
  status: string;
}
interface Me {
  canGoLive: boolean;
  goLive: { reason: string | null };
  activeSuspension: { id: string; decisionId: string | null; appealable: boolean; notAppealableBecause: string | null; appeal: Ref | null } | null;
  bans: Array<{ id: string; kind: string; appealable: boolean; notAppealableBecause: string | null; appeal: Ref | null }>;
  statements: Array<{ status: string; text: string[] }>;
}
interface ModAppeal {
  id: string;
  status: string;
  target: { kind: string; id: string };
  decision: unknown;
  restriction: { kind: string; id: string; reason: string; liftedAt: string | null } | null;
}
type ErrorBody = { error: string };

let t: AppealsGateway;
beforeAll(async () => {
  t = await startAppealsGateway();
});
afterAll(async () => {
  await t?.stop();
});

const me = async (s: Streamer) => {
  const res = await s.me.get<Me>('/api/v1/me');
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const file = (s: Streamer, target: { suspensionId: string } | { banId: string } | { decisionId: string }) =>
  s.me.post<{ appeal: { id: string; target: { kind: string; id: string }; decisionId: string | null } } & ErrorBody>('/api/v1/me/appeals', {
    ...target,
    statement: 'I was not evading anything: that was my own second channel, registered with my ID.',
  });
const goesLive = async (s: Streamer) => {
  const { client, started } = await rawPublish(t.gw.rtmpPort, s.streamKey);
  client.destroy();
  return started;
};

describe('appealing a suspension or a ban that no decision stands behind', () => {
  it("a moderator's suspension is appealed from /me and overturned: lifted, the account goes live again, the statement says so, all audited", async () => {
    const dave = await t.streamer('dave');
    expect((await t.mod.post('/api/v1/accounts/dave/suspend', { reason: 'ban evasion' })).status).toBe(200);
    const before = await me(dave);
    const s = before.activeSuspension!;
    expect(s).toMatchObject({ decisionId: null, appealable: true, notAppealableBecause: null, appeal: null });
    expect(await goesLive(dave)).toBe(false);

    const filed = await file(dave, { suspensionId: s.id });
    expect(filed.status, JSON.stringify(filed.body)).toBe(201);
    expect(filed.body.appeal).toMatchObject({ target: { kind: 'suspension', id: s.id }, decisionId: null });
    const again = await file(dave, { suspensionId: s.id });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('conflict');
    expect((await me(dave)).activeSuspension).toMatchObject({ appealable: false, appeal: { id: filed.body.appeal.id, status: 'open' } });

    const queue = (await t.mod.get<{ appeals: ModAppeal[] }>('/api/v1/appeals')).body.appeals;
    const item = queue.find((a) => a.id === filed.body.appeal.id)!;
    expect(item).toMatchObject({
      target: { kind: 'suspension', id: s.id },
      decision: null,
      restriction: { kind: 'suspension', reason: 'ban evasion', liftedAt: null },
    });

    const decided = await t.mod.post<{ suspensionsLifted: number; bansLifted: number; appeal: ModAppeal }>(`/api/v1/appeals/${item.id}/decide`, {
      outcome: 'overturn',
      reason: 'The second channel is his own, verified with the same ID',
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body).toMatchObject({
      suspensionsLifted: 1,
      bansLifted: 0,
      appeal: { status: 'overturned', restriction: { liftedAt: expect.any(String) } },
    });
    const after = await me(dave);
    expect(after.canGoLive).toBe(true);
    expect(after.activeSuspension).toBeNull();
    expect(await goesLive(dave)).toBe(true);
    // The suspension's statement of reasons follows the lift (the statements service syncs in the background).
    await waitFor(
      async () => ((await me(dave)).statements.some((st) => st.status === 'overturned' && st.text.some((l) => l.includes('was lifted'))) ? true : null),
      60_000,
      "the suspension's statement to say it was lifted",
    );
    const audit = await t.api.get<{ records: Array<{ action: string; targetId: string }> }>(`/api/v1/audit?limit=500`);
    const actions = audit.body.records.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['appeal.create', 'appeal.overturn', 'account.unsuspend']));
  });

  it('a suspension that came with a decision is appealed through the decision; an order-free platform ban is appealable, a court-ordered one is not', async () => {
    const erin = await t.streamer('erin');
    const rec = await t.enforce('erin', { suspendDays: 30 });
    const withDecision = (await me(erin)).activeSuspension!;
    expect(withDecision).toMatchObject({ decisionId: rec.row.id, appealable: false });
    const refused = await file(erin, { suspensionId: withDecision.id });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('conflict');

    const fay = await t.streamer('fay');
    const court = await t.api.post<{ ban: { id: string } }>('/api/v1/bans', {
      handle: 'fay',
      kind: 'court_order',
      legalReference: 'TJ Paris 26/01',
      reason: 'court order',
    });
    expect(court.status, JSON.stringify(court.body)).toBe(201);
    const bans = (await me(fay)).bans;
    expect(bans).toEqual([expect.objectContaining({ id: court.body.ban.id, kind: 'court_order', appealable: false })]);
    expect((await file(fay, { banId: court.body.ban.id })).body.error).toBe('conflict');
  });

  it('an upheld appeal against a platform ban keeps the person off air; an overturned one lets every account of theirs back', async () => {
    const gil = await t.streamer('gil', 'person:gil');
    const gil2 = await t.streamer('gil-two', 'person:gil');
    const ban = await t.api.post<{ ban: { id: string } }>('/api/v1/bans', { handle: 'gil', kind: 'platform', reason: 'repeated hate speech across accounts' });
    expect(ban.status).toBe(201);
    expect(await goesLive(gil2)).toBe(false);
    // Any account of the person may appeal the ban; one appeal per ban.
    const filed = await file(gil2, { banId: ban.body.ban.id });
    expect(filed.status, JSON.stringify(filed.body)).toBe(201);
    expect((await file(gil, { banId: ban.body.ban.id })).status).toBe(409);
    const upheld = await t.mod.post<{ appeal: ModAppeal; bansLifted: number }>(`/api/v1/appeals/${filed.body.appeal.id}/decide`, {
      outcome: 'uphold',
      reason: 'The pattern is clear',
    });
    expect(upheld.body).toMatchObject({ bansLifted: 0, appeal: { status: 'upheld', restriction: { kind: 'ban', liftedAt: null } } });
    expect((await me(gil)).goLive.reason).toBe('banned');
    expect(await goesLive(gil)).toBe(false);

    // A second ban, overturned on appeal.
    const lift = await t.api.post<{ ban: { id: string } }>('/api/v1/bans', { handle: 'gil', kind: 'platform', reason: 'mistaken identity' });
    const second = await file(gil, { banId: lift.body.ban.id });
    expect(second.status).toBe(201);
    // Lifting the first by hand leaves only the appealed one binding.
    expect((await t.api.post(`/api/v1/bans/${ban.body.ban.id}/lift`, { reason: 'served' })).status).toBe(200);
    const overturned = await t.mod.post<{ bansLifted: number }>(`/api/v1/appeals/${second.body.appeal.id}/decide`, {
      outcome: 'overturn',
      reason: 'Wrong person',
    });
    expect(overturned.body.bansLifted).toBe(1);
    expect((await me(gil)).canGoLive).toBe(true);
    expect(await goesLive(gil2)).toBe(true);
  });

  it("another person's suspension or ban is 'not found', like an unknown id", async () => {
    const hal = await t.streamer('hal');
    await t.streamer('ivy');
    expect((await t.mod.post('/api/v1/accounts/ivy/suspend', { reason: 'x', durationSeconds: 3600 })).status).toBe(200);
    const ivySuspension = (await t.mod.get<{ suspensions: Array<{ id: string }> }>('/api/v1/accounts/ivy')).body.suspensions[0]!.id;
    for (const target of [{ suspensionId: ivySuspension }, { suspensionId: 'sus_nope' }, { banId: 'ban_nope' }]) {
      const res = await file(hal, target);
      expect(res.status, JSON.stringify(target)).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
    const two = await hal.me.post<{ error: string; field: string }>('/api/v1/me/appeals', { suspensionId: ivySuspension, banId: 'ban_x', statement: 'why' });
    expect(two.status).toBe(400);
    expect(two.body.field).toBe('body.decisionId');
  });
});
