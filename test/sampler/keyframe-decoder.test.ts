import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../classifiers/frame.ts';
import { VideoTap, type VideoPacketKind } from '../../gateway/live/video-tap.ts';
import type { FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import { joinLengthPrefixed } from '../../gateway/media/h264.ts';
import { KeyframeDecoderPool, keyframePayload, prepareAvcConfig, type DecodeResult, type PreparedConfig } from '../../gateway/sampler/keyframe-decoder.ts';
import { KeyframeSampler } from '../../gateway/sampler/keyframe-sampler.ts';
import { newStreamClock, type StreamClock } from '../../gateway/sampler/sampler.ts';
import { readFlvTags, type FlvTag } from '../helpers/flv-replay.ts';
import { ffmpegForTests, sleep, strictlyIncreasing, waitFor } from './helpers.ts';

/**
 * The shared keyframe decoder (gateway/sampler/keyframe-decoder.ts) and the per-stream keyframe sampler
 * (gateway/sampler/keyframe-sampler.ts), against a real ffmpeg: solid-colour H.264 FLVs of different
 * sizes and B-frame settings, their tags parsed here and handed over keyframe by keyframe, the way the
 * ingest's VideoTap hands them over live.
 */

const run = promisify(execFile);
const ff = await ffmpegForTests({ libx264: true });
/** Major version of the resolved ffmpeg, or NaN for builds whose version string does not start with one (git builds). */
const ffMajor = ff ? Number(/^(\d+)\./.exec(ff.version)?.[1] ?? Number.NaN) : Number.NaN;
if (ff && !Number.isFinite(ffMajor))
  console.warn(`[keyframe decoder tests] ffmpeg version "${ff.version}" has no major number: version-specific checks skipped`);

/** The pool's output size: every picture comes back packed RGB24 at this size, whatever the stream's. */
const W = 256;
const H = 144;

// ---- FLV tags ---------------------------------------------------------------------------------------

const isSeqHeader = (t: FlvTag) => t.type === 9 && t.body[1] === 0;
const isKeyframe = (t: FlvTag) => t.type === 9 && t.body[1] === 1 && t.body[0]! >> 4 === 1;

function kindOf(t: FlvTag): VideoPacketKind {
  if (t.body[1] === 0) return 'config';
  return t.body[0]! >> 4 === 1 ? 'key' : 'inter';
}

type Channel = 0 | 1 | 2;

interface Clip {
  name: string;
  /** The channel a picture of this clip is made of (0 R, 1 G, 2 B). */
  channel: Channel;
  videoTags: FlvTag[];
  config: PreparedConfig;
  /** Decoder payloads (keyframePayload) of the clip's keyframes. */
  keyframes: Buffer[];
}

function loadClip(file: string, name: string, channel: Channel): Clip {
  const videoTags = readFlvTags(readFileSync(file)).filter((t) => t.type === 9);
  const seq = videoTags.find(isSeqHeader);
  if (!seq) throw new Error(`${file}: no AVC sequence header`);
  const config = prepareAvcConfig(seq.body);
  const keyframes = videoTags.filter(isKeyframe).map((t) => {
    const payload = keyframePayload(config, t.body);
    if (!payload) throw new Error(`${file}: keyframe without an IDR picture`);
    return payload;
  });
  if (keyframes.length === 0) throw new Error(`${file}: no keyframes`);
  return { name, channel, videoTags, config, keyframes };
}

// ---- pictures -------------------------------------------------------------------------------------

/** Mean RGB of a 16×16 box at the centre of a packed RGB24 picture (letterbox padding is at the edges). */
function centreRgb(rgb: Buffer, width = W, height = H): [number, number, number] {
  expect(rgb.length).toBe(width * height * 3);
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  for (let y = (height >> 1) - 8; y < (height >> 1) + 8; y++) {
    for (let x = (width >> 1) - 8; x < (width >> 1) + 8; x++) {
      const o = (y * width + x) * 3;
      r += rgb[o]!;
      g += rgb[o + 1]!;
      b += rgb[o + 2]!;
      n++;
    }
  }
  return [r / n, g / n, b / n];
}

/** Asserts a picture is `clip`'s colour: its channel well lit, the other two dark (lavfi green is 0x008000). */
function expectColour(rgb: Buffer, clip: Clip, what = clip.name): void {
  const c = centreRgb(rgb);
  const others = ([0, 1, 2] as const).filter((i) => i !== clip.channel).map((i) => c[i]);
  const msg = `${what}: centre rgb(${c.map(Math.round).join(', ')}) should be ${clip.name}`;
  expect(c[clip.channel], msg).toBeGreaterThan(90);
  expect(Math.max(...others), msg).toBeLessThan(40);
}

function expectPicture(r: DecodeResult, clip: Clip, what = clip.name): void {
  expect(r.ok, `${what}: ${r.ok ? '' : r.reason}`).toBe(true);
  if (r.ok) expectColour(r.rgb, clip, what);
}

/** Deterministic bytes (mulberry32), so a corrupt payload decodes the same way on every run. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

// ---- helpers for the pool ---------------------------------------------------------------------------

/** The pool's ffmpeg children of this (test worker) process. */
async function decoderPids(): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter((l) => l.includes('-f flv -i pipe:0'))
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** The pid of the one decoder process running, other than `not` (a killed one can linger until reaped). */
async function decoderPid(not: number[] = []): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = (await decoderPids()).filter((x) => !not.includes(x));
    if (found.length === 1) return found[0]!;
    if (Date.now() > deadline) throw new Error(`expected one keyframe decoder process, found ${JSON.stringify(found)}`);
    await sleep(50);
  }
}

/** A pool that counts the decodes it has not answered yet, so a test can feed keyframes one decode at a time. */
function trackedPool(pool: KeyframeDecoderPool): { pool: KeyframeDecoderPool; outstanding: () => number; calls: () => number } {
  let outstanding = 0;
  let calls = 0;
  const proxy = {
    decode: (streamId: string, config: PreparedConfig, payload: Buffer) => {
      outstanding++;
      calls++;
      return pool.decode(streamId, config, payload).finally(() => outstanding--);
    },
  } as unknown as KeyframeDecoderPool;
  return { pool: proxy, outstanding: () => outstanding, calls: () => calls };
}

// Each test runs dozens of real decodes of up to 1080p; on a loaded 2-core host one took minutes in all.
describe.skipIf(!ff)('KeyframeDecoderPool (real ffmpeg)', { timeout: 240_000 }, () => {
  const info = ff as FfmpegInfo;
  let dir: string;
  let red: Clip;
  let green: Clip;
  let blue: Clip;
  let pools: KeyframeDecoderPool[] = [];

  function newPool(opts: Partial<ConstructorParameters<typeof KeyframeDecoderPool>[0]> = {}): KeyframeDecoderPool {
    // A decode that outlives the pool's 5 s default only says the host is loaded (2 cores shared with the
    // rest of the suite): tests that mean the timeout set their own.
    const p = new KeyframeDecoderPool({ ffmpeg: info, width: W, height: H, processes: 1, decodeTimeoutMs: 60_000, ...opts });
    pools.push(p);
    return p;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modgate-kf-'));
    const make = (colour: string, size: string, extra: string[]) =>
      run(info.path, [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `color=c=${colour}:size=${size}:rate=30`,
        '-t',
        '4',
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        ...extra,
        '-g',
        '60',
        '-pix_fmt',
        'yuv420p',
        '-f',
        'flv',
        join(dir, `${colour}.flv`),
      ]);
    await Promise.all([make('red', '1280x720', ['-bf', '2']), make('green', '640x360', ['-profile:v', 'baseline']), make('blue', '1920x1080', ['-bf', '3'])]);
    red = loadClip(join(dir, 'red.flv'), 'red', 0);
    green = loadClip(join(dir, 'green.flv'), 'green', 1);
    blue = loadClip(join(dir, 'blue.flv'), 'blue', 2);
  });

  afterEach(() => {
    for (const p of pools) p.stop();
    pools = [];
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prepares the three sequence headers with their picture sizes', () => {
    expect([red.config.width, red.config.height]).toEqual([1280, 720]);
    expect([green.config.width, green.config.height]).toEqual([640, 360]);
    expect([blue.config.width, blue.config.height]).toEqual([1920, 1080]);
    // -g 60 over 4 s at 30 fps: two keyframes each.
    for (const c of [red, green, blue]) expect(c.keyframes.length).toBeGreaterThanOrEqual(2);
  });

  it("a lone stream's keyframe comes back without waiting for the next keyframe", async () => {
    // ffmpeg 5.1 (most of its processes: which ones depends on start-up timing) writes a picture's bytes
    // out only once the next picture is decoded. On an idle decoder, with no keyframe after this one, only
    // the flush picture releases it; without it the decode would end in the timeout below (`timeout`, no
    // picture). The timeout is long so a loaded host never reaches it; no wall-clock bound is asserted.
    const pool = newPool({ decodeTimeoutMs: 60_000 });
    // The first decode starts the process (spawn + probe: slow on a loaded host); not what is timed.
    expectPicture(await pool.decode('lone', red.config, red.keyframes[0]!), red, 'cold');
    for (let i = 1; i <= 3; i++) {
      // Let the decoder go idle: the flush picture's timer, not a following keyframe, has to release this one.
      await sleep(150);
      const r = await pool.decode('lone', red.config, red.keyframes[i % red.keyframes.length]!);
      expectPicture(r, red, `idle decode ${i}`);
    }
    const s = pool.stats();
    expect(s).toMatchObject({ decoded: 4, dropped: 0, lost: 0, restarts: 0 });
    if (ffMajor >= 5) expect(s.flushes).toBeGreaterThanOrEqual(1);
  });

  it('pictures of interleaved streams of different sizes go back to their own stream', async () => {
    const pool = newPool();
    const clips = [red, green, blue];
    for (let round = 0; round < 4; round++) {
      // A different order every round; the same stream twice in a round in the last ones.
      const order = [...clips.slice(round % 3), ...clips.slice(0, round % 3), ...(round >= 2 ? clips.slice(0, round) : [])];
      const results = await Promise.all(order.map((c, i) => pool.decode(c.name, c.config, c.keyframes[(round + i) % c.keyframes.length]!)));
      results.forEach((r, i) => expectPicture(r, order[i]!, `round ${round}, #${i} (${order[i]!.name})`));
    }
    expect(pool.stats()).toMatchObject({ decoded: 3 + 3 + 5 + 6, dropped: 0, lost: 0, restarts: 0, quarantined: 0 });
  });

  it('spreads streams over several processes and still returns each its own picture', async () => {
    const pool = newPool({ processes: 2 });
    const clips = [red, green, blue, red, green, blue];
    const ids = clips.map((c, i) => `${c.name}-${i}`);
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(clips.map((c, i) => pool.decode(ids[i]!, c.config, c.keyframes[round]!)));
      results.forEach((r, i) => expectPicture(r, clips[i]!, `${ids[i]} round ${round}`));
    }
    expect(pool.stats()).toMatchObject({ processes: 2, decoded: 12, lost: 0, restarts: 0 });
  });

  it("a corrupt keyframe is dropped without shifting other streams' pictures", async () => {
    const pool = newPool();
    const idr = (data: Buffer) => joinLengthPrefixed([...green.config.parameterSets, Buffer.concat([Buffer.from([0x65]), data])]);
    // An IDR slice of random bytes: the decoder rejects it or conceals it into a picture of its own.
    const randomIdr = (seed: number) => idr(pseudoRandomBytes(3_000, seed));
    // An IDR slice whose header is invalid for certain (first_mb 0, slice_type 32): always rejected.
    const rejectedIdr = (seed: number) => idr(Buffer.concat([Buffer.from([0x82, 0x10]), pseudoRandomBytes(3_000, seed)]));
    const corruptOutcome = (r: DecodeResult) => (r.ok ? 'concealed' : r.reason);
    let concealed = 0;

    // Between valid keyframes.
    for (let seed = 1; seed <= 3; seed++) {
      const [a, x, b, y, c] = await Promise.all([
        pool.decode('red', red.config, red.keyframes[0]!),
        pool.decode('corrupt', green.config, randomIdr(seed)),
        pool.decode('green', green.config, green.keyframes[0]!),
        pool.decode('corrupt', green.config, rejectedIdr(seed)),
        pool.decode('blue', blue.config, blue.keyframes[0]!),
      ]);
      expectPicture(a!, red, `seed ${seed}: red before the corrupt keyframe`);
      expectPicture(b!, green, `seed ${seed}: green between two corrupt keyframes`);
      expectPicture(c!, blue, `seed ${seed}: blue after the corrupt keyframe`);
      expect(['concealed', 'dropped']).toContain(corruptOutcome(x!));
      if (x!.ok) concealed++;
      expect(y).toEqual({ ok: false, reason: 'dropped' });
    }

    // The last keyframe written is the corrupt one: the valid picture before it must still come out
    // (the flush is a keyframe that decodes), and the corrupt one is answered `dropped`, not by the timeout.
    const [v, last] = await Promise.all([pool.decode('blue', blue.config, blue.keyframes[1]!), pool.decode('corrupt', green.config, rejectedIdr(7))]);
    expectPicture(v!, blue, 'blue followed by a corrupt keyframe');
    expect(last).toEqual({ ok: false, reason: 'dropped' });
    // Alone on an idle decoder.
    expect(await pool.decode('corrupt', green.config, rejectedIdr(8))).toEqual({ ok: false, reason: 'dropped' });

    // The pool keeps working, nobody was restarted or blamed.
    const after = await Promise.all([green, blue, red].map((c) => pool.decode(c.name, c.config, c.keyframes[1]!)));
    after.forEach((r, i) => expectPicture(r, [green, blue, red][i]!, 'after the corrupt keyframes'));
    const s = pool.stats();
    expect(s).toMatchObject({ lost: 0, restarts: 0, quarantined: 0, running: 1 });
    // 5 surely rejected + the random ones not concealed; 13 valid + the concealed ones.
    expect(s.dropped).toBe(5 + 3 - concealed);
    expect(s.decoded).toBe(13 + concealed);
    console.info(`[keyframe decoder tests] random IDR slices: ${concealed} of 3 concealed into pictures, ${3 - concealed} rejected`);
  });

  it('a decoder that dies is restarted, and a stream present at two crashes is quarantined', async () => {
    const logged: string[] = [];
    const pool = newPool({ log: (_level, msg) => logged.push(msg) });
    expectPicture(await pool.decode('a', red.config, red.keyframes[0]!), red, 'a before any crash');

    // Crash 1: stream a in flight (the process is stopped first so the decode cannot finish before the kill).
    const pid1 = await decoderPid();
    process.kill(pid1, 'SIGSTOP');
    const a1 = pool.decode('a', red.config, red.keyframes[1]!);
    await sleep(50);
    process.kill(pid1, 'SIGKILL');
    expect(await a1).toEqual({ ok: false, reason: 'crashed' });
    expect(pool.stats()).toMatchObject({ restarts: 1, lost: 1, running: 0, quarantined: 0 });
    expect(pool.isQuarantined('a')).toBe(false);

    // After the restart back-off (100 ms for a first failure) a new process decodes; one crash is not enough.
    await sleep(250);
    expectPicture(await pool.decode('a', red.config, red.keyframes[0]!), red, 'a after one crash');
    const pid2 = await decoderPid([pid1]);
    expect(pid2).not.toBe(pid1);

    // Crash 2: a and b in flight.
    process.kill(pid2, 'SIGSTOP');
    const a2 = pool.decode('a', red.config, red.keyframes[1]!);
    const b2 = pool.decode('b', green.config, green.keyframes[0]!);
    await sleep(50);
    process.kill(pid2, 'SIGKILL');
    expect(await a2).toEqual({ ok: false, reason: 'crashed' });
    expect(await b2).toEqual({ ok: false, reason: 'crashed' });
    expect(pool.isQuarantined('a')).toBe(true);
    expect(pool.isQuarantined('b')).toBe(false);
    expect(await pool.decode('a', red.config, red.keyframes[0]!)).toEqual({ ok: false, reason: 'quarantined' });

    await sleep(250);
    expectPicture(await pool.decode('b', green.config, green.keyframes[1]!), green, 'b, present at one crash');
    expect(await pool.decode('a', red.config, red.keyframes[0]!)).toEqual({ ok: false, reason: 'quarantined' });
    expect(pool.stats()).toMatchObject({ restarts: 2, lost: 3, quarantined: 1, running: 1 });
    expect(logged).toContain('keyframe decoder exited');
    expect(logged).toContain('stream quarantined from the shared keyframe decoder');

    // A stream that ended is forgotten: the same id published again is decoded.
    pool.forget('a');
    expectPicture(await pool.decode('a', red.config, red.keyframes[0]!), red, 'a after forget');
  });

  it('a slow-starting decoder is waited for; one that stops answering is restarted', async () => {
    // ffmpeg that takes 1.5 s to start (a starved host): capability queries go straight through.
    const slow = join(dir, 'slow-ffmpeg');
    writeFileSync(slow, `#!/bin/sh\ncase " $* " in *" pipe:0 "*) sleep 1.5 ;; esac\nexec '${info.path}' "$@"\n`);
    chmodSync(slow, 0o755);
    const pool = newPool({ ffmpeg: { ...info, path: slow }, decodeTimeoutMs: 500 });
    // Start-up is not a hang: the decode timeout runs from when the process is up.
    expectPicture(await pool.decode('s', red.config, red.keyframes[0]!), red, 'after a slow start');
    expect(pool.stats()).toMatchObject({ restarts: 0, lost: 0 });

    // Up and then not answering (stopped): timed out and restarted.
    const pid = await decoderPid();
    process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    expect(await pool.decode('s', red.config, red.keyframes[1]!)).toEqual({ ok: false, reason: 'timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(pool.stats()).toMatchObject({ restarts: 1, lost: 1 });
    await sleep(250);
    expectPicture(await pool.decode('s', red.config, red.keyframes[0]!), red, 'after the restart (slow start again)');
  });

  it('refuses decodes once stopped, and answers the ones in flight', async () => {
    const pool = newPool();
    const r = pool.decode('x', red.config, red.keyframes[0]!);
    pool.stop();
    expect(await r).toEqual({ ok: false, reason: 'stopped' });
    expect(await pool.decode('x', red.config, red.keyframes[0]!)).toEqual({ ok: false, reason: 'stopped' });
  });
});

describe.skipIf(!ff)('KeyframeSampler over a VideoTap (real ffmpeg)', () => {
  const info = ff as FfmpegInfo;
  let dir: string;
  /** Red, 640x360, 4 s at 30 fps, -g 15 (a keyframe every 0.5 s), B-frames (composition offsets). */
  let clip: Clip;
  let decoder: KeyframeDecoderPool;
  const samplers: KeyframeSampler[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modgate-kfs-'));
    const file = join(dir, 'red-g15.flv');
    await run(info.path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'color=c=red:size=640x360:rate=30',
      '-t',
      '4',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-bf',
      '2',
      '-g',
      '15',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'flv',
      file,
    ]);
    clip = loadClip(file, 'red', 0);
    decoder = new KeyframeDecoderPool({ ffmpeg: info, width: W, height: H, processes: 1 });
  });

  afterEach(() => {
    for (const s of samplers.splice(0)) s.stop();
  });

  afterAll(() => {
    decoder?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function sampler(
    tap: VideoTap,
    pool: KeyframeDecoderPool,
    opts: { fps?: number; clock?: StreamClock; streamId?: string; noKeyframeAfterMs?: number; maxKeyframeIntervalMs?: number } = {},
  ) {
    const s = new KeyframeSampler({ streamId: opts.streamId ?? 'kf', tap, pool, width: W, height: H, ffmpegVersion: info.version, ...opts });
    samplers.push(s);
    const frames: Frame[] = [];
    const unwatchable: string[] = [];
    s.onFrame((f) => {
      frames.push(f);
    });
    s.onUnwatchable((r) => unwatchable.push(r));
    return { s, frames, unwatchable };
  }

  /** Pushes the clip's video tags (optionally only some) into the tap, one keyframe decode at a time. */
  async function feed(tap: VideoTap, tracked: ReturnType<typeof trackedPool>, keep: (t: FlvTag) => boolean = () => true): Promise<void> {
    for (const t of clip.videoTags) {
      if (!keep(t)) continue;
      const kind = kindOf(t);
      tap.push({ kind, dts: t.timestamp, body: t.body, receivedAt: Date.now() });
      if (kind === 'key') await waitFor(() => tracked.outstanding() === 0, 15_000, `decode of the keyframe at ${t.timestamp} ms`);
    }
  }

  /** Presentation times (ms) of the clip's IDR keyframes: dts + composition offset. */
  function keyframePts(): number[] {
    return clip.videoTags.filter(isKeyframe).map((t) => t.timestamp + (((t.body.readUIntBE(2, 3) << 8) >> 8) | 0));
  }

  it('emits frames from media time 0 with consecutive seq numbers, at most fps per second of media', async () => {
    const pts = keyframePts();
    expect(pts.length).toBeGreaterThanOrEqual(7); // every 0.5 s over 4 s
    // What a cap of 1 fps leaves of them.
    const expected: number[] = [];
    for (const p of pts) if (expected.length === 0 || p - expected.at(-1)! >= 1000) expected.push(p);

    const tap = new VideoTap();
    const tracked = trackedPool(decoder);
    const { s, frames, unwatchable } = sampler(tap, tracked.pool, { fps: 1 });
    s.start();
    await feed(tap, tracked);

    expect(unwatchable).toEqual([]);
    expect(frames.map((f) => f.mediaTimeMs)).toEqual(expected.map((p) => p - expected[0]!));
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.length).toBeLessThanOrEqual(4); // ≤ fps × 4 s of media (+ the first)
    for (const f of frames) {
      expect(f).toMatchObject({ streamId: 'kf', width: W, height: H });
      expectColour(f.rgb, clip, `frame ${f.seq}`);
    }
    expect(s.stats()).toMatchObject({
      keyframes: pts.length,
      framesEmitted: frames.length,
      skipped: pts.length - frames.length,
      failed: 0,
      nonIdr: 0,
      unwatchable: null,
    });
    expect(tracked.calls()).toBe(frames.length);
  });

  it('a shared clock continues numbering and media time from one sampler of the stream to the next', async () => {
    const clock = newStreamClock();
    const tap = new VideoTap();
    const tracked = trackedPool(decoder);
    const first = sampler(tap, tracked.pool, { fps: 2, clock });
    first.s.start();
    await feed(tap, tracked, (t) => t.timestamp < 2_000);
    first.s.stop();
    expect(first.frames.length).toBeGreaterThanOrEqual(3);

    // The second joins the same tap (the sequence header is replayed) and overlaps the first by a second:
    // pictures already delivered are not delivered again.
    const second = sampler(tap, tracked.pool, { fps: 2, clock });
    second.s.start();
    await feed(tap, tracked, (t) => t.timestamp >= 1_000 && kindOf(t) !== 'config');
    expect(second.unwatchable).toEqual([]);
    expect(second.frames.length).toBeGreaterThanOrEqual(2);

    const all = [...first.frames, ...second.frames];
    expect(all.map((f) => f.seq)).toEqual(all.map((_, i) => i));
    expect(all[0]!.mediaTimeMs).toBe(0);
    expect(strictlyIncreasing(all.map((f) => f.mediaTimeMs))).toBe(true);
    expect(second.frames[0]!.mediaTimeMs).toBeGreaterThan(first.frames.at(-1)!.mediaTimeMs);
    expect(clock).toMatchObject({ nextSeq: all.length, lastMediaTimeMs: all.at(-1)!.mediaTimeMs });
    for (const f of all) expectColour(f.rgb, clip, `frame ${f.seq}`);
  });

  it('keyframes further apart than the adaptive limit make the stream unwatchable here; closer ones do not', async () => {
    // The clip has a keyframe every 0.5 s: within a 1 s limit.
    const tap = new VideoTap();
    const tracked = trackedPool(decoder);
    const ok = sampler(tap, tracked.pool, { fps: 2, maxKeyframeIntervalMs: 1_000 });
    ok.s.start();
    await feed(tap, tracked);
    expect(ok.unwatchable).toEqual([]);
    expect(ok.frames.length).toBeGreaterThanOrEqual(3);

    // The same stream with the keyframes between 1 s and 3 s missing: a 2 s gap.
    const tap2 = new VideoTap();
    const tracked2 = trackedPool(decoder);
    const gappy = sampler(tap2, tracked2.pool, { fps: 2, maxKeyframeIntervalMs: 1_000, streamId: 'gappy' });
    gappy.s.start();
    await feed(tap2, tracked2, (t) => !isKeyframe(t) || t.timestamp < 1_000 || t.timestamp >= 3_000);
    expect(gappy.unwatchable).toHaveLength(1);
    expect(gappy.unwatchable[0]).toMatch(/keyframe interval 2\.\d s is longer than 1\.0 s/);
    expect(gappy.s.stats().unwatchable).toBe(gappy.unwatchable[0]);
  });

  it('keyframes without an IDR picture make the stream unwatchable here', async () => {
    const tap = new VideoTap();
    const tracked = trackedPool(decoder);
    const { s, frames, unwatchable } = sampler(tap, tracked.pool, { noKeyframeAfterMs: 300 });
    s.start();
    const seq = clip.videoTags.find(isSeqHeader)!;
    tap.push({ kind: 'config', dts: 0, body: seq.body, receivedAt: Date.now() });
    // x264 intra refresh: "keyframes" whose picture is a non-IDR slice (NAL type 1).
    const nonIdr = Buffer.concat([
      Buffer.from([0x17, 1, 0, 0, 0]),
      joinLengthPrefixed([Buffer.concat([Buffer.from([0x41, 0x9a]), pseudoRandomBytes(200, 5)])]),
    ]);
    const t0 = Date.now();
    for (let dts = 0; unwatchable.length === 0 && Date.now() - t0 < 30_000; dts += 100) {
      tap.push({ kind: 'key', dts, body: nonIdr, receivedAt: Date.now() });
      await sleep(100);
    }
    expect(unwatchable).toEqual(['keyframes without IDR pictures']);
    expect(frames).toEqual([]);
    expect(tracked.calls()).toBe(0);
    expect(s.stats().nonIdr).toBeGreaterThan(0);
  });
});

describe('KeyframeSampler: what it cannot watch', () => {
  /** A pool that must never be reached: nothing here is decodable. */
  let decodes = 0;
  const noPool = {
    decode: () => {
      decodes++;
      return Promise.resolve({ ok: false, reason: 'stopped' } as DecodeResult);
    },
  } as unknown as KeyframeDecoderPool;

  function watch(packets: Array<{ kind: VideoPacketKind; body: Buffer }>): { reasons: string[]; sampler: KeyframeSampler } {
    const tap = new VideoTap();
    const s = new KeyframeSampler({ streamId: 'odd', tap, pool: noPool, width: W, height: H });
    const reasons: string[] = [];
    s.onUnwatchable((r) => reasons.push(r));
    s.start();
    let dts = 0;
    for (const p of packets) {
      expect(() => tap.push({ ...p, dts, receivedAt: Date.now() })).not.toThrow();
      dts += 33;
    }
    s.stop();
    return { reasons, sampler: s };
  }

  it('an HEVC sequence header (FLV codec id 12) is unwatchable, naming the codec', () => {
    const { reasons, sampler } = watch([
      { kind: 'config', body: Buffer.concat([Buffer.from([0x1c, 0, 0, 0, 0]), pseudoRandomBytes(40, 1)]) },
      { kind: 'key', body: Buffer.concat([Buffer.from([0x1c, 1, 0, 0, 0]), pseudoRandomBytes(400, 2)]) },
    ]);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/codec 12\b/);
    expect(sampler.stats().unwatchable).toBe(reasons[0]);
  });

  it('an enhanced-RTMP (FourCC) sequence header is unwatchable, naming the codec', () => {
    const { reasons } = watch([{ kind: 'config', body: Buffer.concat([Buffer.from([0x90]), Buffer.from('hvc1'), pseudoRandomBytes(40, 3)]) }]);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/codec/);
  });

  it('a Sorenson (codec 2) keyframe without any sequence header is unwatchable, naming the codec', () => {
    const { reasons } = watch([
      { kind: 'key', body: Buffer.concat([Buffer.from([0x12]), pseudoRandomBytes(300, 4)]) },
      { kind: 'inter', body: Buffer.concat([Buffer.from([0x22]), pseudoRandomBytes(300, 5)]) },
      { kind: 'key', body: Buffer.concat([Buffer.from([0x12]), pseudoRandomBytes(300, 6)]) },
    ]);
    expect(reasons).toEqual(['video codec 2 is not H.264']);
  });

  it('a garbage AVC sequence header is unwatchable, and nothing throws', () => {
    const garbage = [
      // random avcC (version byte forced off 1)
      Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0, 0x7e]), pseudoRandomBytes(60, 7)]),
      // truncated
      Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64]),
      // one SPS, its length past the end
      Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x40, 0x00, 0x67, 0x64]),
      // an "SPS" that is a PPS
      Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 8, 0x68]), pseudoRandomBytes(7, 8), Buffer.from([1, 0, 2, 0x68, 0xce])]),
      // an SPS of random bits
      Buffer.concat([
        Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 12, 0x67, 0x64, 0, 0x1f, 0xff]),
        pseudoRandomBytes(8, 9),
        Buffer.from([1, 0, 2, 0x68, 0xce]),
      ]),
      // bare codec byte
      Buffer.from([0x17]),
    ];
    for (const [i, body] of garbage.entries()) {
      const key = Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), joinLengthPrefixed([Buffer.concat([Buffer.from([0x65]), pseudoRandomBytes(100, i)])])]);
      const { reasons, sampler } = watch([
        { kind: 'config', body },
        { kind: 'key', body: key },
      ]);
      expect(reasons, `garbage header #${i}`).toHaveLength(1);
      expect(reasons[0]!.length).toBeGreaterThan(0);
      expect(sampler.stats().keyframes, `garbage header #${i}: keyframes are no longer looked at`).toBe(0);
    }
    expect(decodes).toBe(0);
  });
});
