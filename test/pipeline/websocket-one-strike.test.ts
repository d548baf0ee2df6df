import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { DETECTION_INTERNALS } from '../../gateway/enforcement/streamer-words.ts';
import type { Gateway } from '../../gateway/server.ts';
import { makeFile } from '../helpers/ffmpeg-publisher.ts';
import { wsPublish } from '../helpers/ws-publisher.ts';
import { bankImage, renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping WebSocket one-strike tests: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

describe.skipIf(!ffmpeg)('one-strike policy over WebSocket ingest (real WebM from ffmpeg, real sockets)', () => {
  let dir: string;
  let gw: Gateway;
  let key: string;
  let violating: string;
  let benign: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-ws-e2e-'));
    const image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    // A browser-like WebM: benign frames, then the banked picture flipped and scaled into the frame.
    // The two encodes run side by side: on a loaded 2-core machine VP8 encoding is most of this hook.
    [violating, benign] = await Promise.all([
      makeFile({
        ffmpegPath: ffmpeg!.path,
        file: path.join(dir, 'violating.webm'),
        format: 'webm',
        width: 480,
        height: 270,
        durationSec: 14,
        pattern: { color: 'seagreen' },
        image: { path: image, afterSec: 4, transform: 'hflip' },
      }),
      makeFile({
        ffmpegPath: ffmpeg!.path,
        file: path.join(dir, 'benign.webm'),
        format: 'webm',
        width: 480,
        height: 270,
        durationSec: 10,
        pattern: 'testsrc2',
      }),
    ]);
    gw = await startPipelineGateway(dir, { classifiers: { models: [] } });
    key = await verifiedAccount(gw, 'browser');
    token = (await issueToken(gw.store.db, 'test', 'op', 'operator')).token;
    await bankImage(gw.store.db, image);
    await gw.banks.refresh();
  }, 240_000);

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `ws://127.0.0.1:${gw.httpPort}/ingest`;

  it('a benign browser stream is sampled and produces no hash_match signal', async () => {
    const matches: string[] = [];
    const onDecision = () => matches.push('decision');
    gw.runner.on('decision', onDecision);
    const pub = wsPublish({ url: url(), streamKey: key, file: benign, fileDurationSec: 10 });
    expect(await pub.accepted).toMatch(/^str_/);
    const streamId = (await pub.accepted)!;
    // Frames were sampled from the WebSocket stream (however long that takes on a loaded machine).
    await waitFor(async () => (gw.watcher?.sampler(streamId)?.stats().framesEmitted ?? 0) > 3, 30_000, 'more than 3 sampled frames');
    await pub.close();
    gw.runner.off('decision', onDecision);
    expect(matches).toEqual([]);
    const rows = await gw.store.db.selectFrom('signals').select('body').execute();
    expect(rows.filter((r) => r.body.includes('"hash_match"'))).toEqual([]);
  }, 40_000);

  it('a browser streaming banked content is told why and closed with the suspension code; the reconnect is refused', async () => {
    const pub = wsPublish({ url: url(), streamKey: key, file: violating, fileDurationSec: 14 });
    expect(await pub.accepted).toMatch(/^str_/);
    // The test's own deadline bounds the wait: on a loaded host the cut may take a while, never forever.
    const closed = await pub.closed;
    expect(closed.code).toBe(CloseCode.suspended);
    const ended = pub.messages.find((m) => m.type === 'ended');
    expect(ended?.reason).toBe('suspended');
    // The streamer reads plain words (gateway/enforcement/streamer-words.ts): no rule ids, no distances.
    expect(ended?.message).toMatch(/^automated moderation found .+ in your stream$/);
    expect(ended?.message).not.toMatch(/tve-known-content|distance/);
    // Structured fields, so the broadcaster page never parses text: the suspension's end and the appeal.
    expect(ended).toMatchObject({
      suspension: { endsAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), permanent: false },
      decisionId: expect.stringMatching(/^dec_/),
      appeal: { page: '/broadcast', endpoint: '/api/v1/me/appeals', decisionId: expect.stringMatching(/^dec_/) },
    });
    expect(Date.parse(ended?.suspension?.endsAt ?? '') - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(JSON.stringify(ended)).not.toMatch(DETECTION_INTERNALS);

    const retry = wsPublish({ url: url(), streamKey: key, file: benign, fileDurationSec: 10 });
    expect(await retry.accepted).toBeNull();
    const refused = await retry.closed;
    expect(refused.code).toBe(CloseCode.suspended);
    expect(refused.reason).toMatch(/suspended until/);
    // Before the close (whose reason holds 123 bytes), the same structured fields for the refusal.
    const why = retry.messages.find((m) => m.type === 'refused');
    expect(why).toMatchObject({ reason: 'suspended', suspension: { permanent: false }, decisionId: ended?.decisionId });
    expect(why?.message).toMatch(/^automated moderation found .+ in your stream$/);

    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/decisions?limit=10`, { headers: { authorization: `Bearer ${token}` } });
    const { decisions } = (await res.json()) as { decisions: Array<{ ruleId: string; shadow: boolean }> };
    expect(decisions.filter((d) => d.ruleId === 'tve-known-content' && !d.shadow)).toHaveLength(1);

    // The time to cut starts at the violating block's arrival, read from the WebM as it came in
    // (gateway/ingest/webm-times.ts), as for RTMP: every cited signal carries it, before its observation.
    const row = await gw.store.db.selectFrom('decisions').select('evidence').where('rule_id', '=', 'tve-known-content').executeTakeFirstOrThrow();
    const cited = (JSON.parse(row.evidence) as { signals: Array<{ observedAt: number; ingestedAt?: number }> }).signals;
    expect(cited.length).toBeGreaterThan(0);
    for (const c of cited) expect(c.ingestedAt).toBeLessThanOrEqual(c.observedAt);
  }, 60_000);
});
