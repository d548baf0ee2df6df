import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { FFMPEG, runCli, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { webmFixture, wsPublish, type WsClose, type WsPublisher } from '../helpers/ws-publisher.ts';
import { within } from '../helpers/wait.ts';

/**
 * The publish gate and the cut primitive over the WebSocket ingest: a Node `ws` client sends a real
 * VP8 WebM file (made by ffmpeg) in 250 ms chunks in real time.
 */

let t: TestGateway;
let webm: string;
const clients: WsPublisher[] = [];

beforeAll(async () => {
  [t, webm] = await Promise.all([startTestGateway({ syncIntervalMs: 500 }), webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG)]);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await t?.stop();
});

function publish(streamKey: string): WsPublisher {
  const c = wsPublish({ url: t.wsUrl, streamKey, file: webm, fileDurationSec: 20 });
  clients.push(c);
  return c;
}

/** How the server closed the WebSocket (a failure if it is still open at the deadline, test/helpers/wait.ts). */
function serverClose(c: WsPublisher): Promise<WsClose> {
  return within(c.closed, 'the server to close the WebSocket');
}

async function accountId(handle: string): Promise<string> {
  return (await t.gw.store.db.selectFrom('accounts').select('id').where('handle', '=', handle).executeTakeFirstOrThrow()).id;
}

async function wsRefusals(handle: string | null, reason: string) {
  let q = t.gw.store.db.selectFrom('publish_refusals').selectAll().where('protocol', '=', 'websocket').where('reason', '=', reason);
  q = handle === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', await accountId(handle));
  return q.execute();
}

describe('WebSocket publish gate', () => {
  it('a verified account is accepted with {"type":"accepted"} and its WebM chunks reach the media tap', async () => {
    const a = await t.account('ws-ok');
    const c = publish(a.streamKey);
    const id = await c.accepted;
    expect(id).toMatch(/^str_/);
    expect(c.messages[0]).toEqual({ type: 'accepted', streamId: id });
    const listed = await t.waitForStream('ws-ok');
    expect(listed).toMatchObject({ id, protocol: 'websocket', playPath: null });
    const live = t.gw.registry.get(id!);
    const received: Buffer[] = [];
    live!.media!.subscribe((chunk) => received.push(chunk));
    await waitFor(() => received.length >= 3, 5_000, 'three media chunks');
    expect(received[0]!.readUInt32BE(0)).toBe(0x1a45dfa3);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  const cases: Array<{ name: string; reason: string; code: number; setup: () => Promise<{ key: string; handle: string | null }> }> = [
    { name: 'an unknown stream key', reason: 'unknown_key', code: CloseCode.unauthorized, setup: async () => ({ key: `sk_${'y'.repeat(32)}`, handle: null }) },
    {
      name: 'an unverified account',
      reason: 'not_verified',
      code: CloseCode.forbidden,
      setup: async () => ({ key: (await t.account('ws-unverified', { verified: false })).streamKey, handle: 'ws-unverified' }),
    },
    {
      name: 'a revoked stream key',
      reason: 'key_revoked',
      code: CloseCode.unauthorized,
      setup: async () => {
        const a = await t.account('ws-revoked-key');
        expect((await t.api.post('/api/v1/accounts/ws-revoked-key/keys/revoke', { reason: 'leaked' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
    {
      name: 'a revoked identity',
      reason: 'identity_revoked',
      code: CloseCode.forbidden,
      setup: async () => {
        const a = await t.account('ws-revoked-id');
        expect((await t.api.post('/api/v1/accounts/ws-revoked-id/revoke', { reason: 'fraud' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
    {
      name: 'a suspended account',
      reason: 'suspended',
      code: CloseCode.suspended,
      setup: async () => {
        const a = await t.account('ws-suspended');
        expect((await t.mod.post('/api/v1/accounts/ws-suspended/suspend', { reason: 'strike' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: refused with close code ${c.code}, nothing accepted, refusal recorded as ${c.reason}`, async () => {
      const { key, handle } = await c.setup();
      const p = publish(key);
      expect(await p.accepted).toBeNull();
      const closed = await serverClose(p);
      expect(closed.code).toBe(c.code);
      expect(closed.reason.length).toBeGreaterThan(0);
      expect(closed.reason).not.toContain(key);
      expect(p.messages.some((m) => m.type === 'accepted')).toBe(false);
      const rows = await waitFor(
        async () => ((await wsRefusals(handle, c.reason)).length > 0 ? wsRefusals(handle, c.reason) : null),
        5_000,
        'the refusal record',
      );
      expect(rows).toHaveLength(1);
      if (handle !== null) expect((await t.streams()).some((s) => s.account === handle)).toBe(false);
    });
  }
});

describe('WebSocket enforcement on a live stream', () => {
  it('a cut through the API sends {"type":"ended"} and closes with 4008', async () => {
    const a = await t.account('ws-cut');
    const c = publish(a.streamKey);
    const id = await c.accepted;
    const res = await t.mod.post(`/api/v1/streams/${id}/cut`, { reason: 'nudity' });
    expect(res.status).toBe(200);
    const closed = await serverClose(c);
    expect(closed.code).toBe(CloseCode.cut);
    // A moderator's cut is a decision of its own (a statement of reasons, an appeal): the streamer is told who ended it and why.
    expect(closed.reason).toBe('ended by a moderator: nudity');
    const ended = c.messages.at(-1) as { decisionId: string };
    expect(ended.decisionId).toMatch(/^dec_/);
    expect(ended).toEqual({
      type: 'ended',
      reason: 'cut',
      message: 'ended by a moderator: nudity',
      suspension: null,
      decisionId: ended.decisionId,
      appeal: { decisionId: ended.decisionId, endpoint: '/api/v1/me/appeals', page: '/broadcast' },
    });
    const row = await t.gw.store.db.selectFrom('streams').selectAll().where('id', '=', id!).executeTakeFirstOrThrow();
    expect(row.end_reason).toBe('cut');
  });

  it('a suspension sends {"type":"ended","reason":"suspended"} and closes with 4009; reconnecting is refused; unsuspend allows it again', async () => {
    const a = await t.account('ws-susp-cycle');
    const c = publish(a.streamKey);
    await c.accepted;
    expect((await t.mod.post('/api/v1/accounts/ws-susp-cycle/suspend', { reason: 'strike', durationSeconds: 600 })).status).toBe(200);
    const closed = await serverClose(c);
    expect(closed.code).toBe(CloseCode.suspended);
    expect(c.messages.at(-1)).toMatchObject({ type: 'ended', reason: 'suspended' });

    const again = publish(a.streamKey);
    expect(await again.accepted).toBeNull();
    expect((await serverClose(again)).code).toBe(CloseCode.suspended);

    expect((await t.mod.post('/api/v1/accounts/ws-susp-cycle/unsuspend', { reason: 'appeal granted' })).status).toBe(200);
    const third = publish(a.streamKey);
    expect(await third.accepted).toMatch(/^str_/);
  });

  it('a suspension binds the person across accounts over WebSocket too', async () => {
    await t.account('ws-person-1', { subject: 'idp:ws-person' });
    const second = await t.account('ws-person-2', { subject: 'idp:ws-person' });
    const live = publish(second.streamKey);
    await live.accepted;
    expect((await t.mod.post('/api/v1/accounts/ws-person-1/suspend', { reason: 'strike' })).status).toBe(200);
    expect((await serverClose(live)).code).toBe(CloseCode.suspended);
    const retry = publish(second.streamKey);
    expect((await serverClose(retry)).code).toBe(CloseCode.suspended);
  });

  it('revoking the identity with the CLI (separate process) ends the WebSocket stream with 4003', async () => {
    const a = await t.account('ws-revoke-cli');
    const c = publish(a.streamKey);
    await c.accepted;
    const cli = await runCli(['account', 'revoke', 'ws-revoke-cli', '--data-dir', t.dataDir]);
    expect(cli.code, cli.stderr).toBe(0);
    const closed = await serverClose(c);
    expect(closed.code).toBe(CloseCode.forbidden);
    expect(c.messages.at(-1)).toMatchObject({ type: 'ended', reason: 'identity_revoked' });
  });

  it('a publisher that disconnects by itself is recorded as publisher_disconnected', async () => {
    const a = await t.account('ws-leaves');
    const c = publish(a.streamKey);
    const id = await c.accepted;
    c.ws.close(1000, 'bye');
    await c.closed;
    await t.waitForNoStream('ws-leaves', 5_000);
    const row = await waitFor(
      async () => (await t.gw.store.db.selectFrom('streams').selectAll().where('id', '=', id!).where('ended_at', 'is not', null).executeTakeFirst()) ?? null,
      5_000,
      'the end record',
    );
    expect(row.end_reason).toBe('publisher_disconnected');
  });
});
