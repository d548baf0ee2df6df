import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping load-shedding end-to-end test: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

const MAX_LAG_MS = 1_500;

/**
 * A full-rate sampler whose decoder falls behind live (here: its ffmpeg stopped with SIGSTOP after each frame
 * until another second of media has arrived, as a saturated node starves it) is restarted at the live edge and hashed at the
 * model rate, instead of working through seconds of stale frames; once it keeps up, the rate goes back up.
 * Everything waits on conditions (media timestamps, counters), nothing on elapsed time.
 */
describe.skipIf(!ffmpeg)('load shedding end to end (real ffmpeg over RTMP)', () => {
  let dir: string;
  let gw: Gateway;
  let pub: Publisher | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-shed-'));
    gw = await startPipelineGateway(dir, {
      classifiers: { models: [] },
      // No stall restart while the decoder is stopped: the shedding is what is under test.
      sampling: { fps: 10, stallAfterMs: 120_000, shed: { enabled: true, maxLagMs: MAX_LAG_MS, recoverAfterMs: 1_000 } },
    });
  }, 120_000);

  afterAll(async () => {
    await pub?.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a decoder seconds behind live skips to the live edge at 2 fps, then raises back to 10 fps once it keeps up', async () => {
    const key = await verifiedAccount(gw, 'slow');
    pub = startPublisher({ ffmpegPath: ffmpeg!.path, url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`, width: 320, height: 240, durationSec: 300 });
    const stream = await waitFor(async () => gw.registry.list().find((s) => s.handle === 'slow'), 30_000, 'the stream to go live');
    const stats = () => gw.watcher!.stats(stream.id)!;
    const withinLagBound = (when: string) => waitFor(async () => (stats().shed?.lagMs ?? Infinity) < MAX_LAG_MS, 60_000, `frames within the lag bound ${when}`);
    await waitFor(async () => stats().framesEmitted >= 10 && stats().pid !== null, 60_000, 'the first sampled frames');
    // Keeping up: the lag is measured on the publisher's clock, media received vs media decoded.
    await withinLagBound('before the throttling');
    // On a loaded host the sampler may already have shed (that is the feature): count from here.
    const skipsBefore = stats().shed!.skips;
    const frozen = stats().pid!;

    // Starve the decoder as a saturated node does: after each frame it delivers, it is stopped until another
    // second of media has arrived, so it falls further behind with every frame and never catches up.
    const stopped = new Set<number>();
    let throttling = true;
    const stopAfterFrame = gw.watcher!.onSampled((f) => {
      const pid = stats().pid;
      if (!throttling || f.streamId !== stream.id || pid === null || stopped.has(pid)) return;
      process.kill(pid, 'SIGSTOP');
      stopped.add(pid);
    });
    const resume = () => {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone: replaced by the skip
        }
      }
      stopped.clear();
    };
    const edge = () => stream.video?.lastDts ?? 0;
    try {
      await waitFor(
        async () => {
          if (stats().shed!.skips > skipsBefore) return true;
          if (stopped.size > 0) {
            const mark = edge();
            await waitFor(async () => edge() >= mark + 1_000, 30_000, 'a second of media past the stopped decoder');
            resume();
          }
          return null;
        },
        120_000,
        'the starved decoder skipped to the live edge',
      );
    } finally {
      throttling = false;
      stopAfterFrame();
      resume();
    }
    expect(stats().shed?.fps).toBe(2);
    await waitFor(async () => stats().pid !== null && stats().pid !== frozen, 60_000, 'a new decoder');
    const counts = gw.watcher!.shedCounts();
    expect(counts.skip_to_live).toBeGreaterThanOrEqual(1);
    expect(counts.rate_lowered).toBeGreaterThanOrEqual(1);

    // The stream view says so, and the frames are live again: lag under the bound, then the rate raised.
    const token = (await issueToken(gw.store.db, 'test', 'mod', 'moderator')).token;
    const view = async () => {
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/streams`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { streams: Array<{ id: string; sampling: { shedding: unknown } }> };
      return body.streams.find((s) => s.id === stream.id)?.sampling.shedding;
    };
    expect(await view()).toMatchObject({ skips: expect.any(Number), fps: expect.any(Number) });
    const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/modgate_sampler_shed_total\{reason="skip_to_live"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/modgate_sampler_shed_total\{reason="rate_lowered"[^}]*\} [1-9]/);
    await waitFor(async () => (stats().shed?.raises ?? 0) >= 1 && stats().shed?.fps === 10, 90_000, 'the rate raised back to 10 fps');
    await withinLagBound('after the raise');
    expect(await view()).toMatchObject({ fps: 10, raises: expect.any(Number) });
    expect(pub.proc.exitCode, 'the publisher was never cut').toBeNull();
  }, 300_000);
});
