import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { ApiClient, FFMPEG, waitFor } from '../helpers/gateway.ts';
import { postReport } from '../helpers/viewer-report.ts';

/**
 * Viewer reports end to end on a real gateway sampling in adaptive mode (hash matching only, no ONNX
 * model): a real ffmpeg RTMP publisher, reports sent over real sockets from distinct loopback addresses
 * (127.0.0.x: each is a distinct source), the stream escalated to full-rate sampling, the moderators'
 * queue, a policy rule on `viewer_report` signals cutting at three independent reports, the statement
 * that decision makes (a notice, not an automated detection), and the per-source rate limit.
 */

let gw: Gateway;
let dataDir: string;
let api: ApiClient;
let mod: ApiClient;
const publishers: Publisher[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'modgate-reports-'));
  const config = ConfigSchema.parse({
    dataDir,
    rtmp: { host: '127.0.0.1', port: 0 },
    // Listen on every loopback address so reports can come from 127.0.0.2, 127.0.0.3, …
    http: { host: '0.0.0.0', port: 0, checkResponses: true },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 200,
    classifiers: { models: [] },
    sampling: { enabled: true, mode: 'adaptive', fps: 2, keyframeDecoders: 1 },
    accountability: { reports: { perSourceMax: 5, windowMs: 600_000, hashRotateMs: 86_400_000 } },
  });
  gw = await startGateway(config, { log: createLogger('silent') });
  const base = `http://127.0.0.1:${gw.httpPort}`;
  api = new ApiClient(base, (await issueToken(gw.store.db, 'test', 'rep-op', 'operator')).token);
  mod = new ApiClient(base, (await issueToken(gw.store.db, 'test', 'rep-mod', 'moderator')).token);
  // The default policy plus: three independent viewer reports cut the stream and queue it urgently.
  const policy = (await api.get<{ text: string }>('/api/v1/policy')).body.text;
  const withReports = policy.replace(
    /\nrules:\n/,
    `\nrules:\n  - id: viewer-reports-3\n    description: three different viewers reported the stream\n    severity: high\n    match: { source: viewer_report }\n    smoothing: { k: 3, n: 3 }\n    actions:\n      cut: true\n      review: { priority: urgent }\n\n`,
  );
  const put = await api.request('PUT', '/api/v1/policy', { text: withReports, format: 'yaml', comment: 'viewer reports rule' });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
});
afterAll(async () => {
  await Promise.all(publishers.map((p) => p.stop()));
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** POST /api/v1/reports from a given loopback address. */
const report = (from: string, body: Record<string, unknown>) => postReport(gw.httpPort, from, body);

async function liveStream(handle: string): Promise<{ id: string; publisher: Publisher }> {
  await addAccount(gw.store.db, { id: 'test' }, { handle, verified: true, subject: `idp:${handle}` });
  const { key } = await issueKey(gw.store.db, { id: 'test' }, handle);
  await gw.gate.refresh();
  const publisher = startPublisher({
    url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
    ffmpegPath: FFMPEG,
    width: 320,
    height: 240,
    rate: 15,
    durationSec: 120,
    bitrateKbps: 300,
  });
  publishers.push(publisher);
  const live = await waitFor(() => gw.registry.list().find((s) => s.handle === handle), 15_000, `${handle} live`);
  return { id: live.id, publisher };
}

describe('viewer reports', () => {
  it('a report switches the stream to full-rate sampling and raises it in the queue; three independent reporters cut it under a viewer_report rule', async () => {
    const { id, publisher } = await liveStream('rep-streamer');
    await waitFor(() => gw.watcher!.stats(id)?.mode === 'keyframe', 15_000, 'keyframe sampling while calm');

    const pushed: Array<{ type: string; data: Record<string, unknown> }> = [];
    const unsubscribe = gw.events.subscribe((e) => pushed.push(e));
    const first = await report('127.0.0.2', { streamId: id, category: 'imminent_harm', note: 'someone is threatening a person off camera' });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    await waitFor(() => gw.watcher!.stats(id)?.mode === 'full', 15_000, 'full-rate sampling after the report');
    // Pushed to moderators' consoles (GET /api/v1/events) as it happens.
    expect(pushed.find((e) => e.type === 'report.created')?.data).toMatchObject({
      reportId: first.body.reportId,
      streamId: id,
      category: 'imminent_harm',
      independentReports: 1,
    });
    unsubscribe();

    const queue = await mod.get<{
      streams: Array<{
        streamId: string;
        account: string;
        independentReports: number;
        reports: number;
        live: { playPath: string } | null;
        notes: Array<{ note: string }>;
      }>;
    }>('/api/v1/reports');
    expect(queue.status).toBe(200);
    expect(queue.body.streams).toEqual([
      expect.objectContaining({
        streamId: id,
        account: 'rep-streamer',
        independentReports: 1,
        reports: 1,
        live: expect.objectContaining({ playPath: `/live/${id}` }),
      }),
    ]);
    expect(queue.body.streams[0]!.notes[0]!.note).toContain('threatening');
    // The same viewer again: stored, but not a second independent report (no second signal).
    expect((await report('127.0.0.2', { streamId: id, category: 'imminent_harm' })).status).toBe(202);
    expect((await mod.get<{ streams: Array<{ independentReports: number; reports: number }> }>('/api/v1/reports')).body.streams[0]).toMatchObject({
      independentReports: 1,
      reports: 2,
    });
    expect(gw.registry.get(id)).toBeDefined();

    expect((await report('127.0.0.3', { streamId: id, category: 'violence' })).status).toBe(202);
    expect((await report('127.0.0.4', { streamId: id, category: 'imminent_harm' })).status).toBe(202);
    await publisher.done;
    const decision = await waitFor(
      () => gw.store.db.selectFrom('decisions').selectAll().where('stream_id', '=', id).executeTakeFirst(),
      15_000,
      'the decision',
    );
    expect(decision).toMatchObject({ rule_id: 'viewer-reports-3', review_status: 'pending', review_priority: 'urgent' });

    await gw.accountability.syncNow();
    const st = await mod.get<{ statements: Array<{ decisionId: string; statement: Record<string, unknown> }> }>('/api/v1/statements?account=rep-streamer');
    expect(st.body.statements[0]).toMatchObject({
      decisionId: decision.id,
      statement: expect.objectContaining({ source_type: 'SOURCE_ARTICLE_16', automated_detection: 'No', automated_decision: 'AUTOMATED_DECISION_FULLY' }),
    });

    const resolved = await mod.post<{ resolved: number }>(`/api/v1/streams/${id}/reports/resolve`, {
      action: 'cut',
      reason: 'cut by policy on reports; confirmed',
    });
    expect(resolved.body.resolved).toBe(4);
    expect((await mod.get<{ streams: unknown[] }>('/api/v1/reports')).body.streams).toEqual([]);
    // No address is stored: only the keyed hash.
    const rows = await gw.store.db.selectFrom('viewer_reports').selectAll().where('stream_id', '=', id).execute();
    expect(JSON.stringify(rows)).not.toContain('127.0.0');
  });

  it('the rate limit holds against 1,000 reports from one source, and other sources still get through', async () => {
    const { id } = await liveStream('rep-flooded');
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const r = await report('127.0.0.9', { streamId: id, category: 'other' });
      statuses.push(r.status);
      if (r.status === 429) retryAfter ??= r.retryAfter;
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(995);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect((await report('127.0.0.10', { streamId: id, category: 'other' })).status).toBe(202);
    const stored = await gw.store.db.selectFrom('viewer_reports').select('id').where('stream_id', '=', id).execute();
    expect(stored).toHaveLength(6);
    // One flooding source is one reporter: the stream is not cut by it.
    expect(gw.registry.get(id)).toBeDefined();
    expect((await report('127.0.0.11', { streamId: 'str_nope', category: 'other' })).status).toBe(404);
    expect((await report('127.0.0.11', { streamId: id, category: 'nonsense' })).status).toBe(400);
  });
});
