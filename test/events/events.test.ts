import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { revokeToken } from '../../gateway/admin/tokens.ts';
import { MemoryEventBus } from '../../gateway/events/bus.ts';
import { FFMPEG, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { openSse, type SseReader } from '../helpers/sse.ts';
import { webmFixture, wsPublish, type WsPublisher } from '../helpers/ws-publisher.ts';

describe('MemoryEventBus', () => {
  it('replays what a reconnecting client missed, and says reset when the id is from another run or past the buffer', () => {
    let now = 1_000_000;
    const bus = new MemoryEventBus({ maxEvents: 3, now: () => now });
    const a = bus.publish('stream.started', { n: 1 });
    const b = bus.publish('stream.started', { n: 2 });
    expect(b.id).toBe(a.id + 1);
    expect(bus.since(a.id)).toEqual({ events: [b] });
    expect(bus.since(b.id)).toEqual({ events: [] });
    const c = bus.publish('stream.ended', { n: 3 });
    const d = bus.publish('stream.ended', { n: 4 });
    expect(bus.since(b.id)).toEqual({ events: [c, d] });
    expect(bus.since(a.id)).toEqual({ events: [b, c, d] }); // a fell out of the 3-event buffer, b did not
    const e = bus.publish('stream.ended', { n: 5 });
    expect(bus.since(a.id)).toEqual({ reset: 'buffer_exceeded' }); // b is gone now
    expect(bus.since(b.id)).toEqual({ events: [c, d, e] });
    expect(bus.since(a.id - 100)).toEqual({ reset: 'node_restarted' });
    expect(bus.since(e.id + 5)).toEqual({ reset: 'node_restarted' });
    now += 1;
    const seen: number[] = [];
    const off = bus.subscribe((e) => seen.push(e.id));
    bus.publish('appeal.created', {});
    off();
    bus.publish('appeal.created', {});
    expect(seen).toEqual([e.id + 1]);
  });
});

describe('GET /api/v1/events and /whoami on a real gateway', () => {
  let t: TestGateway;
  let webm: string;
  const readers: SseReader[] = [];
  const publishers: WsPublisher[] = [];
  beforeAll(async () => {
    [t, webm] = await Promise.all([startTestGateway(), webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG)]);
  });
  afterEach(async () => {
    for (const r of readers.splice(0)) r.close();
    await Promise.all(publishers.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await t?.stop();
  });
  const events = async (token: string | null, query = '', headers: Record<string, string> = {}) => {
    const r = await openSse(`${t.httpUrl}/api/v1/events${query}`, token, headers);
    readers.push(r);
    return r;
  };
  const publish = (key: string) => {
    const p = wsPublish({ url: t.wsUrl, streamKey: key, file: webm, fileDurationSec: 20 });
    publishers.push(p);
    return p;
  };

  it('whoami names the token and its role; a revoked token is a 401', async () => {
    const token = await t.token('moderator', 'whoami-mo');
    const res = await t.anon.withToken(token).get('/api/v1/whoami');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ actor: 'token:whoami-mo', name: 'whoami-mo', role: 'moderator' });
    expect(res.body.tokenId).toMatch(/^tok_/);
    await revokeToken(t.gw.store.db, 'test', 'whoami-mo');
    expect((await t.anon.withToken(token).get('/api/v1/whoami')).status).toBe(401);
  });

  it('needs a moderator token in the Authorization header, and refuses unknown event types with the field', async () => {
    expect((await events(null)).status).toBe(401);
    const bad = await t.mod.get('/api/v1/events?types=stream.started,nonsense');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid_request', field: 'query.types' });
  });

  it('a stream going live and being cut arrive as stream.started and stream.ended, in order, with ids increasing by one', async () => {
    const r = await events(t.moderatorToken, '?types=stream.started,stream.ended');
    expect(r.status).toBe(200);
    await waitFor(() => r.comments.includes('connected'), 10_000, 'the stream to open');
    const a = await t.account('push-alice');
    const id = (await publish(a.streamKey).accepted)!;
    const started = await waitFor(() => r.events.find((e) => e.event === 'stream.started'), 10_000, 'stream.started');
    expect(started.json).toMatchObject({ stream: { id, account: 'push-alice', protocol: 'websocket', sampling: { mode: 'off' }, latest: null } });
    expect((await t.api.post(`/api/v1/streams/${id}/cut`, { reason: 'testing the feed' })).status).toBe(200);
    const ended = await waitFor(() => r.events.find((e) => e.event === 'stream.ended'), 10_000, 'stream.ended');
    // A moderator's cut is recorded as a decision of its own (statement of reasons, appealable).
    expect(ended.json).toMatchObject({ streamId: id, account: 'push-alice', reason: 'cut', decisionId: expect.stringMatching(/^dec_/) });
    expect(Number(ended.id)).toBe(Number(started.id) + 1);
  });

  it('a reconnect with Last-Event-ID receives what it missed; an id from another run gets one reset event', async () => {
    const first = await events(t.moderatorToken, '?types=stream.started,stream.ended');
    await waitFor(() => first.comments.includes('connected'), 10_000, 'the stream to open');
    const a = await t.account('push-bob');
    const p = publish(a.streamKey);
    const id = (await p.accepted)!;
    const started = await waitFor(
      () => first.events.find((e) => e.event === 'stream.started' && (e.json?.stream as { id: string }).id === id),
      10_000,
      'stream.started',
    );
    first.close();
    await p.close(); // ends while nobody listens
    await t.waitForNoStream('push-bob');
    const again = await events(t.moderatorToken, '?types=stream.started,stream.ended', { 'last-event-id': started.id! });
    const missed = await waitFor(() => again.events.find((e) => e.event === 'stream.ended'), 10_000, 'the missed stream.ended');
    expect(missed.json).toMatchObject({ streamId: id, reason: 'publisher_disconnected' });
    expect(again.events.some((e) => e.event === 'stream.started')).toBe(false);

    const stale = await events(t.moderatorToken, '', { 'last-event-id': '12' });
    const reset = await waitFor(() => stale.events.find((e) => e.event === 'reset'), 10_000, 'a reset event');
    expect(reset.json).toEqual({ reason: 'node_restarted' });
  });

  it('the stream ends when its token is revoked', async () => {
    const token = await t.token('moderator', 'push-revoked');
    const r = await events(token);
    await waitFor(() => r.comments.includes('connected'), 10_000, 'the stream to open');
    await revokeToken(t.gw.store.db, 'test', 'push-revoked');
    await r.ended;
    expect((await events(token)).status).toBe(401);
  });
});
