import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../../classifiers/frame.ts';
import type { Signal } from '../../../classifiers/signal.ts';
import { Sampler, type SamplerOptions } from '../../../gateway/sampler/sampler.ts';
import { FAKE_FFMPEG, fakeLauncher } from './fake-ffmpeg.ts';
import { FakeTimers, settle } from './fake-timers.ts';

/**
 * The Sampler's supervision, stall watchdog and timeline on a fake clock, with a scripted ffmpeg stand-in
 * (fake-ffmpeg.ts): what real ffmpeg runs do in test/sampler/rtmp.test.ts, here without processes and
 * without waiting.
 */

function setup(opts: Partial<SamplerOptions> = {}, launch: Parameters<typeof fakeLauncher>[0] = {}) {
  const timers = new FakeTimers();
  const fake = fakeLauncher(launch);
  const s = new Sampler({
    streamId: 'unit',
    input: { kind: 'url', url: 'rtmp://127.0.0.1:1935/live/unit' },
    ffmpeg: FAKE_FFMPEG,
    width: 16,
    height: 16,
    hostLoad: () => 0,
    backoff: { jitter: 0 },
    timers,
    launcher: fake.launcher,
    ...opts,
  });
  const frames: Frame[] = [];
  const stalls: Signal[] = [];
  s.onFrame((f) => {
    frames.push(f);
  });
  s.onStall((sig) => stalls.push(sig));
  return { timers, fake, s, frames, stalls };
}

/** The same picture every time: a solid colour. */
const STATIC = Buffer.alloc(16 * 16 * 3, 0x40);

describe('Sampler on a fake clock', () => {
  it('delivers frames with media time from 0 and consecutive numbers, whichever pipe ffmpeg writes first', async () => {
    const { timers, fake, s, frames, stalls } = setup();
    await s.start();
    const run = fake.last();
    expect(run.args.inputOptions).toContain('-copyts');
    for (let i = 0; i < 6; i++) {
      await timers.advance(500);
      run.frame(90_000 + i * 500, undefined, i % 2 ? 'pts-first' : 'pixels-first');
    }
    expect(frames.map((f) => [f.seq, f.mediaTimeMs])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, i * 500]));
    expect(frames.every((f) => f.width === 16 && f.height === 16 && f.rgb.length === 16 * 16 * 3)).toBe(true);
    expect(stalls).toEqual([]);
    expect(s.stats()).toMatchObject({ framesEmitted: 6, restarts: 0, stalls: 0, lastMediaTimeMs: 2500, pid: run.pid });
    await s.stop();
  });

  it('a static picture (the same solid colour for 2 minutes) is not a stall: frames still arrive', async () => {
    const { timers, fake, s, frames, stalls } = setup({ stallAfterMs: 5_000 });
    await s.start();
    const run = fake.last();
    await timers.run(120_000, 500, (t) => run.frame(t, STATIC));
    expect(frames).toHaveLength(240);
    expect(frames.every((f) => f.rgb.equals(STATIC))).toBe(true);
    expect(stalls).toEqual([]);
    expect(s.stats()).toMatchObject({ restarts: 0, stalls: 0, startupFailures: 0 });
    expect(fake.runs).toHaveLength(1);
    await s.stop();
  });

  it('keyframe mode: a static picture sent with a keyframe every 2 s (held back a GOP by the decoder) is not a stall', async () => {
    const { timers, fake, s, frames, stalls } = setup({ mode: 'keyframe', stallAfterMs: 5_000 });
    await s.start();
    const run = fake.last();
    expect(run.args.inputOptions.join(' ')).toContain('-skip_frame nokey');
    // The decoder hands each keyframe over when the next one arrives: one picture per 2 s, 2 s late.
    await timers.run(120_000, 2_000, (t) => {
      if (t >= 4_000) run.frame(t - 2_000, STATIC);
    });
    expect(frames.length).toBeGreaterThanOrEqual(58);
    expect(stalls).toEqual([]);
    await s.stop();
  });

  it('frames that stop: one no-frames stall after stallAfterMs, a restart after the backoff, the GOP replay skipped', async () => {
    const { timers, fake, s, frames, stalls } = setup({ stallAfterMs: 2_000, backoff: { initialMs: 300, jitter: 0 } });
    await s.start();
    const first = fake.last();
    await timers.run(5_000, 500, (t) => first.frame(t));
    await timers.advance(1_999);
    expect(stalls).toEqual([]);
    await timers.advance(1);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ source: 'sampler', label: 'stall', score: 1, frameTimeMs: 4_500 });
    expect(stalls[0]!.detail).toMatchObject({ reason: 'no-frames', phase: 'running', graceMs: 2_000, stalledForMs: 2_000 });
    expect(first.killed).toBe(true);
    await timers.advance(299);
    expect(fake.runs).toHaveLength(1);
    await timers.advance(1);
    expect(fake.runs).toHaveLength(2);
    const second = fake.last();
    // The server's GOP cache first: media already sampled, then new media.
    for (const t of [3_500, 4_000, 4_500, 7_500, 8_000]) second.frame(t);
    expect(s.stats()).toMatchObject({ restarts: 1, stalls: 1, replaysSkipped: 3 });
    expect(frames.at(-1)?.mediaTimeMs).toBe(7_500);
    const times = frames.map((f) => f.mediaTimeMs);
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
    await s.stop();
  });

  it('ffmpeg exiting is an exit stall with its cause; the next run starts after the backoff and frames continue', async () => {
    const { timers, fake, s, frames, stalls } = setup({ backoff: { initialMs: 250, jitter: 0 } });
    await s.start();
    const first = fake.last();
    await timers.run(2_000, 500, (t) => first.frame(t));
    first.stderr('[flv @ 0x1] Packet mismatch');
    first.exit('ffmpeg exited with code 1: Error during demuxing\nmore');
    expect(stalls).toHaveLength(1);
    expect(stalls[0]!.detail).toMatchObject({ reason: 'exit', exit: 'ffmpeg exited with code 1', lastError: '[flv @ 0x1] Packet mismatch', restarts: 0 });
    expect(s.stats().pid).toBeNull();
    await timers.advance(250);
    const second = fake.last();
    expect(second).not.toBe(first);
    await timers.run(2_000, 500, (t) => second.frame(2_000 + t));
    expect(frames.at(-1)?.mediaTimeMs).toBe(3_500);
    expect(s.stats()).toMatchObject({ restarts: 1, stalls: 1, pid: second.pid });
    await s.stop();
  });

  it('a run that never delivers a first frame: startup stalls with a doubling, capped grace; a run that delivers ends it', async () => {
    const { timers, fake, s, frames, stalls } = setup({
      stallAfterMs: 500,
      firstFrameTimeoutMs: 1_000,
      maxFirstFrameTimeoutMs: 4_000,
      backoff: { initialMs: 50, maxMs: 50, jitter: 0 },
    });
    await s.start();
    await timers.advance(20_000);
    const graces = stalls.map((x) => x.detail?.['graceMs']);
    expect(graces.slice(0, 4)).toEqual([1_000, 2_000, 4_000, 4_000]);
    expect(stalls.every((x) => x.detail?.['phase'] === 'startup')).toBe(true);
    expect(s.stats().startupFailures).toBe(stalls.length);
    // This run delivers.
    const good = fake.last();
    good.frame(0);
    expect(frames).toHaveLength(1);
    expect(s.stats()).toMatchObject({ startupFailures: 0, restarts: stalls.length });
    await s.stop();
  });

  it('on a loaded host the first-frame grace stretches: a slow start is not a stall', async () => {
    const { timers, fake, s, stalls } = setup({ stallAfterMs: 500, firstFrameTimeoutMs: 3_000, hostLoad: () => 6 });
    await s.start();
    await timers.advance(11_000);
    fake.last().frame(0);
    expect(stalls).toEqual([]);
    expect(s.stats().lastStartupMs).toBe(11_000);
    await s.stop();
  });

  it('a lost showinfo line delays its frame by at most 100 ms, with the pts estimated at the nominal rate', async () => {
    const { timers, fake, s, frames } = setup();
    await s.start();
    const run = fake.last();
    run.frame(1_000);
    run.pixelsOnly();
    expect(frames).toHaveLength(1);
    await timers.advance(100);
    expect(frames.map((f) => f.mediaTimeMs)).toEqual([0, 500]);
    await s.stop();
  });

  it('followers in the same 1/fps slot (ffmpeg 5.x release frames) are dropped, not delivered', async () => {
    const { fake, s, frames } = setup();
    await s.start();
    const run = fake.last();
    for (const t of [0, 33, 500, 533, 1_000, 1_033]) run.frame(t);
    expect(frames.map((f) => f.mediaTimeMs)).toEqual([0, 500, 1_000]);
    expect(s.stats().releaseFrames).toBe(3);
    await s.stop();
  });

  it('a mode switch replaces ffmpeg without a stall or backoff', async () => {
    const { timers, fake, s, stalls } = setup();
    await s.start();
    const full = fake.last();
    full.frame(0);
    await s.setMode('keyframe');
    const key = fake.last();
    expect(key).not.toBe(full);
    expect(full.killed).toBe(true);
    expect(key.args.inputOptions.join(' ')).toContain('-skip_frame nokey');
    await timers.advance(3_000);
    key.frame(2_000);
    expect(stalls).toEqual([]);
    expect(s.stats()).toMatchObject({ mode: 'keyframe', modeSwitches: 1, restarts: 0 });
    await s.stop();
  });

  it('after stop() nothing is reported, however long the clock runs, and no timer is left', async () => {
    const { timers, fake, s, stalls } = setup({ stallAfterMs: 1_000 });
    await s.start();
    fake.last().frame(0);
    await s.stop();
    await timers.advance(120_000);
    expect(stalls).toEqual([]);
    expect(fake.runs).toHaveLength(1);
    expect(s.stats()).toMatchObject({ pid: null, running: false });
    expect(timers.armed).toBe(0);
  });

  it('a consumer that throws or stays busy costs its own frames only', async () => {
    const { fake, s, frames } = setup({ maxInFlight: 1 });
    s.onFrame(() => {
      throw new Error('bad consumer');
    });
    s.onFrame(() => new Promise(() => {}));
    await s.start();
    const run = fake.last();
    for (let i = 0; i < 4; i++) run.frame(i * 500);
    expect(frames).toHaveLength(4);
    expect(s.stats()).toMatchObject({ consumerErrors: 4, dropped: 3 });
    await s.stop();
  });
});

describe('Sampler on a stream input (stdin) on a fake clock', () => {
  const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x01, 0x02]);
  const cluster = (tag: number) => Buffer.from([0x1f, 0x43, 0xb6, 0x75, tag, tag]);

  it('a restarted ffmpeg gets the saved header, then data from the next cluster on', async () => {
    const src = new PassThrough();
    const { timers, fake, s } = setup({ input: { kind: 'stream', stream: src, format: 'webm' }, backoff: { initialMs: 100, jitter: 0 } });
    await s.start();
    const first = fake.last();
    expect(first.args.input).toBe('pipe:0');
    src.write(EBML);
    src.write(cluster(1));
    await settle();
    expect(Buffer.concat(first.stdinBytes)).toEqual(Buffer.concat([EBML, cluster(1)]));
    first.frame(0);
    first.exit('ffmpeg exited with code 1');
    await timers.advance(100);
    const second = fake.last();
    expect(second).not.toBe(first);
    // Mid-cluster bytes are dropped until the next boundary.
    src.write(Buffer.from([9, 9, 9]));
    src.write(Buffer.concat([Buffer.from([7, 7]), cluster(2)]));
    await settle();
    expect(Buffer.concat(second.stdinBytes)).toEqual(Buffer.concat([EBML, cluster(2)]));
    expect(s.stats().inputChunksDropped).toBeGreaterThanOrEqual(1);
    await s.stop();
  });

  it('the source ending is the end of the stream: onEnd after the last frames, never a stall', async () => {
    const src = new PassThrough();
    const { timers, fake, s, frames, stalls } = setup({ input: { kind: 'stream', stream: src, format: 'webm' }, stallAfterMs: 1_000 });
    let ended = 0;
    s.onEnd(() => ended++);
    await s.start();
    const run = fake.last();
    src.write(Buffer.concat([EBML, cluster(1)]));
    run.frame(0);
    run.frame(500);
    src.end();
    await settle();
    run.exit(null);
    await timers.advance(2_000);
    expect(ended).toBe(1);
    expect(frames).toHaveLength(2);
    await timers.advance(30_000);
    expect(stalls).toEqual([]);
    expect(s.stats().running).toBe(false);
    await s.stop();
  });

  it('load shedding: a decoder more than maxLagMs behind live restarts at the live edge, at the model rate; no stall', async () => {
    let edge = 100_000;
    const events: Array<{ kind: string; fps: number }> = [];
    const { timers, fake, s, frames, stalls } = setup({
      fps: 10,
      liveEdgeMs: () => edge,
      shed: { rates: [2], maxLagMs: 2_500, settleMs: 1_000 },
      onShed: (e) => events.push({ kind: e.kind, fps: e.fps }),
    });
    await s.start();
    const behind = fake.last();
    expect(behind.args.filter).toContain('floor(t*10)');
    // Keeping up: frames at the edge.
    for (let i = 0; i < 15; i++) {
      await timers.advance(100);
      behind.frame(edge - 200);
      edge += 100;
    }
    expect(fake.runs).toHaveLength(1);
    // The node saturates: media keeps arriving, the decoder slips 300 ms a frame behind.
    let pts = edge - 200;
    while (fake.runs.length === 1 && pts > 0) {
      await timers.advance(100);
      edge += 400;
      pts += 100;
      behind.frame(pts);
      await settle();
    }
    await settle();
    expect(behind.killed).toBe(true);
    const live = fake.last();
    expect(live).not.toBe(behind);
    expect(live.args.filter).toContain('floor(t*2)');
    expect(events).toEqual([
      { kind: 'skip_to_live', fps: 2 },
      { kind: 'rate_lowered', fps: 2 },
    ]);
    // The frame that tripped it was still delivered; frames go on from the new run at the edge.
    const delivered = frames.length;
    await timers.advance(500);
    live.frame(edge);
    expect(frames.length).toBe(delivered + 1);
    expect(stalls).toEqual([]);
    expect(s.stats()).toMatchObject({ restarts: 0, stalls: 0, fps: 2, shed: { fps: 2, level: 1, skips: 1 } });
    await s.stop();
  });

  it('no live edge known: no shedding, whatever the frames say', async () => {
    const { timers, fake, s } = setup({ fps: 10, shed: { rates: [2] } });
    await s.start();
    const run = fake.last();
    for (let i = 0; i < 50; i++) {
      await timers.advance(100);
      run.frame(i * 10);
    }
    expect(fake.runs).toHaveLength(1);
    expect(s.stats().shed).toBeNull();
    await s.stop();
  });
});
