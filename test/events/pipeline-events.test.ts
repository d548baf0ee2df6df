import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { waitFor } from '../helpers/gateway.ts';
import { openSse, type SseReader } from '../helpers/sse.ts';
import { startConsoleFixture, type ConsoleFixture } from '../console/fixture.ts';

const skip = (await findFfmpeg()) ? null : 'no ffmpeg found (set FFMPEG_PATH or install ffmpeg)';
if (skip) console.warn(`skipping the pipeline push tests: ${skip}`);

interface StreamRow {
  id: string;
  account: string;
  sampling: { mode: string; lastFrameAt: string | null; framesSampled: number };
  latest: { at: string; scores: Record<string, Record<string, number>>; nearestBankDistance: number | null } | null;
}

/** A real gateway sampling real ffmpeg publishes (PDQ banks, no ONNX model): what the Live grid and the queue are pushed. */
describe.skipIf(skip !== null)('push events from the sampling pipeline', () => {
  let f: ConsoleFixture;
  let sse: SseReader;
  beforeAll(async () => {
    f = await startConsoleFixture();
    sse = await openSse(`${f.base}/api/v1/events`, f.moderatorToken);
  }, 180_000);
  afterAll(async () => {
    sse?.close();
    await f?.stop();
  });

  it('a sampled stream has its latest frame (JPEG), its sampling mode and stream.frame events with increasing frame numbers', async () => {
    const key = await f.account('framey');
    const p = f.publish(key, { durationSec: 60 });
    const live = await waitFor(
      async () => (await f.api.get<{ streams: StreamRow[] }>('/api/v1/streams')).body.streams.find((s) => s.account === 'framey' && s.latest !== null),
      60_000,
      'a sampled frame',
    );
    expect(live.sampling.mode).not.toBe('off');
    expect(live.sampling.framesSampled).toBeGreaterThan(0);
    expect(live.latest!.nearestBankDistance).toBeNull(); // a plain colour, nowhere near the banked image

    const frames = await waitFor(
      () => {
        const mine = sse.events.filter((e) => e.event === 'stream.frame' && e.json?.streamId === live.id);
        return mine.length >= 3 ? mine : null;
      },
      60_000,
      'three stream.frame events',
    );
    expect(frames[0]!.json).toMatchObject({ streamId: live.id, samplingMode: live.sampling.mode, nearestBankDistance: null });
    const seqs = frames.map((e) => e.json!.seq as number);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);

    const res = await fetch(`${f.base}/api/v1/streams/${live.id}/frame`, { headers: { authorization: `Bearer ${f.moderatorToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Number(res.headers.get('x-frame-seq'))).toBeGreaterThanOrEqual(0);
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect((await fetch(`${f.base}/api/v1/streams/${live.id}/frame.jpg`)).status).toBe(401);

    await p.stop();
    await waitFor(() => sse.events.find((e) => e.event === 'stream.ended' && e.json?.streamId === live.id), 30_000, 'stream.ended');
    expect((await fetch(`${f.base}/api/v1/streams/${live.id}/frame`, { headers: { authorization: `Bearer ${f.moderatorToken}` } })).status).toBe(404);
  }, 180_000);

  it('a banked image on a stream: decision.created with its account, stream.ended naming the decision, then decision.reviewed on overturn', async () => {
    const key = await f.account('pushed');
    const { decisionId } = await f.violate('pushed', key);
    const created = await waitFor(
      () => sse.events.find((e) => e.event === 'decision.created' && (e.json?.decision as { id: string }).id === decisionId),
      30_000,
      'decision.created',
    );
    expect(created.json!.decision).toMatchObject({ id: decisionId, account: { handle: 'pushed' }, review: { status: 'pending' } });
    const ended = sse.events.find((e) => e.event === 'stream.ended' && e.json?.account === 'pushed');
    expect(ended?.json).toMatchObject({ decisionId });
    expect((await f.api.post(`/api/v1/decisions/${decisionId}/overturn`, { reason: 'test pattern' })).status).toBe(200);
    const reviewed = await waitFor(() => sse.events.find((e) => e.event === 'decision.reviewed'), 30_000, 'decision.reviewed');
    expect(reviewed.json!.decision).toMatchObject({ id: decisionId, review: { status: 'overturned' } });
  }, 240_000);
});
