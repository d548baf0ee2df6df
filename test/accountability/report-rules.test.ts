import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import type { DecisionRow } from '../../gateway/store/schema.ts';
import { expectedRedScore, writeOnnxFixtures, type OnnxFixtures } from '../fixtures/onnx-fixtures.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { ApiClient } from '../helpers/gateway.ts';
import { postReport } from '../helpers/viewer-report.ts';
import { within } from '../helpers/wait.ts';
import { startPipelineGateway, verifiedAccount, waitFor } from '../pipeline/setup.ts';

/**
 * The shipped policy's combined report rules end to end (policy/default.yaml: reports-and-violence-medium,
 * viewer-reports-review), unchanged, on a real gateway: real ffmpeg RTMP publishers, the violence signal
 * from a real ONNX model (the red-detector fixture: violence = sigmoid(8·(meanR − meanG) − 2)), reports
 * POSTed over real sockets from distinct loopback addresses (127.0.0.2/3/4: three independent sources).
 *
 *  - three reports + a medium model score (0.6 ≤ s < 0.9) on the stream → cut, urgent review;
 *  - three reports and no model score ≥ 0.6 → a review item (high) only, and the stream goes on.
 *
 * Each step waits on what the gateway recorded (stored signals, decisions), so a failure says which
 * signal never came rather than timing out on the cut.
 */

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping the report-rule end-to-end tests: no ffmpeg found');

// A medium violence score: r − g = 0.4 → sigmoid(1.2) ≈ 0.77 (H.264 shifts the colour a little, still in [0.6, 0.9)).
const MEDIUM = '#993399';
// Dark slate blue: r − g ≈ 0.04 → ≈ 0.16, below every violence rule and below the report rule's 0.6.
const CALM = 'darkslateblue';

describe.skipIf(!ffmpeg)('viewer reports + a classifier score under the shipped policy (real ffmpeg, real ONNX model)', () => {
  let dir: string;
  let gw: Gateway;
  let fixtures: OnnxFixtures;
  let mod: ApiClient;
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    expect(expectedRedScore(0x99, 0x33)).toBeGreaterThan(0.6);
    expect(expectedRedScore(0x99, 0x33)).toBeLessThan(0.9);
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-report-rules-'));
    fixtures = await writeOnnxFixtures();
    gw = await startPipelineGateway(dir, {
      // The shipped policy as it is; the red detector is the only model (a violence source, as a deployed
      // violence model would be); 4 sampled frames a second keep two publishers cheap on 2 loaded cores.
      sampling: { enabled: true, mode: 'full', fps: 4, width: 320, height: 180, keyframeDecoders: 1 },
      classifiers: { models: [fixtures.redNchw] },
    });
    mod = new ApiClient(`http://127.0.0.1:${gw.httpPort}`, (await issueToken(gw.store.db, 'test', 'rr-mod', 'moderator')).token);
  });

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await gw?.stop();
    await fixtures?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function live(handle: string, color: string): Promise<{ id: string; publisher: Publisher }> {
    const key = await verifiedAccount(gw, handle);
    const publisher = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
      width: 320,
      height: 240,
      rate: 15,
      durationSec: 300,
      pattern: { color },
    });
    publishers.push(publisher);
    const stream = await waitFor(async () => gw.registry.list().find((s) => s.handle === handle), 60_000, `${handle} live`);
    return { id: stream.id, publisher };
  }

  /** POST /api/v1/reports from a loopback address of its own (each one a distinct source). */
  const report = async (from: string, body: Record<string, unknown>) => (await postReport(gw.httpPort, from, body)).status;

  /** The signals the runner stored for the stream (score ≥ classifiers' storeSignalsFloor, every report). */
  async function stored(streamId: string, source: string): Promise<Signal[]> {
    const rows = await gw.store.db.selectFrom('signals').select('body').where('stream_id', '=', streamId).orderBy('observed_at').execute();
    return rows.map((r) => JSON.parse(r.body) as Signal).filter((s) => s.source === source);
  }

  const decisionsOf = (streamId: string): Promise<DecisionRow[]> =>
    gw.store.db.selectFrom('decisions').selectAll().where('stream_id', '=', streamId).orderBy('decided_at').execute();

  it('three independent reports and a medium violence score cut the stream and queue it urgently', async () => {
    const { id, publisher } = await live('rr-medium', MEDIUM);
    // The model scores this stream medium: a recorded violence signal in [0.6, 0.9), before any report.
    const medium = await waitFor(
      async () => (await stored(id, 'violence')).find((s) => (s.score ?? 0) >= 0.6),
      60_000,
      'a stored violence signal ≥ 0.6 on the medium stream',
    );
    expect(medium.score).toBeLessThan(0.9);
    // Medium alone does not cut: graphic-violence-medium only queues it (and nothing cuts before the reports).
    const before = await waitFor(async () => (await decisionsOf(id)).find((d) => d.rule_id === 'graphic-violence-medium'), 60_000, 'the medium review');
    expect(JSON.parse(before.actions)).not.toHaveProperty('cut', true);
    expect(gw.registry.get(id)).toBeDefined();

    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) expect(await report(from, { streamId: id, category: 'violence' })).toBe(202);
    // Three distinct reporters recorded as signals (the hashed source in detail.reporter).
    const reports = await waitFor(
      async () => ((await stored(id, 'viewer_report')).length >= 3 ? stored(id, 'viewer_report') : null),
      30_000,
      'three stored reports',
    );
    expect(new Set(reports.map((r) => r.detail?.['reporter'])).size).toBe(3);

    const cut = await waitFor(
      async () => (await decisionsOf(id)).find((d) => d.rule_id === 'reports-and-violence-medium'),
      60_000,
      'the combined-rule decision',
    );
    expect(JSON.parse(cut.actions)).toMatchObject({ cut: true, review: { priority: 'urgent' } });
    expect(JSON.parse(cut.actions)).not.toHaveProperty('suspend');
    expect(cut).toMatchObject({ review_status: 'pending', review_priority: 'urgent', decided_by: 'policy:reports-and-violence-medium' });
    expect(cut.reason).toMatch(/3 distinct viewer_report/);
    expect(cut.reason).toMatch(/distinct violence/);
    const exit = await within(publisher.done, 'the publisher to be disconnected', 60_000);
    expect(exit.code).not.toBe(0);
    await waitFor(async () => !gw.registry.get(id), 30_000, 'the stream off the live list');

    // The urgent item is in the moderators' review queue.
    const queue = await mod.get<{ decisions: Array<{ id: string; ruleId: string; review: { priority: string | null } }> }>('/api/v1/reviews');
    expect(queue.body.decisions.find((d) => d.id === cut.id)).toMatchObject({ ruleId: 'reports-and-violence-medium', review: { priority: 'urgent' } });

    // Its statement of reasons: on notice (reports), detected automatically as well (the model), the rule's ground.
    await gw.accountability.syncNow();
    const st = await mod.get<{ statements: Array<{ decisionId: string | null; statement: Record<string, unknown> }> }>('/api/v1/statements?account=rr-medium');
    expect(st.body.statements.find((s) => s.decisionId === cut.id)?.statement).toMatchObject({
      source_type: 'SOURCE_ARTICLE_16',
      automated_detection: 'Yes',
      automated_decision: 'AUTOMATED_DECISION_FULLY',
      category: 'STATEMENT_CATEGORY_VIOLENCE',
      decision_visibility: ['DECISION_VISIBILITY_CONTENT_REMOVED'],
    });
  }, 300_000);

  it('three independent reports without a model score queue the stream for review and it goes on', async () => {
    const { id, publisher } = await live('rr-calm', CALM);
    // The model does see this stream (frames are classified), scoring it low.
    await waitFor(async () => (gw.watcher!.stats(id)?.framesEmitted ?? 0) > 0, 60_000, 'frames sampled from the calm stream');

    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) expect(await report(from, { streamId: id, category: 'imminent_harm' })).toBe(202);
    const review = await waitFor(async () => (await decisionsOf(id)).find((d) => d.rule_id === 'viewer-reports-review'), 60_000, 'the reports review item');
    expect(JSON.parse(review.actions)).toMatchObject({ cut: false, review: { priority: 'high' } });
    expect(review).toMatchObject({ review_status: 'pending', review_priority: 'high' });

    // It goes on: frames keep being sampled after the decision, the publisher is still connected, and no
    // rule cut it (none of the recorded violence signals reaches the combined rule's 0.6).
    const framesAtDecision = gw.watcher!.stats(id)!.framesEmitted;
    await waitFor(async () => (gw.watcher!.stats(id)?.framesEmitted ?? 0) >= framesAtDecision + 8, 60_000, 'frames sampled after the review decision');
    expect(gw.registry.get(id)).toBeDefined();
    expect(publisher.proc.exitCode).toBeNull();
    const decisions = await decisionsOf(id);
    expect(decisions.filter((d) => JSON.parse(d.actions).cut === true)).toEqual([]);
    expect(decisions.map((d) => d.rule_id)).not.toContain('reports-and-violence-medium');
    expect((await stored(id, 'violence')).filter((s) => (s.score ?? 0) >= 0.6)).toEqual([]);
  }, 300_000);
});
