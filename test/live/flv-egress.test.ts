import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FFMPEG, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { webmFixture, wsPublish, type WsPublisher } from '../helpers/ws-publisher.ts';

const run = promisify(execFile);

/** Watch live: GET /api/v1/streams/:id/live.flv, decoded by a real player (ffmpeg as the client, sending the token in a header). */
describe('HTTP-FLV watch-live for RTMP and WebSocket streams', () => {
  let t: TestGateway;
  let webm: string;
  const pubs: Publisher[] = [];
  const ws: WsPublisher[] = [];
  beforeAll(async () => {
    [t, webm] = await Promise.all([startTestGateway(), webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG)]);
  });
  afterEach(async () => {
    await Promise.all([...pubs.splice(0).map((p) => p.stop()), ...ws.splice(0).map((c) => c.close())]);
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Decodes `frames` video frames from the URL; returns the codec names ffmpeg reported. */
  const watch = async (url: string, token: string, frames = 10) => {
    const { stderr } = await run(
      FFMPEG,
      ['-hide_banner', '-headers', `Authorization: Bearer ${token}\r\n`, '-i', url, '-frames:v', String(frames), '-f', 'null', '-'],
      { timeout: 90_000 },
    );
    return stderr;
  };

  it("an RTMP stream's live.flv plays from the relay (H.264 copied) with a moderator token, and not without one", async () => {
    const a = await t.account('flv-rtmp');
    pubs.push(startPublisher({ ffmpegPath: FFMPEG, url: t.publishUrl(a.streamKey), width: 320, height: 180, durationSec: 60, pattern: 'testsrc2' }));
    const live = await t.waitForStream('flv-rtmp', 30_000);
    const listed = (await t.streams()).find((s) => s.id === live.id) as unknown as { watch: { flv: string } };
    expect(listed.watch.flv).toBe(`/api/v1/streams/${live.id}/live.flv`);
    const url = `${t.httpUrl}${listed.watch.flv}`;
    expect((await fetch(url)).status).toBe(401);
    const info = await watch(url, t.moderatorToken);
    expect(info).toMatch(/Input #0, flv/);
    expect(info).toMatch(/Video: h264/);
    expect(
      (await fetch(`${t.httpUrl}/api/v1/streams/str_nosuchstream000000000/live.flv`, { headers: { authorization: `Bearer ${t.moderatorToken}` } })).status,
    ).toBe(404);
  }, 120_000);

  it('a WebSocket (WebM VP8) stream is transcoded to H.264 FLV for the browser player', async () => {
    const a = await t.account('flv-ws');
    const c = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, file: webm, fileDurationSec: 20 });
    ws.push(c);
    const id = (await c.accepted)!;
    const listed = (await t.streams()).find((s) => s.id === id) as unknown as { watch: { flv: string | null }; playPath: string | null };
    expect(listed.watch.flv).toBe(`/api/v1/streams/${id}/live.flv`);
    const info = await watch(`${t.httpUrl}${listed.watch.flv}`, t.moderatorToken, 5);
    expect(info).toMatch(/Video: h264/);
    expect(t.gw.registry.get(id)).toBeDefined();
  }, 120_000);
});
