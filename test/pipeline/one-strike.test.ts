import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { DETECTION_INTERNALS } from '../../gateway/enforcement/streamer-words.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { bankImage, renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping one-strike end-to-end tests: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

describe.skipIf(!ffmpeg)('one-strike policy end to end (real ffmpeg over RTMP, real SQLite)', () => {
  let dir: string;
  let gw: Gateway;
  let token: string;
  let api: (method: string, url: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;
  let image: string;
  let key: string;
  let otherKey: string;
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-e2e-'));
    // The "known violating content": a synthetic, feature-rich picture made here (no shared data needed).
    image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    // Default classifiers: the nsfw ONNX model built at install time runs on every frame beside the PDQ matcher.
    gw = await startPipelineGateway(dir);
    const db = gw.store.db;
    token = (await issueToken(db, 'test', 'mod', 'operator')).token;
    const base = `http://127.0.0.1:${gw.httpPort}`;
    api = async (method, url, body) => {
      const res = await fetch(base + url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    key = await verifiedAccount(gw, 'streamer');
    otherKey = await verifiedAccount(gw, 'bystander');
    await bankImage(db, image);
    await gw.banks.refresh();
  });

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = (streamKey: string, withImageAfter: number | null, durationSec = 40) => {
    const p = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${streamKey}`,
      width: 640,
      height: 360,
      durationSec,
      pattern: { color: 'darkslateblue' },
      ...(withImageAfter !== null ? { image: { path: image, afterSec: withImageAfter, transform: 'hflip' as const } } : {}),
    });
    publishers.push(p);
    return p;
  };
  const live = async (handle: string) =>
    ((await api('GET', '/api/v1/streams')).body.streams as Array<{ account: string; id: string }>).find((s) => s.account === handle);

  it('a flipped, re-encoded copy of banked content is cut, the streamer suspended and the reconnect refused, while another stream stays up', async () => {
    const bystander = publish(otherKey, null, 240);
    await waitFor(() => live('bystander'), 15_000, 'the bystander to go live');
    // Long enough that a cut on a loaded machine still comes long before the publisher's own end.
    const violator = publish(key, 4, 240);
    await waitFor(() => live('streamer'), 15_000, 'the streamer to go live');

    // Resolves when ffmpeg exits: a cut exits non-zero with the server's words, a natural end exits 0.
    const exit = await violator.done;
    expect(exit.code, 'the violating publisher was disconnected').not.toBe(0);
    // ffmpeg prints the onStatus description: the streamer's words, the suspension's end and where to
    // appeal; never the moderators' reason (rule id, distance, limit).
    const said = /Server error: (.*)/.exec(exit.stderrTail)?.[1] ?? '';
    expect(said).toMatch(
      /^suspended: automated moderation found .+ in your stream; live streaming is suspended until \d{4}-.+; to appeal decision dec_\S+, open \/broadcast/,
    );
    expect(said).not.toMatch(DETECTION_INTERNALS);
    expect(said).not.toContain('tve-known-content');

    type AccountView = { activeSuspension: { reason: string; endsAt: string } | null; streams: Array<{ endReason: string | null }> };
    // The publisher's socket closes first; the stream's end is on record right after.
    const account = await waitFor(
      async () => {
        const view = (await api('GET', '/api/v1/accounts/streamer')).body as AccountView;
        return view.streams[0]?.endReason ? view : null;
      },
      15_000,
      "the stream's end on record",
    );
    // The stored reason is the streamer-facing one (gateway/enforcement/streamer-words.ts): plain words, no rule ids.
    expect(account.activeSuspension?.reason).toMatch(/^automated moderation found .+ in your stream$/);
    const days = (Date.parse(account.activeSuspension!.endsAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(account.streams[0]!.endReason).toBe('suspended');
    expect(await live('bystander'), 'the other account is untouched').toBeTruthy();
    expect(gw.classifiers.map((c) => c.name)).toEqual(['nsfw']);
    expect(gw.classifiers[0]!.pool.stats().completed, 'the ONNX model classified the sampled frames').toBeGreaterThan(5);

    const retry = publish(key, null, 5);
    const retryExit = await retry.done;
    expect(retryExit.code).not.toBe(0);
    // The refusal quotes the suspension in the streamer's words too: its end, the plain reason, the appeal.
    const refusedWith = /Server error: (.*)/.exec(retryExit.stderrTail)?.[1] ?? '';
    expect(refusedWith).toMatch(
      /^suspended: live streaming is suspended until \d{4}-.+: automated moderation found .+ in your stream; to appeal decision dec_/,
    );
    expect(refusedWith).not.toMatch(DETECTION_INTERNALS);
    const refusals = (await api('GET', '/api/v1/accounts/streamer')).body.refusals as Array<{ reason: string }>;
    expect(refusals.some((r) => r.reason === 'suspended')).toBe(true);
    await bystander.stop();
  }, 300_000);

  it('the decision waits in the review queue with evidence; overturning it restores the right to go live; the audit log shows every step', async () => {
    const queue = (await api('GET', '/api/v1/reviews')).body.decisions as Array<{ id: string; ruleId: string; evidence: Array<{ image: string }> }>;
    const decision = queue.find((d) => d.ruleId === 'tve-known-content');
    expect(decision).toBeTruthy();
    expect(decision!.evidence.length).toBeGreaterThan(0);

    // The time to cut runs from the violating frame's arrival at the gateway (its RTMP message), not from
    // the frame leaving the decoder: every cited signal says when its media came in, before it was observed.
    const row = await gw.store.db.selectFrom('decisions').select(['evidence', 'decided_at']).where('id', '=', decision!.id).executeTakeFirstOrThrow();
    const cited = (JSON.parse(row.evidence) as { signals: Array<{ observedAt: number; ingestedAt?: number }> }).signals;
    expect(cited.length).toBeGreaterThan(0);
    for (const c of cited) expect(c.ingestedAt).toBeLessThanOrEqual(c.observedAt);
    const arrived = Math.min(...cited.map((c) => c.ingestedAt ?? Number.NaN));
    expect(Number.isInteger(arrived), 'every cited signal carries ingestedAt').toBe(true);
    const stats = (await api('GET', '/api/v1/stats')).body as { timeToCut: { cuts: number; medianMs: number } };
    expect(stats.timeToCut).toMatchObject({ cuts: 1, medianMs: Number(row.decided_at) - arrived });

    const over = await api('POST', `/api/v1/decisions/${decision!.id}/overturn`, { reason: 'false positive on review' });
    expect(over.status).toBe(200);
    expect(over.body.suspensionsLifted).toBe(1);
    expect(over.body.strikesVoided).toBe(1);

    const again = publish(key, null, 30);
    await waitFor(() => live('streamer'), 15_000, 'the streamer to go live again');
    await again.stop();

    const audit = (await api('GET', '/api/v1/audit?limit=200')).body.records as Array<{ action: string }>;
    const actions = new Set(audit.map((r) => r.action));
    for (const a of ['decision.enforce', 'stream.cut', 'decision.overturn']) expect(actions, a).toContain(a);

    const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/modgate_decisions_total\{rule="tve-known-content",shadow="false",node="[^"]+"\} 1\b/);
    expect(metrics).toMatch(/modgate_streams_ended_total\{reason="suspended",node="[^"]+"\} 1/);
    expect(metrics).toMatch(/modgate_publish_refusals_total\{protocol="rtmp",reason="suspended",node="[^"]+"\} [1-9]/);
    // Observability (issue 11): every series carries this node's id; the banked frames were counted, the cut
    // timed from the deciding frame's observation, the database's queries timed.
    const node = gw.registry.nodeId;
    // A sample's value, its labels matched whatever their order in the exposition.
    const sample = (name: string, labels: Record<string, string>) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`))
        .find((l) => Object.entries({ ...labels, node }).every(([k, v]) => l.includes(`${k}="${v}"`)))
        ?.split(' ')
        .map(Number)[1];
    expect(sample('modgate_hash_matches_total', { bank: 'tve', category: 'terrorist-violent-extremism' })).toBeGreaterThan(0);
    expect(sample('modgate_time_to_cut_seconds_count', { reason: 'suspended' })).toBe(1);
    expect(sample('modgate_time_to_cut_seconds_bucket', { le: '+Inf', reason: 'suspended' })).toBe(1);
    expect(sample('modgate_db_query_seconds_count', { outcome: 'ok' })).toBeGreaterThan(0);
  }, 60_000);
});
