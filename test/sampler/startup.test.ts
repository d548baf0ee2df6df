import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import { Sampler, warmSampler } from '../../gateway/sampler/sampler.ts';
import { makeFile } from '../helpers/ffmpeg-publisher.ts';
import { ffmpegForTests, waitFor } from './helpers.ts';

/**
 * Slow ffmpeg startup (what a CPU-starved host does to exec + connect + probe), simulated with a
 * wrapper that waits before exec'ing the real ffmpeg. The sampler must not kill a starting run
 * forever: its first-frame grace stretches with the host load and doubles per failed start.
 */
const ff = await ffmpegForTests({ libx264: true });

describe.skipIf(!ff)('Sampler startup on a slow host', () => {
  let dir: string;
  let flv: string;
  const samplers: Sampler[] = [];

  /** A fake ffmpeg: capability queries go straight through; the sampler's run waits `delay` first. */
  function slowFfmpeg(name: string, delay: string): FfmpegInfo {
    if (!ff) throw new Error('no ffmpeg');
    const path = join(dir, name);
    const wait = delay === 'forever' ? 'exec sleep 600' : `sleep ${delay} </dev/null >/dev/null 2>&1`;
    // -re: read the file at its native rate, like a live pull (else it is decoded in a burst and ends).
    writeFileSync(path, `#!/bin/sh\ncase " $* " in *" pipe:1 "*) ${wait} ;; esac\nexec '${ff.path}' -re "$@"\n`);
    chmodSync(path, 0o755);
    return { ...ff, path };
  }

  function sampler(info: FfmpegInfo, opts: Partial<ConstructorParameters<typeof Sampler>[0]>) {
    const s = new Sampler({ streamId: 'slow', input: { kind: 'url', url: flv }, ffmpeg: info, backoff: { initialMs: 50, maxMs: 200 }, ...opts });
    samplers.push(s);
    const frames: Frame[] = [];
    const stalls: Signal[] = [];
    s.onFrame((f) => {
      frames.push(f);
    });
    s.onStall((sig) => stalls.push(sig));
    return { s, frames, stalls };
  }

  beforeAll(async () => {
    if (!ff) return;
    dir = mkdtempSync(join(tmpdir(), 'modgate-sampler-startup-'));
    await warmSampler(ff);
    flv = await makeFile({ file: join(dir, 'a.flv'), width: 320, height: 240, durationSec: 20, ffmpegPath: ff.path });
  });
  afterAll(async () => {
    for (const s of samplers) await s.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a start slower than the grace is retried with a doubled grace until it delivers (no livelock)', { timeout: 150_000 }, async () => {
    // Every run takes >= 2 s to start; the grace starts at 1 s. With a fixed grace every run would be
    // killed just before its first frame, forever.
    // The running-phase limit (1 s) is two frame intervals at the sampler's 2 fps: a CI host that
    // delays one frame past a single interval is not what this test is about (a 500 ms limit at
    // 2 fps made it fail on a loaded 2-core run, 3 Dec). Only the stalls before the first frame are
    // the startup sequence under test.
    const { s, frames, stalls } = sampler(slowFfmpeg('slow2s.sh', '2'), { stallAfterMs: 1_000, firstFrameTimeoutMs: 1_000, hostLoad: () => 0 });
    const framesAtStall: number[] = [];
    s.onStall(() => framesAtStall.push(frames.length));
    await s.start();
    await waitFor(() => frames.length >= 3, 120_000, '3 frames from a slow-starting ffmpeg');
    const st = s.stats();
    console.log('[startup slow2s]', { stalls: stalls.map((x) => x.detail), framesAtStall, stats: st });
    const startup = stalls.filter((_, i) => framesAtStall[i] === 0);
    expect(startup.length).toBeGreaterThanOrEqual(1);
    expect(startup.map((x) => [x.detail?.['reason'], x.detail?.['phase']])).toEqual(startup.map(() => ['no-frames', 'startup']));
    const graces = startup.map((x) => Number(x.detail?.['graceMs']));
    expect(graces[0]).toBe(1_000);
    for (let i = 1; i < graces.length; i++) expect(graces[i]).toBe(2 * (graces[i - 1] ?? 0));
    expect(st.restarts).toBe(stalls.length);
    expect(st.startupFailures).toBe(0);
    expect(st.lastStartupMs).toBeGreaterThanOrEqual(2_000);
    await s.stop();
  });

  it('on a loaded host the first-frame grace stretches with the load: a slow start is not a stall', { timeout: 150_000 }, async () => {
    // The start (3.2 s + ffmpeg's own) exceeds the 3 s grace, but not 3 s × load factor 4 (clamped from 6).
    const { s, frames, stalls } = sampler(slowFfmpeg('slow3s.sh', '3.2'), { stallAfterMs: 500, firstFrameTimeoutMs: 3_000, hostLoad: () => 6 });
    await s.start();
    await waitFor(() => frames.length >= 3, 120_000, '3 frames');
    console.log('[startup loaded]', s.stats());
    expect(s.stats().lastStartupMs).toBeGreaterThan(3_000);
    expect(stalls).toEqual([]);
    expect(s.stats()).toMatchObject({ restarts: 0, startupFailures: 0 });
    await s.stop();
  });

  it('the escalated grace is capped, and a start that never comes keeps being retried', { timeout: 150_000 }, async () => {
    const { s, frames, stalls } = sampler(slowFfmpeg('never.sh', 'forever'), {
      stallAfterMs: 200,
      firstFrameTimeoutMs: 200,
      maxFirstFrameTimeoutMs: 500,
      hostLoad: () => 0,
    });
    await s.start();
    await waitFor(() => stalls.length >= 4, 120_000, '4 startup stalls');
    await s.stop();
    expect(frames).toEqual([]);
    expect(stalls.slice(0, 4).map((x) => x.detail?.['graceMs'])).toEqual([200, 400, 500, 500]);
    expect(s.stats().pid).toBeNull();
  });
});
