import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { createBank } from '../../gateway/banks/manage.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { modgate, REPO_ROOT } from '../media/cli-process.ts';
import { startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping the video-match end-to-end test: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

const EVASION = path.join(REPO_ROOT, 'test/fixtures/evasion');
const BANKED = ['astronaut', 'baboon', 'camera', 'chelsea', 'coffee', 'fruits', 'motorcycle', 'rocket'].map((n) => path.join(EVASION, 'banked', `${n}.jpg`));
const BENIGN = ['aero3', 'apple', 'board', 'building', 'butterfly', 'home', 'leuvenA', 'messi5'].map((n) => path.join(EVASION, 'benign', `${n}.jpg`));

/** A slideshow clip of real photos, each held `holdSec`: H.264, keyframe every second, no B-frames (RTMP-copyable). */
async function slideshow(pictures: readonly string[], file: string, holdSec = 1.5): Promise<string> {
  const inputs = pictures.flatMap((p) => ['-loop', '1', '-t', String(holdSec), '-i', p]);
  const scaled = pictures.map((_, i) => `[${i}:v]scale=640:360,setsar=1,fps=25[v${i}]`).join(';');
  const filter = `${scaled};${pictures.map((_, i) => `[v${i}]`).join('')}concat=n=${pictures.length}:v=1:a=0,format=yuv420p[out]`;
  await promisify(execFile)(ffmpeg!.path, [
    '-hide_banner',
    '-loglevel',
    'error',
    ...inputs,
    '-filter_complex',
    filter,
    '-map',
    '[out]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-bf',
    '0',
    '-y',
    file,
  ]);
  return file;
}

/**
 * vPDQ end to end: a clip is hashed with `modgate hash` (a process) into a vPDQ file, the file is uploaded
 * to the import route (one video entry, nothing else in the bank), and the clip is published over real
 * RTMP with ffmpeg, looping: the stream is cut by the video rule (`tve-known-video`, a `video_match`
 * signal), since no picture of it is banked. A different clip, published beside it, stays up for more than
 * two windows of sampled frames.
 */
describe.skipIf(!ffmpeg)('a banked video re-streamed live (vPDQ rolling window; real ffmpeg over RTMP, real SQLite)', () => {
  let dir: string;
  let gw: Gateway;
  let token: string;
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-vpdq-'));
    gw = await startPipelineGateway(dir, { classifiers: { models: [] } });
    token = (await issueToken(gw.store.db, 'test', 'curator', 'operator')).token;
    await createBank(gw.store.db, 'test', { name: 'tve-videos', category: 'terrorist-violent-extremism' });
  }, 120_000);

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = (key: string, file: string) => {
    const p = startPublisher({ ffmpegPath: ffmpeg!.path, url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`, source: { file, loop: true } });
    publishers.push(p);
    return p;
  };
  const liveStream = (handle: string) => gw.registry.list().find((s) => s.handle === handle);

  it('cuts the stream re-showing the banked clip with the video signal, and not the stream showing another clip', async () => {
    const [banked, benign] = await Promise.all([slideshow(BANKED, path.join(dir, 'banked.mp4')), slideshow(BENIGN, path.join(dir, 'benign.mp4'))]);
    const hashed = await modgate(['hash', banked]);
    expect(hashed.code, hashed.stderr).toBe(0);
    const vpdqFile = path.join(dir, 'banked.vpdq');
    writeFileSync(vpdqFile, hashed.stdout);
    const upload = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/banks/tve-videos/import?source=test-clip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: readFileSync(vpdqFile),
    });
    const report = (await upload.json()) as { format: string; added: number; videos: { valid: number; added: number }; errorCount: number };
    expect(upload.status).toBe(200);
    // 12 s of slideshow at vPDQ's 1 hash a second: one video entry, no picture entry.
    expect(report).toMatchObject({ format: 'vpdq', added: 0, videos: { valid: 1, added: 1 }, errorCount: 0 });
    const entries = await gw.store.db.selectFrom('bank_entries').select(['signal_type']).where('bank', '=', 'tve-videos').execute();
    expect(entries).toEqual([{ signal_type: 'vpdq' }]);
    expect(gw.videos?.index.entries).toBe(1);

    const bystanderKey = await verifiedAccount(gw, 'bystander');
    const streamerKey = await verifiedAccount(gw, 'streamer');
    publish(bystanderKey, benign);
    const bystander = await waitFor(async () => liveStream('bystander'), 30_000, 'the bystander to go live');
    const violator = publish(streamerKey, banked);
    const stream = await waitFor(async () => liveStream('streamer'), 30_000, 'the streamer to go live');

    const exit = await violator.done;
    expect(exit.code, 'the publisher re-showing the banked clip was disconnected').not.toBe(0);
    const decision = await waitFor(
      () => gw.store.db.selectFrom('decisions').select(['rule_id', 'shadow']).where('stream_id', '=', stream.id).executeTakeFirst(),
      30_000,
      "the streamer's decision",
    );
    expect(decision).toMatchObject({ rule_id: 'tve-known-video', shadow: 0 });
    // The stream's stored signals (written in batches) hold the video match that decided it.
    type StoredSignal = { source: string; score?: number; detail?: Record<string, unknown> };
    const video = await waitFor(
      async () => {
        const stored = await gw.store.db.selectFrom('signals').select('body').where('stream_id', '=', stream.id).execute();
        return stored.map((r) => JSON.parse(r.body) as StoredSignal).find((s) => s.source === 'video_match');
      },
      30_000,
      "the stream's stored video_match signal",
    );
    expect(video.score).toBeGreaterThanOrEqual(0.8);
    expect(video.detail).toMatchObject({ bank: 'tve-videos', kind: 'video' });

    // The other clip: more than two 10 s windows of sampled frames after the cut, and it is still live with no decision.
    const frames = () => gw.watcher?.stats(bystander.id)?.framesEmitted ?? 0;
    const from = frames();
    await waitFor(async () => frames() >= from + 150, 180_000, '15 s more of the bystander sampled (10 fps)');
    expect(liveStream('bystander')?.id).toBe(bystander.id);
    expect(await gw.store.db.selectFrom('decisions').select('rule_id').where('stream_id', '=', bystander.id).execute()).toEqual([]);
    expect(gw.videos!.matcher.stats.lookups).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/modgate_video_matches_total\{[^}]*bank="tve-videos"[^}]*\} [1-9]/);
  }, 300_000);
});
