import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addEntries, createBank } from '../../gateway/banks/manage.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

/**
 * Negative banks and the flood guard on real RTMP streams: a picture in both a positive and a negative bank
 * is not cut (its matches are stored as suppressed); with the flood threshold lowered to 2 streams, the
 * first stream showing a banked picture is cut, the second trips the guard and stays up, the entry is
 * queued for moderators, and once a moderator clears it the still-live second stream is cut.
 */

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping bank-guard end-to-end tests: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

describe.skipIf(!ffmpeg)('negative banks and the flood guard on live streams', () => {
  let dir: string;
  let gw: Gateway;
  const pubs: Publisher[] = [];

  const publish = async (handle: string, image: string) => {
    const key = await verifiedAccount(gw, handle);
    const pub = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
      width: 640,
      height: 360,
      durationSec: 120,
      pattern: { color: 'olive' },
      image: { path: image, afterSec: 1 },
    });
    pubs.push(pub);
    const live = await waitFor(async () => gw.registry.list().find((s) => s.handle === handle), 30_000, `${handle} live`);
    return { pub, live };
  };
  const storedSignals = async (streamId: string) =>
    (await gw.store.db.selectFrom('signals').select('body').where('stream_id', '=', streamId).execute()).map(
      (r) => JSON.parse(r.body) as { source: string; detail?: Record<string, string> },
    );

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-guards-'));
    gw = await startPipelineGateway(dir, { classifiers: { models: [] }, floodGuard: { enabled: true, streams: 2, windowMs: 600_000, baselineFactor: 10 } });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(pubs.map((p) => p.stop()));
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a stream showing a picture held in a positive and a negative bank is not cut; its matches are stored as suppressed', async () => {
    const image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'news-logo.png'), 'mandelbrot=size=640x360');
    const [h] = await hashFile(image);
    await createBank(gw.store.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
    await createBank(gw.store.db, 'test', { name: 'dont-match', category: 'benign', kind: 'negative' });
    await addEntries(gw.store.db, 'test', 'tve', [{ hash: h!.hash }]);
    await addEntries(gw.store.db, 'test', 'dont-match', [{ hash: h!.hash }]);
    await gw.banks.refresh();
    const { pub, live } = await publish('newsroom', image);
    const suppressed = await waitFor(
      async () => {
        const found = (await storedSignals(live.id)).filter((s) => s.source === 'hash_suppressed' && s.detail?.suppressed === 'negative_bank');
        return found.length ? found : null;
      },
      60_000,
      'suppressed matches stored',
    );
    expect(suppressed[0]!.detail!.suppressedBy).toMatch(/^dont-match\//);
    const frames = gw.watcher?.stats(live.id)?.framesEmitted ?? 0;
    await waitFor(async () => (gw.watcher?.stats(live.id)?.framesEmitted ?? 0) >= frames + 10, 60_000, '10 more sampled frames');
    expect(gw.registry.list().map((s) => s.id)).toContain(live.id);
    expect(pub.proc.exitCode).toBeNull();
    expect(await gw.store.db.selectFrom('decisions').select('id').where('stream_id', '=', live.id).execute()).toEqual([]);
    expect((await storedSignals(live.id)).some((s) => s.source === 'hash_match')).toBe(false);
    await pub.stop();
  }, 180_000);

  it('threshold 2: the first stream is cut, the second trips the guard and stays up until a moderator clears the entry', async () => {
    const image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'attack.png'));
    const [h] = await hashFile(image);
    await createBank(gw.store.db, 'test', { name: 'tve2', category: 'terrorist-violent-extremism' });
    const { ids } = await addEntries(gw.store.db, 'test', 'tve2', [{ hash: h!.hash }]);
    await gw.banks.refresh();
    const first = await publish('first', image);
    await waitFor(async () => (first.pub.proc.exitCode !== null || first.pub.proc.signalCode !== null ? true : null), 60_000, 'the first stream cut');
    const second = await publish('second', image);
    const q = await waitFor(
      async () => gw.store.db.selectFrom('entry_quarantines').selectAll().where('entry_id', '=', ids[0]!).where('status', '=', 'open').executeTakeFirst(),
      60_000,
      'the flood quarantine',
    );
    expect(q.reason).toBe('flood');
    expect(JSON.parse(q.detail)).toMatchObject({ streams: 2, threshold: 2 });
    const frames = gw.watcher?.stats(second.live.id)?.framesEmitted ?? 0;
    await waitFor(async () => (gw.watcher?.stats(second.live.id)?.framesEmitted ?? 0) >= frames + 10, 60_000, '10 more sampled frames');
    expect(second.pub.proc.exitCode, 'the second stream is still up').toBeNull();
    expect((await storedSignals(second.live.id)).some((s) => s.source === 'hash_suppressed' && s.detail?.suppressed === 'quarantined')).toBe(true);
    expect(await gw.store.db.selectFrom('decisions').select('id').where('stream_id', '=', second.live.id).execute()).toEqual([]);

    // The moderator looks: a real attack, not a bad hash. Cleared, the entry acts again on the live stream.
    const token = (await issueToken(gw.store.db, 'test', 'mod', 'moderator')).token;
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/entry-quarantines/${q.id}/clear`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'the attack footage itself, spreading' }),
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () => (second.pub.proc.exitCode !== null || second.pub.proc.signalCode !== null ? true : null),
      60_000,
      'the second stream cut after the clear',
    );
    const d = await gw.store.db.selectFrom('decisions').select('rule_id').where('stream_id', '=', second.live.id).executeTakeFirst();
    expect(d?.rule_id).toBe('tve-known-content');
  }, 240_000);
});
