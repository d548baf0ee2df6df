import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { automatedReason, categoryWords, DETECTION_INTERNALS, streamerReason } from '../../gateway/enforcement/streamer-words.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { ApiClient, waitFor } from '../helpers/gateway.ts';
import { makeFile } from '../helpers/ffmpeg-publisher.ts';
import { wsPublish, type WsPublisher } from '../helpers/ws-publisher.ts';
import { startConsoleFixture, type ConsoleFixture } from '../console/fixture.ts';

describe('streamer-facing words', () => {
  it("an automated decision's reason becomes plain words without distances, scores, limits or bank names; a moderator's stays", () => {
    const engine = {
      decided_by: 'policy:tve-known-content',
      reason: 'tve-known-content: bank tve, distance ≤ 31 matched (closest distance 16); → cut the feed, suspend live for 30d',
      actions: JSON.stringify({ cut: true, strike: { category: 'terrorist-violent-extremism', severity: 'critical' } }),
    };
    const text = streamerReason(engine);
    expect(text).toBe('automated moderation found terrorist or violent extremist content in your stream');
    expect(text).not.toMatch(DETECTION_INTERNALS);
    expect(streamerReason({ decided_by: 'token:mo', reason: 'Spam stream', actions: '{}' })).toBe('Spam stream');
    expect(categoryWords('some-new_category')).toBe('content in the category "some new category"');
    expect(automatedReason(null)).not.toMatch(DETECTION_INTERNALS);
  });
});

const skip = (await findFfmpeg()) ? null : 'no ffmpeg found';
if (skip) console.warn(`skipping the streamer-words end-to-end test: ${skip}`);

describe.skipIf(skip !== null)('a policy cut as the streamer sees it (WebSocket ingest of a banked image, real PDQ matching)', () => {
  let f: ConsoleFixture;
  let c: WsPublisher | null = null;
  beforeAll(async () => {
    f = await startConsoleFixture();
  }, 180_000);
  afterAll(async () => {
    await c?.close();
    await f?.stop();
  });

  it('the ended message, the close reason and GET /me say what happened in plain words, and the moderator still sees the distance', async () => {
    const key = await f.account('evader');
    const webm = await makeFile({
      file: path.join(f.dir, 'banked.webm'),
      ffmpegPath: f.ffmpeg.path,
      width: 640,
      height: 360,
      rate: 15,
      durationSec: 12,
      bitrateKbps: 800,
      gopSec: 1,
      format: 'webm',
      pattern: { color: 'black' },
      image: { path: f.image, afterSec: 1 },
    });
    c = wsPublish({ url: `ws://127.0.0.1:${f.gw.httpPort}/ingest`, streamKey: key, file: webm, fileDurationSec: 12 });
    expect(await c.accepted).toMatch(/^str_/);
    const closed = await c.closed;
    const ended = c.messages.find((m) => m.type === 'ended') as
      | { type: string; reason: string; message: string; suspension: { endsAt: string | null; permanent: boolean } | null; decisionId: string | null }
      | undefined;
    expect(ended, JSON.stringify(c.messages)).toBeDefined();
    expect(ended!.message).toMatch(/automated moderation found/);
    expect(ended!.message).not.toMatch(DETECTION_INTERNALS);
    expect(closed.reason).not.toMatch(DETECTION_INTERNALS);
    expect(ended!.decisionId).toMatch(/^dec_/);

    // The moderator's view of the same decision keeps the engine's explanation.
    const decision = (await f.api.get<{ reason: string }>(`/api/v1/decisions/${ended!.decisionId}`)).body;
    expect(decision.reason).toMatch(/distance/);

    // The streamer's own page.
    const token = (await f.api.post<{ accountToken: string }>('/api/v1/accounts/evader/token')).body.accountToken;
    const me = await waitFor(
      async () => {
        const r = await new ApiClient(f.base, token).get<Record<string, unknown>>('/api/v1/me');
        return r.status === 200 ? r.body : null;
      },
      10_000,
      'GET /me',
    );
    const seen = JSON.stringify({ goLive: me.goLive, suspensions: me.suspensions, decisions: me.decisions, activeSuspension: me.activeSuspension });
    expect(seen).toContain('automated moderation found');
    expect(seen).not.toMatch(/distance|≤|≥|closest|radius/);
  }, 240_000);
});
