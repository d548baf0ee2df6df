import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { signWebhook } from '../../gateway/identity/webhook.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { FFMPEG, readFrames, startTestGateway, waitFor, type StreamView, type TestGateway } from '../helpers/gateway.ts';
import { connectCmd, createStreamCmd, publishCmd, rawPublish, rawRtmp, rtmpMessage, setChunkSize, playCmd, type RawRtmp } from '../helpers/rtmp-client.ts';
import { webmFixture, wsPublish, type WsClose, type WsPublisher } from '../helpers/ws-publisher.ts';
import { within } from '../helpers/wait.ts';

/**
 * Hostile and malformed input on every surface (RTMP port, WebSocket ingest, admin API, identity webhook),
 * while one healthy ffmpeg RTMP stream stays live throughout: each abuse closes only its own connection.
 */

const WEBHOOK_SECRET = 'test-webhook-secret-0123456789abcdef';
/**
 * The RTMP handshake and idle timeouts here. A connection closed sooner was closed by what it sent, not by
 * a timeout: that is what "at once" means below, with room for a loaded machine's delays.
 */
const RTMP_TIMEOUT_MS = 4_000;
let t: TestGateway;
let webm: string;
let healthy: Publisher;
let healthyStream: StreamView;

beforeAll(async () => {
  [t, webm] = await Promise.all([
    startTestGateway({
      rtmp: { idleTimeoutMs: RTMP_TIMEOUT_MS, handshakeTimeoutMs: RTMP_TIMEOUT_MS },
      ws: { authTimeoutMs: 1_500, idleTimeoutMs: 2_000, maxMessageBytes: 64 * 1024 },
      identity: { webhookSecret: WEBHOOK_SECRET, webhookToleranceSeconds: 60 },
    }),
    webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG),
  ]);
  const a = await t.account('healthy');
  healthy = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 300, bitrateKbps: 300 });
  healthyStream = await t.waitForStream('healthy', 15_000);
});
afterAll(async () => {
  await healthy?.stop();
  await t?.stop();
});

/** The healthy stream is still live under the same id and its publisher is still connected. */
async function expectHealthy(): Promise<void> {
  const streams = await t.streams();
  expect(streams.find((s) => s.account === 'healthy')?.id).toBe(healthyStream.id);
  expect(healthy.proc.exitCode).toBeNull();
}

/** Milliseconds until the server closed the connection (a failure if it is still open at the deadline). */
async function closedAfter(c: RawRtmp): Promise<number> {
  const start = performance.now();
  try {
    return (await within(c.closedAt, 'the server to close the connection')) - start;
  } finally {
    c.destroy();
  }
}

describe('bad input on the RTMP port', () => {
  it('random bytes instead of a handshake: the connection is closed, nothing else is affected', async () => {
    const c = await rawRtmp(t.rtmpPort, { handshake: false });
    c.write(randomBytes(16 * 1024));
    await closedAfter(c);
    await expectHealthy();
  });

  it('a truncated handshake is closed after the handshake timeout', async () => {
    const c = await rawRtmp(t.rtmpPort, { handshake: false });
    c.write(Buffer.concat([Buffer.from([3]), randomBytes(700)]));
    const ms = await closedAfter(c);
    expect(ms).toBeGreaterThan(RTMP_TIMEOUT_MS / 2);
    await expectHealthy();
  });

  it('a connection that says nothing at all is closed', async () => {
    const c = await rawRtmp(t.rtmpPort, { handshake: false });
    await closedAfter(c);
  });

  it('a connect with a tcUrl that is not a URL closes that connection at once', async () => {
    const c = await rawRtmp(t.rtmpPort);
    c.write(connectCmd('this is not a url'));
    expect(await closedAfter(c)).toBeLessThan(RTMP_TIMEOUT_MS);
    await expectHealthy();
  });

  it('a huge declared message length (16 MiB) before auth is refused without allocating it', async () => {
    const c = await rawRtmp(t.rtmpPort);
    const rssBefore = process.memoryUsage().rss;
    c.write(rtmpMessage({ csid: 3, type: 20, streamId: 0, payload: Buffer.alloc(64), declaredLength: 0xffffff }));
    expect(await closedAfter(c)).toBeLessThan(RTMP_TIMEOUT_MS);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(12 * 1024 * 1024);
    await expectHealthy();
  });

  it('many chunk streams each declaring large messages are bounded per connection', async () => {
    const c = await rawRtmp(t.rtmpPort);
    const parts: Buffer[] = [];
    for (let csid = 3; csid < 63; csid++) parts.push(rtmpMessage({ csid, type: 20, streamId: 0, payload: Buffer.alloc(16), declaredLength: 60 * 1024 }));
    c.write(Buffer.concat(parts));
    expect(await closedAfter(c)).toBeLessThan(RTMP_TIMEOUT_MS);
    await expectHealthy();
  });

  it('a chunk size of 0 closes the connection instead of spinning the parser', async () => {
    const c = await rawRtmp(t.rtmpPort);
    c.write(setChunkSize(0));
    c.write(connectCmd(`rtmp://127.0.0.1:${t.rtmpPort}/live`));
    expect(await closedAfter(c)).toBeLessThan(RTMP_TIMEOUT_MS);
    const health = await t.anon.get('/healthz');
    expect(health.status).toBe(200);
    await expectHealthy();
  });

  it('a publish to another app is refused and recorded as bad_app', async () => {
    const a = await t.account('wrong-app');
    const { client } = await rawPublish(t.rtmpPort, a.streamKey, { app: 'other' });
    await closedAfter(client);
    await waitFor(
      async () => (await t.gw.store.db.selectFrom('publish_refusals').select('id').where('reason', '=', 'bad_app').execute()).length > 0,
      5_000,
      'bad_app refusal',
    );
    expect((await t.streams()).some((s) => s.account === 'wrong-app')).toBe(false);
  });

  it('a malformed stream key is refused as unknown_key without a lookup; playing an unknown path is refused', async () => {
    const { client } = await rawPublish(t.rtmpPort, 'sk_short');
    await closedAfter(client);
    const player = await rawRtmp(t.rtmpPort);
    player.write(connectCmd(`rtmp://127.0.0.1:${t.rtmpPort}/live`));
    player.write(createStreamCmd());
    player.write(playCmd('str_doesnotexist'));
    await closedAfter(player);
  });

  it('a second publish command on an accepted connection ends that connection and leaves no ghost stream', async () => {
    const a = await t.account('double-publish');
    const { client } = await rawPublish(t.rtmpPort, a.streamKey);
    const first = await t.waitForStream('double-publish');
    client.write(publishCmd(a.streamKey));
    await closedAfter(client);
    await t.waitForNoStream('double-publish', 5_000);
    const row = await waitFor(
      async () =>
        (await t.gw.store.db.selectFrom('streams').select('end_reason').where('id', '=', first.id).where('ended_at', 'is not', null).executeTakeFirst()) ??
        null,
      5_000,
      'the end record',
    );
    expect(row.end_reason).toBe('protocol_error');
    // The key can publish again at once (no stale broadcast left behind).
    const again = await rawPublish(t.rtmpPort, a.streamKey);
    expect((await t.waitForStream('double-publish')).id).not.toBe(first.id);
    again.client.destroy();
    await t.waitForNoStream('double-publish', 5_000);
    await expectHealthy();
  });
});

describe('bad input on the WebSocket ingest', () => {
  const open = (authText?: string, streamKey?: string): WsPublisher => wsPublish({ url: t.wsUrl, authText, streamKey });

  it('a binary first message is refused with 4005', async () => {
    const ws = new WebSocket(t.wsUrl);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.once('open', () => ws.send(randomBytes(512)));
    expect(await closed).toBe(CloseCode.badAuthMessage);
  });

  it('a first message that is not JSON is refused with 4005', async () => {
    const c = open('{not json');
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.badAuthMessage);
    expect(closed.reason).toMatch(/JSON/);
  });

  it('an auth message with a wrong type names the bad field', async () => {
    const c = open(JSON.stringify({ type: 'auth', streamKey: 12345 }));
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.badAuthMessage);
    expect(closed.reason).toMatch(/streamKey/);
    const c2 = open(JSON.stringify({ type: 'auth', streamKey: 'sk_x', container: 'avi' }));
    expect((await c2.closed).reason).toMatch(/container/);
  });

  it('no auth message within the auth timeout is closed with 4004', async () => {
    const ws = new WebSocket(t.wsUrl);
    const closed = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(closed).toBe(CloseCode.authTimeout);
  });

  it('an oversized message is closed with 1009 (message too big)', async () => {
    const ws = new WebSocket(t.wsUrl);
    ws.on('error', () => {});
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.once('open', () => ws.send('x'.repeat(70 * 1024)));
    expect(await closed).toBe(CloseCode.messageTooBig);
  });

  async function acceptedClient(handle: string): Promise<{ c: WsPublisher; id: string }> {
    const a = await t.account(handle);
    const c = open(undefined, a.streamKey);
    const id = await c.accepted;
    expect(id).toMatch(/^str_/);
    return { c, id: id! };
  }

  async function endReason(id: string): Promise<string | null> {
    const row = await waitFor(
      async () =>
        (await t.gw.store.db.selectFrom('streams').select('end_reason').where('id', '=', id).where('ended_at', 'is not', null).executeTakeFirst()) ?? null,
      5_000,
      'the stream end record',
    );
    return row.end_reason;
  }

  it('text after auth ends the stream with 1003 and a protocol_error record', async () => {
    const { c, id } = await acceptedClient('ws-text-after');
    c.ws.send('hello');
    const closed: WsClose = await c.closed;
    expect(closed.code).toBe(CloseCode.unsupportedData);
    expect(await endReason(id)).toBe('protocol_error');
  });

  it('a first media chunk that is not WebM is refused with 4002', async () => {
    const { c, id } = await acceptedClient('ws-not-webm');
    c.ws.send(randomBytes(1024), { binary: true });
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.badMedia);
    expect(closed.reason).toMatch(/WebM/);
    expect(await endReason(id)).toBe('protocol_error');
  });

  it('silence past the idle timeout closes with 4000 and records idle_timeout', async () => {
    const a = await t.account('ws-silent');
    const c = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, file: webm, fileDurationSec: 20 });
    const id = await c.accepted;
    await new Promise((r) => setTimeout(r, 600));
    c.pause();
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.idle);
    expect(await endReason(id!)).toBe('idle_timeout');
    await expectHealthy();
  });

  it('an upgrade on another path is refused', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.httpPort}/not-ingest`);
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(err.message).toMatch(/404|Unexpected server response|socket hang up/);
  });
});

describe('bad input on the admin API', () => {
  type Case = { method: 'GET' | 'POST'; path: string; body?: Record<string, unknown>; field: string };
  // One malformed or mistyped request per route that takes input; the 400 must name the bad field.
  const wrongTypes: Case[] = [
    { method: 'POST', path: '/api/v1/accounts', body: { handle: 42 }, field: 'body.handle' },
    { method: 'POST', path: '/api/v1/accounts', body: { handle: 'Bad Handle!' }, field: 'body.handle' },
    { method: 'POST', path: '/api/v1/accounts', body: { handle: 'fine', verified: 'yes' }, field: 'body.verified' },
    { method: 'POST', path: '/api/v1/accounts', body: { handle: 'fine', extra: 1 }, field: 'body' },
    { method: 'POST', path: '/api/v1/accounts/healthy/verify', body: { subject: 7 }, field: 'body.subject' },
    { method: 'POST', path: '/api/v1/accounts/healthy/revoke', body: {}, field: 'body.reason' },
    { method: 'POST', path: '/api/v1/accounts/healthy/revoke', body: { reason: 3 }, field: 'body.reason' },
    { method: 'POST', path: '/api/v1/accounts/healthy/suspend', body: { reason: 'x', durationSeconds: '60' }, field: 'body.durationSeconds' },
    { method: 'POST', path: '/api/v1/accounts/healthy/suspend', body: { reason: 'x', durationSeconds: 1.5 }, field: 'body.durationSeconds' },
    { method: 'POST', path: '/api/v1/accounts/healthy/suspend', body: { reason: '   ' }, field: 'body.reason' },
    { method: 'POST', path: '/api/v1/accounts/healthy/unsuspend', body: { reason: false }, field: 'body.reason' },
    { method: 'POST', path: '/api/v1/accounts/healthy/keys/revoke', body: { keyId: 5 }, field: 'body.keyId' },
    { method: 'POST', path: '/api/v1/streams/str_x/cut', body: {}, field: 'body.reason' },
    { method: 'GET', path: '/api/v1/audit?limit=abc', field: 'query.limit' },
    { method: 'GET', path: '/api/v1/audit?since=yesterday', field: 'query.since' },
    { method: 'GET', path: '/api/v1/audit?bogus=1', field: 'query' },
  ];
  for (const c of wrongTypes) {
    it(`${c.method} ${c.path} ${JSON.stringify(c.body ?? {})} → 400 naming ${c.field}`, async () => {
      const res = c.method === 'GET' ? await t.api.get(c.path) : await t.api.post(c.path, c.body);
      expect(res.status).toBe(400);
      expect(res.body.field).toBe(c.field);
      expect(String(res.body.message)).toContain(c.field);
    });
  }

  const postRoutes = [
    '/api/v1/accounts',
    '/api/v1/accounts/healthy/verify',
    '/api/v1/accounts/healthy/revoke',
    '/api/v1/accounts/healthy/suspend',
    '/api/v1/accounts/healthy/unsuspend',
    '/api/v1/accounts/healthy/keys/revoke',
    `/api/v1/streams/str_x/cut`,
    '/api/v1/identity/webhook',
  ];
  it('malformed JSON on every POST route → 400 invalid_json, and the healthy stream is untouched', async () => {
    for (const p of postRoutes) {
      const res = await t.api.post(p, { raw: '{"reason": "unterminated' });
      expect(res.status, p).toBe(400);
      expect(res.body.error, p).toBe('invalid_json');
    }
    await expectHealthy();
  });

  const protectedRoutes: Array<{ method: 'GET' | 'POST'; path: string }> = [
    { method: 'GET', path: '/api/v1/streams' },
    { method: 'POST', path: '/api/v1/streams/str_x/cut' },
    { method: 'POST', path: '/api/v1/accounts' },
    { method: 'GET', path: '/api/v1/accounts/healthy' },
    { method: 'POST', path: '/api/v1/accounts/healthy/verify' },
    { method: 'POST', path: '/api/v1/accounts/healthy/revoke' },
    { method: 'POST', path: '/api/v1/accounts/healthy/suspend' },
    { method: 'POST', path: '/api/v1/accounts/healthy/unsuspend' },
    { method: 'POST', path: '/api/v1/accounts/healthy/keys' },
    { method: 'POST', path: '/api/v1/accounts/healthy/keys/revoke' },
    { method: 'GET', path: '/api/v1/audit' },
  ];
  it('every protected route answers 401 without a token, with a malformed token, and with an unknown token', async () => {
    const unknown = `mg_${'A'.repeat(43)}`;
    for (const r of protectedRoutes) {
      for (const client of [t.anon, t.anon.withToken('not-a-token'), t.anon.withToken(unknown)]) {
        const res = await client.request(r.method, r.path, r.method === 'POST' ? { reason: 'x' } : undefined);
        expect(res.status, `${r.method} ${r.path} token=${client.token}`).toBe(401);
        expect(res.body.error).toBe('unauthorized');
      }
    }
    const raw = await fetch(`${t.httpUrl}/api/v1/streams`, { headers: { authorization: `Basic ${t.operatorToken}` } });
    expect(raw.status).toBe(401);
  });

  it('a revoked token is refused with 401', async () => {
    const token = await t.token('moderator', 'to-revoke');
    expect((await t.anon.withToken(token).get('/api/v1/streams')).status).toBe(200);
    const { revokeToken } = await import('../../gateway/admin/tokens.ts');
    await revokeToken(t.gw.store.db, 'test', 'to-revoke');
    expect((await t.anon.withToken(token).get('/api/v1/streams')).status).toBe(401);
  });

  it('a moderator token on an operator route → 403, and nothing changes', async () => {
    const operatorOnly: Array<{ path: string; body: Record<string, unknown> }> = [
      { path: '/api/v1/accounts', body: { handle: 'mod-made' } },
      { path: '/api/v1/accounts/healthy/verify', body: {} },
      { path: '/api/v1/accounts/healthy/revoke', body: { reason: 'mod tries' } },
      { path: '/api/v1/accounts/healthy/keys', body: {} },
      { path: '/api/v1/accounts/healthy/keys/revoke', body: {} },
    ];
    for (const r of operatorOnly) {
      const res = await t.mod.post(r.path, r.body);
      expect(res.status, r.path).toBe(403);
      expect(res.body.error).toBe('forbidden');
    }
    expect((await t.api.get('/api/v1/accounts/mod-made')).status).toBe(404);
    await expectHealthy();
  });

  it('unknown ids → 404 on every route that takes one', async () => {
    const cases: Array<{ method: 'GET' | 'POST'; path: string; body?: Record<string, unknown> }> = [
      { method: 'GET', path: '/api/v1/accounts/nobody' },
      { method: 'POST', path: '/api/v1/accounts/nobody/verify', body: {} },
      { method: 'POST', path: '/api/v1/accounts/nobody/revoke', body: { reason: 'x' } },
      { method: 'POST', path: '/api/v1/accounts/nobody/suspend', body: { reason: 'x' } },
      { method: 'POST', path: '/api/v1/accounts/nobody/unsuspend', body: { reason: 'x' } },
      { method: 'POST', path: '/api/v1/accounts/nobody/keys', body: {} },
      { method: 'POST', path: '/api/v1/accounts/nobody/keys/revoke', body: {} },
      { method: 'POST', path: '/api/v1/accounts/healthy/keys/revoke', body: { keyId: 'key_nope' } },
      { method: 'POST', path: '/api/v1/streams/str_nope/cut', body: { reason: 'x' } },
      { method: 'GET', path: '/api/v1/no-such-route' },
    ];
    for (const c of cases) {
      const res = await t.api.request(c.method, c.path, c.body);
      expect(res.status, `${c.method} ${c.path}`).toBe(404);
      expect(typeof res.body.message).toBe('string');
    }
    // Unsuspending an account that is not suspended is a conflict, not a success.
    expect((await t.mod.post('/api/v1/accounts/healthy/unsuspend', { reason: 'x' })).status).toBe(409);
    expect((await t.api.post('/api/v1/accounts', { handle: 'healthy' })).status).toBe(409);
  });
});

describe('identity webhook', () => {
  const send = (raw: string, headers: Record<string, string>) => t.anon.post('/api/v1/identity/webhook', { raw }, headers);
  const signed = (raw: string, ts = Math.floor(Date.now() / 1000)) => ({
    'x-modgate-timestamp': String(ts),
    'x-modgate-signature': signWebhook(WEBHOOK_SECRET, ts, raw),
  });

  async function refusedAudit(reason: string): Promise<number> {
    const res = await t.mod.get<{ records: Array<{ reason: string }> }>('/api/v1/audit?action=identity.webhook.refused&limit=1000');
    return res.body.records.filter((r) => r.reason === reason).length;
  }

  it('a forged signature → 401, recorded in the audit log, nothing changes', async () => {
    await t.account('hook-forged', { verified: false });
    const raw = JSON.stringify({ id: 'evt_forged', type: 'identity.verified', handle: 'hook-forged', subject: 'idp:x' });
    const ts = Math.floor(Date.now() / 1000);
    const res = await send(raw, { 'x-modgate-timestamp': String(ts), 'x-modgate-signature': signWebhook('some-other-secret-xxxxxxxx', ts, raw) });
    expect(res.status).toBe(401);
    expect(String(res.body.message)).toContain('bad_signature');
    expect(await refusedAudit('bad_signature')).toBeGreaterThanOrEqual(1);
    // Tampered body under a valid signature of another body:
    const res2 = await send(raw.replace('hook-forged', 'healthy'), signed(raw));
    expect(res2.status).toBe(401);
    const missing = await send(raw, {});
    expect(missing.status).toBe(401);
    expect(await refusedAudit('missing_signature')).toBeGreaterThanOrEqual(1);
    const acc = await t.api.get<{ identity: { status: string } }>('/api/v1/accounts/hook-forged');
    expect(acc.body.identity.status).toBe('unverified');
  });

  it('a stale event (timestamp outside the tolerance) → 401 stale, recorded', async () => {
    const raw = JSON.stringify({ id: 'evt_stale', type: 'identity.verified', handle: 'hook-forged' });
    const res = await send(raw, signed(raw, Math.floor(Date.now() / 1000) - 3600));
    expect(res.status).toBe(401);
    expect(String(res.body.message)).toContain('stale');
    expect(await refusedAudit('stale')).toBeGreaterThanOrEqual(1);
  });

  it('a good event verifies the account (and it can then publish); replaying it → 401 replayed, recorded, and changes nothing', async () => {
    const a = await t.account('hook-good', { verified: false });
    const raw = JSON.stringify({ id: 'evt_good_1', type: 'identity.verified', handle: 'hook-good', subject: 'idp:person-hook', provider: 'acme' });
    const res = await send(raw, signed(raw));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ eventId: 'evt_good_1', outcome: 'applied', identityStatus: 'verified' });
    const acc = await t.api.get<{ identity: { status: string; subject: string; method: string } }>('/api/v1/accounts/hook-good');
    expect(acc.body.identity).toMatchObject({ status: 'verified', subject: 'idp:person-hook', method: 'webhook:acme' });

    const replay = await send(raw, signed(raw));
    expect(replay.status).toBe(401);
    expect(String(replay.body.message)).toContain('replayed');
    expect(await refusedAudit('replayed')).toBe(1);
    const after = await t.api.get<{ identity: { status: string } }>('/api/v1/accounts/hook-good');
    expect(after.body.identity.status).toBe('verified');
    const applied = await t.gw.store.db.selectFrom('identity_events').selectAll().where('event_id', '=', 'evt_good_1').execute();
    expect(applied).toHaveLength(1);

    const { client } = await rawPublish(t.rtmpPort, a.streamKey);
    await t.waitForStream('hook-good');
    client.destroy();
  });

  it('a valid event with a bad body → 400 naming the field; an unknown handle is recorded, not applied', async () => {
    const bad = JSON.stringify({ id: 'evt_bad', type: 'identity.approved', handle: 'hook-good' });
    const res = await send(bad, signed(bad));
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('body.type');
    const unknown = JSON.stringify({ id: 'evt_unknown', type: 'identity.verified', handle: 'no-such-handle' });
    const r2 = await send(unknown, signed(unknown));
    expect(r2.status).toBe(200);
    expect(r2.body.outcome).toBe('unknown_account');
  });
});

describe('after all the abuse', () => {
  it('the healthy stream is still live under the same id and a player still reads its frames', async () => {
    await expectHealthy();
    const read = await readFrames(t.playUrl(healthyStream.id), { frames: 5 });
    expect(read.frames, read.stderr).toBe(5);
    expect((await t.anon.get('/healthz')).status).toBe(200);
  });
});
