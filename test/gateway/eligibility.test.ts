import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addBan } from '../../gateway/identity/bans.ts';
import { signWebhook } from '../../gateway/identity/webhook.ts';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { FFMPEG, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { webmFixture, wsPublish, type WsPublisher } from '../helpers/ws-publisher.ts';
import { within } from '../helpers/wait.ts';

/**
 * Host eligibility end to end: the identity provider's age-assurance claim (a threshold, never a birth
 * date) arrives by the signed webhook; real ffmpeg RTMP publishers and WebSocket publishers are refused
 * below the configured minimum age; a ban of the person (court order) refuses every account bound to the
 * identity subject, including an account verified after the ban, and cuts the person's live streams.
 */

const SECRET = 'eligibility-webhook-secret-0123456789';
let t: TestGateway;
let webm: string;
const publishers: Publisher[] = [];
const clients: WsPublisher[] = [];

beforeAll(async () => {
  [t, webm] = await Promise.all([
    startTestGateway({ identity: { webhookSecret: SECRET }, eligibility: { minimumAge: 18 } }),
    webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG),
  ]);
});
afterEach(async () => {
  await Promise.all([...publishers.splice(0).map((p) => p.stop()), ...clients.splice(0).map((c) => c.close())]);
});
afterAll(async () => t?.stop());

let eventSeq = 0;
async function webhook(event: Record<string, unknown>) {
  const raw = JSON.stringify({ id: `evt_elig_${++eventSeq}_${Date.now()}`, ...event });
  const ts = Math.floor(Date.now() / 1000);
  return t.anon.post<{ outcome?: string; error?: string; field?: string }>(
    '/api/v1/identity/webhook',
    { raw },
    {
      'x-modgate-timestamp': String(ts),
      'x-modgate-signature': signWebhook(SECRET, ts, raw),
    },
  );
}

/** An unverified account with a key, then verified by the provider's webhook. */
async function verifiedByProvider(handle: string, claim: Record<string, unknown>) {
  const a = await t.account(handle, { verified: false });
  const res = await webhook({ type: 'identity.verified', handle, provider: 'idp', ...claim });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await t.gw.gate.refresh();
  return a;
}

function rtmpPublish(streamKey: string): Publisher {
  const p = startPublisher({ url: t.publishUrl(streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
  publishers.push(p);
  return p;
}

function wsPublishKey(streamKey: string): WsPublisher {
  const c = wsPublish({ url: t.wsUrl, streamKey, file: webm, fileDurationSec: 20 });
  clients.push(c);
  return c;
}

/** ffmpeg's exit code (a failure if it is still publishing at the deadline, test/helpers/wait.ts). */
async function exited(p: Publisher): Promise<number | null> {
  return (await within(p.done, 'the publisher to be disconnected')).code;
}

async function refusals(handle: string, reason: string, protocol: 'rtmp' | 'websocket') {
  const acc = await t.gw.store.db.selectFrom('accounts').select('id').where('handle', '=', handle).executeTakeFirstOrThrow();
  return t.gw.store.db
    .selectFrom('publish_refusals')
    .selectAll()
    .where('account_id', '=', acc.id)
    .where('reason', '=', reason)
    .where('protocol', '=', protocol)
    .execute();
}

describe('age assurance', () => {
  it("the webhook's age claim is recorded with its source and time, and a birth date is refused", async () => {
    await verifiedByProvider('age-adult', { subject: 'idp:adult-1', ageOver: 18, ageSource: 'id_document', ageCheckedAt: '2026-11-30T10:00:00Z' });
    const view = await t.mod.get<{ identity: { age: { over: number; source: string; checkedAt: string } | null } }>('/api/v1/accounts/age-adult');
    expect(view.body.identity.age).toEqual({ over: 18, source: 'idp:id_document', checkedAt: '2026-11-30T10:00:00.000Z' });

    await t.account('age-dob', { verified: false });
    const dob = await webhook({ type: 'identity.verified', handle: 'age-dob', subject: 'idp:dob', birthDate: '2001-02-03' });
    expect(dob.status).toBe(400);
    expect(dob.body.error).toBe('invalid_request');
    const stored = await t.gw.store.db.selectFrom('accounts').select(['identity_status', 'age_over']).where('handle', '=', 'age-dob').executeTakeFirstOrThrow();
    expect(stored).toEqual({ identity_status: 'unverified', age_over: null });
  });

  it('an under-age verified account is refused over RTMP before any media is relayed, with the reason under_age', async () => {
    const a = await verifiedByProvider('age-minor-rtmp', { subject: 'idp:minor-1', ageOver: 16, ageSource: 'facial_estimation' });
    const p = rtmpPublish(a.streamKey);
    expect(await exited(p)).not.toBe(0);
    const r = await refusals('age-minor-rtmp', 'under_age', 'rtmp');
    expect(r).toHaveLength(1);
    expect(r[0]!.detail).toContain('at least 18');
    expect((await t.streams()).some((s) => s.account === 'age-minor-rtmp')).toBe(false);
  });

  it('an under-age verified account is refused over WebSocket with a forbidden close', async () => {
    const a = await verifiedByProvider('age-minor-ws', { subject: 'idp:minor-2', ageOver: 13 });
    const c = wsPublishKey(a.streamKey);
    expect(await c.accepted).toBeNull();
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.forbidden);
    expect(await refusals('age-minor-ws', 'under_age', 'websocket')).toHaveLength(1);
  });

  it('an adult claim goes live; a later claim below the minimum cuts the live stream', async () => {
    const a = await verifiedByProvider('age-turns', { subject: 'idp:turns', ageOver: 18 });
    const p = rtmpPublish(a.streamKey);
    await t.waitForStream('age-turns', 15_000);
    // The provider re-checks and corrects its claim: the gate applies it to the live stream at once.
    expect((await webhook({ type: 'identity.verified', handle: 'age-turns', subject: 'idp:turns', ageOver: 16, ageSource: 'id_document' })).status).toBe(200);
    expect(await exited(p)).not.toBe(0);
    // The socket closes before the end is on record: wait for the record.
    const row = await waitFor(
      async () =>
        (await t.gw.store.db
          .selectFrom('streams')
          .innerJoin('accounts', 'accounts.id', 'streams.account_id')
          .select('streams.end_reason')
          .where('accounts.handle', '=', 'age-turns')
          .where('streams.ended_at', 'is not', null)
          .executeTakeFirst()) ?? null,
      10_000,
      'the end record',
    );
    expect(row.end_reason).toBe('under_age');
  });
});

describe('bans of a person', () => {
  it('a ban written by another process (the CLI, another node) travels in the gate change feed and cuts the live stream', async () => {
    const a = await verifiedByProvider('ban-feed', { subject: 'idp:feed-person', ageOver: 30 });
    const live = rtmpPublish(a.streamKey);
    await t.waitForStream('ban-feed', 15_000);
    // Straight to the database, as a separate process would: this gateway learns of it only by polling the feed.
    await addBan(t.gw.store.db, { id: 'cli' }, { subject: 'idp:feed-person', kind: 'platform', reason: 'terrorist content across accounts' });
    expect(await exited(live)).not.toBe(0);
    // The socket closes before the end is on record: wait for the record.
    const row = await waitFor(
      async () =>
        (await t.gw.store.db
          .selectFrom('streams')
          .innerJoin('accounts', 'accounts.id', 'streams.account_id')
          .select(['streams.end_reason'])
          .where('accounts.handle', '=', 'ban-feed')
          .where('streams.ended_at', 'is not', null)
          .executeTakeFirst()) ?? null,
      10_000,
      'the end record',
    );
    expect(row.end_reason).toBe('banned');
  });

  it("a court-ordered ban cuts the person's live stream, refuses an account verified after the ban, and lifting it lets them back", async () => {
    const first = await verifiedByProvider('ban-first', { subject: 'idp:person-banned', ageOver: 18 });
    const live = rtmpPublish(first.streamKey);
    await t.waitForStream('ban-first', 15_000);

    const res = await t.api.post<{ ban: { id: string; active: boolean; subject: string }; accountsAffected: number; streamsCut: number }>('/api/v1/bans', {
      handle: 'ban-first',
      kind: 'court_order',
      legalReference: 'TJ Paris, 12 nov. 2026, n° 26/01234 (loi SREN art. 5)',
      authority: 'Tribunal judiciaire de Paris',
      reason: 'bannissement: six months',
      endsAt: new Date(Date.now() + 180 * 86400_000).toISOString(),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ ban: { active: true, subject: 'idp:person-banned' }, accountsAffected: 1, streamsCut: 1 });
    expect(await exited(live)).not.toBe(0);

    // A new account, created and verified by the provider after the ban, as the same person.
    const second = await verifiedByProvider('ban-second', { subject: 'idp:person-banned', ageOver: 18 });
    const p = rtmpPublish(second.streamKey);
    expect(await exited(p)).not.toBe(0);
    const refused = await refusals('ban-second', 'banned', 'rtmp');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.detail).toContain('court order');
    const ws = wsPublishKey(second.streamKey);
    expect(await ws.accepted).toBeNull();
    expect((await ws.closed).code).toBe(CloseCode.suspended);

    const view = await t.mod.get<{ activeBans: Array<{ id: string; legalReference: string }> }>('/api/v1/accounts/ban-second');
    expect(view.body.activeBans.map((b) => b.id)).toEqual([res.body.ban.id]);
    const audit = await t.mod.get<{ records: Array<{ action: string; targetId: string }> }>('/api/v1/audit?action=person.ban');
    expect(audit.body.records.some((r) => r.targetId === 'idp:person-banned')).toBe(true);

    expect((await t.mod.post(`/api/v1/bans/${res.body.ban.id}/lift`, { reason: 'x' })).status).toBe(403);
    const lifted = await t.api.post<{ ban: { active: boolean; liftedBy: string } }>(`/api/v1/bans/${res.body.ban.id}/lift`, {
      reason: 'order set aside on appeal',
    });
    expect(lifted.status).toBe(200);
    expect(lifted.body.ban.active).toBe(false);
    rtmpPublish(second.streamKey);
    await t.waitForStream('ban-second', 15_000);
    expect((await t.api.post(`/api/v1/bans/${res.body.ban.id}/lift`, { reason: 'again' })).status).toBe(409);
  });

  it('a ban by subject binds accounts that do not exist yet; a court order without its legal reference is refused', async () => {
    const noRef = await t.api.post<{ error: string; field: string }>('/api/v1/bans', { subject: 'idp:nobody-yet', kind: 'court_order', reason: 'x' });
    expect(noRef.status).toBe(400);
    expect(noRef.body.field).toBe('body.legalReference');
    const res = await t.api.post<{ accountsAffected: number }>('/api/v1/bans', { subject: 'idp:nobody-yet', kind: 'platform', reason: 'ban evasion network' });
    expect(res.status).toBe(201);
    expect(res.body.accountsAffected).toBe(0);
    const later = await verifiedByProvider('ban-future', { subject: 'idp:nobody-yet', ageOver: 21 });
    const p = rtmpPublish(later.streamKey);
    expect(await exited(p)).not.toBe(0);
    await waitFor(async () => (await refusals('ban-future', 'banned', 'rtmp')).length === 1, 10_000, 'the banned refusal');
    const list = await t.mod.get<{ bans: Array<{ subject: string; kind: string }> }>('/api/v1/bans?subject=idp:nobody-yet');
    expect(list.body.bans).toEqual([expect.objectContaining({ subject: 'idp:nobody-yet', kind: 'platform' })]);
  });
});
