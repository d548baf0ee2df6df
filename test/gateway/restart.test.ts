import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startTestGateway, waitFor, ApiClient, type StreamView, type TestGateway } from '../helpers/gateway.ts';
import { rawPublish } from '../helpers/rtmp-client.ts';
import { START_DEADLINE_MS } from '../helpers/wait.ts';

/**
 * Durable state across restarts on one data directory: a graceful stop and start keeps accounts, keys,
 * suspensions, tokens and the audit log; a gateway killed with live streams has them closed as
 * `gateway_shutdown` when it starts again.
 */

const dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-restart-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Saved {
  alice: string;
  bob: string;
  carol: string;
  operatorToken: string;
  auditCount: number;
  liveId: string;
}
const saved: Partial<Saved> = {};

async function auditCount(t: TestGateway): Promise<number> {
  const row = await t.gw.store.db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function accepted(t: TestGateway, key: string): Promise<boolean> {
  // The server's answer to the publish (NetStream.Publish.Start, or a refusal and a close), not a pause.
  const { client, started } = await rawPublish(t.rtmpPort, key);
  client.destroy();
  return started;
}

describe('restart on the same data directory', () => {
  it('first run: accounts, keys, a suspension, a token and a live stream at a graceful stop', async () => {
    const t = await startTestGateway({ dataDir });
    saved.alice = (await t.account('alice')).streamKey;
    saved.bob = (await t.account('bob', { subject: 'idp:bob' })).streamKey;
    const carol = await t.account('carol');
    saved.carol = carol.streamKey;
    expect((await t.mod.post('/api/v1/accounts/bob/suspend', { reason: 'strike' })).status).toBe(200);
    expect((await t.api.post('/api/v1/accounts/carol/keys/revoke', { keyId: carol.keyId })).status).toBe(200);
    saved.operatorToken = t.operatorToken;
    const { client } = await rawPublish(t.rtmpPort, saved.alice);
    const live = await t.waitForStream('alice');
    saved.liveId = live.id;
    await t.stop({ keepData: true });
    await client.closedAt;
  });

  it('second run: everything is still there, and the stream live at the graceful stop was closed as gateway_shutdown', async () => {
    const t = await startTestGateway({ dataDir });
    try {
      const api = new ApiClient(t.httpUrl, saved.operatorToken!);
      const alice = await api.get<{ identity: { status: string }; keys: unknown[]; streams: Array<{ id: string; endReason: string }> }>(
        '/api/v1/accounts/alice',
      );
      expect(alice.status).toBe(200);
      expect(alice.body.identity.status).toBe('verified');
      expect(alice.body.keys).toHaveLength(1);
      expect(alice.body.streams.find((s) => s.id === saved.liveId)?.endReason).toBe('gateway_shutdown');
      const bob = await api.get<{ activeSuspension: { reason: string } | null }>('/api/v1/accounts/bob');
      expect(bob.body.activeSuspension?.reason).toBe('strike');
      const audit = await api.get<{ records: Array<{ action: string; targetId: string }> }>('/api/v1/audit?limit=1000');
      const actions = audit.body.records.map((r) => `${r.action} ${r.targetId}`);
      expect(actions).toEqual(expect.arrayContaining(['account.create alice', 'account.suspend bob', 'key.revoke carol', `stream.cut ${saved.liveId}`]));
      saved.auditCount = await auditCount(t);

      expect(await accepted(t, saved.alice!)).toBe(true);
      expect(await accepted(t, saved.bob!)).toBe(false);
      expect(await accepted(t, saved.carol!)).toBe(false);
      const reasons = await t.gw.store.db.selectFrom('publish_refusals').select('reason').execute();
      expect(reasons.map((r) => r.reason).sort()).toEqual(['key_revoked', 'suspended']);
    } finally {
      await t.stop({ keepData: true });
    }
  });

  it('a gateway killed (SIGKILL) with a live stream: the next start closes that stream as gateway_shutdown', async () => {
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin/modgate.js'), 'serve', '--data-dir', dataDir, '--rtmp-port', '0', '--http-port', '0', '--json'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, MODGATE_LOG_LEVEL: 'silent', MODGATE_RTMP_HOST: '127.0.0.1', MODGATE_HTTP_HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const info = await waitFor(
        () => {
          try {
            return JSON.parse(out) as { rtmpUrl: string; httpUrl: string; demo: unknown };
          } catch {
            if (child.exitCode !== null) throw new Error(`serve exited: ${err}`);
            return null;
          }
        },
        START_DEADLINE_MS,
        'modgate serve to start',
      );
      // Accounts already exist: no demo account is seeded on this data directory.
      expect(info.demo).toBeNull();
      const rtmpPort = Number(new URL(info.rtmpUrl).port);
      const api = new ApiClient(info.httpUrl.replace('localhost', '127.0.0.1'), saved.operatorToken!);
      const { client } = await rawPublish(rtmpPort, saved.alice!);
      const live = await waitFor(async () => (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams[0], 5_000, 'the live stream');
      child.kill('SIGKILL');
      await exited;
      await client.closedAt;

      const t = await startTestGateway({ dataDir });
      try {
        const row = await t.gw.store.db.selectFrom('streams').selectAll().where('id', '=', live.id).executeTakeFirstOrThrow();
        expect(row.end_reason).toBe('gateway_shutdown');
        expect(row.ended_at).not.toBeNull();
        const open = await t.gw.store.db.selectFrom('streams').select('id').where('ended_at', 'is', null).execute();
        expect(open).toHaveLength(0);
        expect(await auditCount(t)).toBeGreaterThanOrEqual(saved.auditCount!);
        expect(await accepted(t, saved.alice!)).toBe(true);
      } finally {
        await t.stop({ keepData: true });
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
