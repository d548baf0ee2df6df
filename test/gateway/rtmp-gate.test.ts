import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { connectCmd, createStreamCmd, playCmd, rawPublish, rawRtmp } from '../helpers/rtmp-client.ts';
import { FFMPEG, readFrames, runCli, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { within } from '../helpers/wait.ts';

/**
 * The publish gate and the cut primitive over RTMP, end to end: a real ffmpeg publisher (testsrc2,
 * H.264 in FLV, 320x240) against a real gateway, and a second ffmpeg as the player.
 */

let t: TestGateway;
const publishers: Publisher[] = [];

beforeAll(async () => {
  t = await startTestGateway({ syncIntervalMs: 500 });
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await t?.stop();
});

function publish(streamKey: string): Publisher {
  const p = startPublisher({ url: t.publishUrl(streamKey), ffmpegPath: FFMPEG, width: 320, height: 240, rate: 15, durationSec: 60, bitrateKbps: 300 });
  publishers.push(p);
  return p;
}

/** ffmpeg's exit (a failure if it is still publishing at the deadline, test/helpers/wait.ts). */
async function exited(p: Publisher): Promise<{ code: number | null; stderr: string }> {
  const r = await within(p.done, 'the publisher to be disconnected');
  return { code: r.code, stderr: r.stderrTail };
}

/** The refusal ffmpeg printed from the server's onStatus ("Server error: <code>: <words>"), by its stable code. */
function serverError(stderr: string): string | null {
  return /Server error: ([a-z_]+):/.exec(stderr)?.[1] ?? null;
}

async function refusals(accountId: string | null, reason: string) {
  let q = t.gw.store.db.selectFrom('publish_refusals').selectAll().where('reason', '=', reason).where('protocol', '=', 'rtmp');
  q = accountId === null ? q.where('account_id', 'is', null) : q.where('account_id', '=', accountId);
  return q.execute();
}

async function accountId(handle: string): Promise<string> {
  const row = await t.gw.store.db.selectFrom('accounts').select('id').where('handle', '=', handle).executeTakeFirstOrThrow();
  return row.id;
}

/** The row of a stream that has ended, once its end is on record (the publisher's socket closes first). */
async function streamRow(id: string) {
  return waitFor(
    async () => (await t.gw.store.db.selectFrom('streams').selectAll().where('id', '=', id).where('ended_at', 'is not', null).executeTakeFirst()) ?? null,
    10_000,
    `the end record of ${id}`,
  );
}

describe('RTMP publish gate', () => {
  it("a verified account's publish is accepted and a player reads its frames back by the public stream id", async () => {
    const a = await t.account('rtmp-ok');
    publish(a.streamKey);
    const s = await t.waitForStream('rtmp-ok');
    expect(s.protocol).toBe('rtmp');
    expect(s.playPath).toBe(`/live/${s.id}`);
    expect(s.playPath).not.toContain(a.streamKey);
    const read = await readFrames(t.playUrl(s.id), { frames: 5 });
    expect(read.frames, read.stderr).toBe(5);
    // The key itself is not a playable path: only the public id is.
    const byKey = await readFrames(t.playUrl(a.streamKey), { frames: 1, timeoutMs: 5_000 });
    expect(byKey.frames).toBe(0);
  });

  const cases: Array<{ name: string; reason: string; setup: () => Promise<{ key: string; handle: string | null }> }> = [
    { name: 'an unknown stream key', reason: 'unknown_key', setup: async () => ({ key: `sk_${'x'.repeat(32)}`, handle: null }) },
    {
      name: 'an unverified account',
      reason: 'not_verified',
      setup: async () => ({ key: (await t.account('rtmp-unverified', { verified: false })).streamKey, handle: 'rtmp-unverified' }),
    },
    {
      name: 'a revoked stream key',
      reason: 'key_revoked',
      setup: async () => {
        const a = await t.account('rtmp-revoked-key');
        expect((await t.api.post('/api/v1/accounts/rtmp-revoked-key/keys/revoke', { keyId: a.keyId, reason: 'leaked' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
    {
      name: 'a revoked identity',
      reason: 'identity_revoked',
      setup: async () => {
        const a = await t.account('rtmp-revoked-id');
        expect((await t.api.post('/api/v1/accounts/rtmp-revoked-id/revoke', { reason: 'document fraud' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
    {
      name: 'a suspended account',
      reason: 'suspended',
      setup: async () => {
        const a = await t.account('rtmp-suspended');
        expect((await t.mod.post('/api/v1/accounts/rtmp-suspended/suspend', { reason: 'one strike' })).status).toBe(200);
        return { key: a.streamKey, handle: a.handle };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: the publish is refused before any media is relayed, ffmpeg exits with an error, and the refusal is recorded as ${c.reason}`, async () => {
      const { key, handle } = await c.setup();
      const p = publish(key);
      // A player waiting on the would-be path (the key) while the publisher tries.
      const player = readFrames(t.playUrl(key), { frames: 1, timeoutMs: 6_000 });
      const exit = await exited(p);
      expect(exit.code).not.toBe(0);
      // ffmpeg prints the server's refusal description (onStatus NetStream.Publish.BadName), not just an I/O error.
      expect(serverError(exit.stderr), exit.stderr).toBe(c.reason);
      expect(/Server error: .*/.exec(exit.stderr)![0]).not.toContain(key);
      expect((await player).frames).toBe(0);
      const id = handle === null ? null : await accountId(handle);
      const rows = await waitFor(async () => ((await refusals(id, c.reason)).length > 0 ? refusals(id, c.reason) : null), 5_000, 'the refusal record');
      // A refusal of no account is audited per source address (aggregated per window), an account's with its port.
      expect(rows[0]!.remote_addr).toMatch(handle === null ? /^127\.0\.0\.1$/ : /^127\.0\.0\.1:/);
      expect(rows[0]!.detail).not.toContain(key);
      if (handle !== null) {
        expect((await t.streams()).some((s) => s.account === handle)).toBe(false);
        const started = await t.gw.store.db.selectFrom('streams').select('id').where('account_id', '=', id!).execute();
        expect(started).toHaveLength(0);
      }
    });
  }

  it('a refused publisher is never told it is live: no NetStream.Publish.Start before the close (OBS would flash "live")', async () => {
    const refused = await rawPublish(t.rtmpPort, `sk_${'A'.repeat(32)}`);
    expect(refused.started).toBe(false);
    // It is told why instead: onStatus NetStream.Publish.BadName with the reason's code first.
    expect(refused.client.received().includes('NetStream.Publish.BadName', 0, 'latin1')).toBe(true);
    expect(refused.client.received().includes('unknown_key: ', 0, 'latin1')).toBe(true);
    refused.client.destroy();
    const a = await t.account('told-live');
    const accepted = await rawPublish(t.rtmpPort, a.streamKey);
    expect(accepted.started).toBe(true);
    accepted.client.destroy();
  });

  it('a connect to another app is answered NetConnection.Connect.Rejected with the reason, as SRS does, and closed', async () => {
    const c = await rawRtmp(t.rtmpPort);
    c.write(connectCmd(`rtmp://127.0.0.1:${t.rtmpPort}/other`, 'other'));
    expect(await c.waitFor('NetConnection.Connect.Rejected', 10_000)).toBe(true);
    expect(c.received().includes("bad_app: connect to app 'other'", 0, 'latin1')).toBe(true);
    expect(c.received().includes('NetConnection.Connect.Success', 0, 'latin1')).toBe(false);
    await c.closedAt;
  });
});

describe('RTMP enforcement on a live stream', () => {
  it("a cut through the API closes the publisher's connection within 5 s and is recorded", async () => {
    const a = await t.account('rtmp-cut');
    const p = publish(a.streamKey);
    const s = await t.waitForStream('rtmp-cut');
    const res = await t.mod.post(`/api/v1/streams/${s.id}/cut`, { reason: 'test cut' });
    expect(res.status).toBe(200);
    const exit = await exited(p);
    expect(exit.code).not.toBe(0);
    expect(serverError(exit.stderr), exit.stderr).toBe('cut');
    expect((await t.streams()).some((x) => x.id === s.id)).toBe(false);
    const row = await streamRow(s.id);
    expect(row?.end_reason).toBe('cut');
    expect(row?.ended_at).not.toBeNull();
    const audit = await t.mod.get<{ records: Array<{ action: string; reason: string; actor: string }> }>(`/api/v1/audit?action=stream.cut&targetId=${s.id}`);
    expect(audit.body.records[0]).toMatchObject({ action: 'stream.cut', reason: 'test cut' });
    expect(audit.body.records[0]!.actor).toMatch(/^token:/);
    // A cut of a stream that is no longer live is a 404.
    expect((await t.mod.post(`/api/v1/streams/${s.id}/cut`, { reason: 'again' })).status).toBe(404);
  });

  it('a suspension through the API closes the connection; reconnecting while suspended is refused; unsuspend lets it publish again', async () => {
    const a = await t.account('rtmp-susp-cycle');
    const p1 = publish(a.streamKey);
    const s = await t.waitForStream('rtmp-susp-cycle');
    expect((await t.mod.post('/api/v1/accounts/rtmp-susp-cycle/suspend', { reason: 'strike', durationSeconds: 3600 })).status).toBe(200);
    const cut = await exited(p1);
    expect(cut.code).not.toBe(0);
    expect(serverError(cut.stderr), cut.stderr).toBe('suspended');
    expect((await streamRow(s.id))?.end_reason).toBe('suspended');

    const p2 = publish(a.streamKey);
    expect((await exited(p2)).code).not.toBe(0);
    expect(await refusals(await accountId('rtmp-susp-cycle'), 'suspended')).toHaveLength(1);

    expect((await t.mod.post('/api/v1/accounts/rtmp-susp-cycle/unsuspend', { reason: 'appeal granted' })).status).toBe(200);
    publish(a.streamKey);
    const again = await t.waitForStream('rtmp-susp-cycle');
    expect(again.id).not.toBe(s.id);
  });

  it('a suspension binds the person: a second account with the same identity subject is refused, and its live stream is cut', async () => {
    const first = await t.account('person-a1', { subject: 'idp:person-42' });
    const second = await t.account('person-a2', { subject: 'idp:person-42' });
    const live = publish(second.streamKey);
    await t.waitForStream('person-a2');
    expect((await t.mod.post(`/api/v1/accounts/${first.handle}/suspend`, { reason: 'strike on first account' })).status).toBe(200);
    // The other account's live stream is cut too, and it cannot publish again while the first is suspended.
    expect((await exited(live)).code).not.toBe(0);
    const retry = publish(second.streamKey);
    expect((await exited(retry)).code).not.toBe(0);
    expect(await refusals(await accountId('person-a2'), 'suspended')).toHaveLength(1);
    const view = await t.mod.get<{ activeSuspension: { reason: string } | null }>('/api/v1/accounts/person-a2');
    expect(view.body.activeSuspension?.reason).toBe('strike on first account');
  });

  it('revoking the identity through the API ends the live stream', async () => {
    const a = await t.account('rtmp-revoke-api');
    const p = publish(a.streamKey);
    const s = await t.waitForStream('rtmp-revoke-api');
    expect((await t.api.post('/api/v1/accounts/rtmp-revoke-api/revoke', { reason: 'provider revoked' })).status).toBe(200);
    expect((await exited(p)).code).not.toBe(0);
    expect((await streamRow(s.id))?.end_reason).toBe('identity_revoked');
  });

  it('revoking the stream key through the API ends the live stream that uses it', async () => {
    const a = await t.account('rtmp-revoke-key');
    const p = publish(a.streamKey);
    const s = await t.waitForStream('rtmp-revoke-key');
    expect((await t.api.post('/api/v1/accounts/rtmp-revoke-key/keys/revoke', {})).status).toBe(200);
    expect((await exited(p)).code).not.toBe(0);
    expect((await streamRow(s.id))?.end_reason).toBe('key_revoked');
  });

  it('revoking the identity with the CLI (a separate process, same SQLite file) ends the live stream without a restart', async () => {
    const a = await t.account('rtmp-revoke-cli');
    const p = publish(a.streamKey);
    const s = await t.waitForStream('rtmp-revoke-cli');
    const cli = await runCli(['account', 'revoke', 'rtmp-revoke-cli', '--reason', 'fraud', '--data-dir', t.dataDir, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const revokedAt = Date.now();
    // The gateway polls the change feed every 500 ms; the bound is generous for loaded CI machines.
    const exit = await exited(p);
    expect(exit.code).not.toBe(0);
    expect(Date.now() - revokedAt).toBeLessThan(10_000);
    expect((await streamRow(s.id))?.end_reason).toBe('identity_revoked');
    const cut = await t.mod.get<{ records: Array<{ actor: string }> }>(`/api/v1/audit?action=stream.cut&targetId=${s.id}`);
    expect(cut.body.records[0]?.actor).toBe('gate-sync');
  });
});

describe('RTMP on shutdown', () => {
  it('a live publisher and a player are told gateway_shutdown (onStatus) before the gateway closes their connections', async () => {
    const own = await startTestGateway();
    try {
      const a = await own.account('rtmp-shutdown');
      const pub = await rawPublish(own.rtmpPort, a.streamKey);
      expect(pub.started).toBe(true);
      const s = await own.waitForStream('rtmp-shutdown');
      const player = await rawRtmp(own.rtmpPort);
      player.write(connectCmd(`rtmp://127.0.0.1:${own.rtmpPort}/live`));
      player.write(createStreamCmd());
      player.write(playCmd(s.id));
      expect(await player.waitFor('NetStream.Play.Start', 10_000)).toBe(true);
      await own.stop();
      await Promise.all([pub.client.closedAt, player.closedAt]);
      const told = pub.client.received().toString('latin1');
      expect(told).toContain('NetStream.Unpublish.Success');
      expect(told).toContain('gateway_shutdown: ');
      expect(player.received().toString('latin1')).toContain('NetStream.Play.UnpublishNotify');
    } finally {
      await own.stop();
    }
  });
});
