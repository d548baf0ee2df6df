import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, REPO_ROOT, waitFor, type StreamView } from '../helpers/gateway.ts';
import { renderKnownImage } from '../pipeline/setup.ts';

/**
 * Two gateway processes on one PostgreSQL database, changes pushed between them (LISTEN/NOTIFY). Polling is
 * turned down to once a minute and the reconcile to once in ten, so only the push can make these pass
 * within their deadlines: a suspension through A cuts the publisher on B, a policy activated on A is
 * B's active policy, a bank entry added on A matches (and cuts) a live stream on B.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('twonodes');

describe.skipIf(pgUnavailable !== null)('two gateway nodes on one PostgreSQL: push, not polling', () => {
  let admin: Store;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let apiA: ApiClient;
  let apiB: ApiClient;
  let dir: string;
  const publishers: Publisher[] = [];
  const keys: Record<string, string> = {};
  const slow = { syncIntervalMs: 60_000, nodes: { reconcileIntervalMs: 600_000, heartbeatIntervalMs: 2_000, lostAfterMs: 10_000 } };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-2n-'));
    const url = await freshPgUrl();
    admin = await openStore(url);
    for (const handle of ['alice', 'carol']) {
      await addAccount(admin.db, { id: 'test' }, { handle, verified: true, subject: `idp:${handle}` });
      keys[handle] = (await issueKey(admin.db, { id: 'test' }, handle)).key;
    }
    const token = (await issueToken(admin.db, 'test', 'op', 'operator')).token;
    [a, b] = await Promise.all([
      startGatewayProcess({ db: url, config: slow }),
      // B samples its streams (hash matching only: no ONNX model, to keep the CPU for the rest).
      startGatewayProcess({ db: url, config: { ...slow, sampling: { enabled: true } } }),
    ]);
    apiA = new ApiClient(a.httpUrl, token);
    apiB = new ApiClient(b.httpUrl, token);
  });

  afterAll(async () => {
    await Promise.allSettled(publishers.map((p) => p.stop()));
    await Promise.allSettled([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await admin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const liveOn = async (api: ApiClient, handle: string) =>
    (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams?.find((s) => s.account === handle);
  const ended = (p: Publisher) => (p.proc.exitCode !== null || p.proc.signalCode !== null ? true : null);

  it("a suspension through A cuts the account's publisher on B", async () => {
    const p = startPublisher({ url: b.publishUrl(keys.alice!), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15 });
    publishers.push(p);
    const live = await waitFor(() => liveOn(apiB, 'alice'), 20_000, 'alice live on B');
    const res = await apiA.post('/api/v1/accounts/alice/suspend', { reason: 'suspended on A' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await waitFor(() => ended(p), 20_000, "alice's publisher on B to be cut");
    // B closes the socket first, then records the end.
    const row = await waitFor(
      async () =>
        (await admin.db
          .selectFrom('streams')
          .select(['end_reason', 'node_id'])
          .where('id', '=', live.id)
          .where('ended_at', 'is not', null)
          .executeTakeFirst()) ?? null,
      20_000,
      "the end of alice's stream on record",
    );
    expect(row.end_reason).toBe('suspended');
    expect(a.alive() && b.alive()).toBe(true);
    // B's /metrics: its node, the database up, the listener connected, the gate notification counted.
    const metrics = await apiB.get<string>('/metrics');
    expect(metrics.status).toBe(200);
    const text = String(metrics.body);
    expect(text).toMatch(/^modgate_node_info\{node="node_[0-9a-f]+"\} 1$/m);
    expect(text).toMatch(/^modgate_database_up\{node="node_[0-9a-f]+"\} 1$/m);
    expect(text).toMatch(/^modgate_change_listener_up\{node="node_[0-9a-f]+"\} 1$/m);
    expect(Number(/^modgate_change_notifications_total\{kind="gate",node="node_[0-9a-f]+"\} (\d+)$/m.exec(text)?.[1] ?? 0)).toBeGreaterThan(0);
    // The notification carried its change time: B measured the lag from A's change to its arrival.
    expect(Number(/^modgate_notification_lag_seconds_count\{node="node_[0-9a-f]+"\} (\d+)$/m.exec(text)?.[1] ?? 0)).toBeGreaterThan(0);
  });

  it("a policy activated on A is B's active policy", async () => {
    const text = readFileSync(path.join(REPO_ROOT, 'policy/default.yaml'), 'utf8');
    const res = await apiA.request<{ versionId: number }>('PUT', '/api/v1/policy', { text, format: 'yaml', comment: 'activated on A' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const versionId = res.body.versionId;
    expect(versionId).toBeGreaterThan(0);
    await waitFor(
      async () => (await apiB.get<{ versionId: number }>('/api/v1/policy')).body.versionId === versionId,
      20_000,
      'B to apply the policy activated on A',
    );
  });

  it('a bank entry added on A matches a live stream on B, which is cut', async () => {
    const image = await renderKnownImage(FFMPEG, path.join(dir, 'known.png'));
    const [h] = await hashFile(image);
    const p = startPublisher({
      url: b.publishUrl(keys.carol!),
      ffmpegPath: FFMPEG,
      width: 640,
      height: 360,
      pattern: { color: 'darkslateblue' },
      image: { path: image, afterSec: 0 },
    });
    publishers.push(p);
    const live = await waitFor(() => liveOn(apiB, 'carol'), 20_000, 'carol live on B');
    expect((await apiA.post('/api/v1/banks', { name: 'tve', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const add = await apiA.post('/api/v1/banks/tve/entries', { entries: [{ hash: h!.hash }] });
    expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);
    await waitFor(() => ended(p), 45_000, "carol's publisher on B to be cut by the match");
    const decision = await waitFor(
      () => admin.db.selectFrom('decisions').select(['rule_id', 'stream_id']).where('stream_id', '=', live.id).executeTakeFirst(),
      20_000,
      'the decision on record',
    );
    expect(decision.rule_id).toBe('tve-known-content');
  }, 120_000);
});
