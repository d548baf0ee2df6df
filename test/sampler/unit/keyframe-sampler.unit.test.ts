import { describe, expect, it } from 'vitest';
import type { Frame } from '../../../classifiers/frame.ts';
import type { Signal } from '../../../classifiers/signal.ts';
import type { VideoPacket } from '../../../gateway/live/video-tap.ts';
import type { DecodeResult } from '../../../gateway/sampler/keyframe-decoder.ts';
import { KeyframeSampler, type KeyframeSamplerOptions } from '../../../gateway/sampler/keyframe-sampler.ts';
import { FakeTimers } from './fake-timers.ts';

/**
 * The keyframe sampler's watchdog on a fake clock: a tap that the test feeds and a decoder that answers at
 * once with the same picture every time (a static stream). No ffmpeg; the decoding itself is covered by
 * test/sampler/keyframe-decoder.test.ts.
 */

/** The AVC sequence header x264 (ultrafast, 320x240) writes in FLV: its real SPS and PPS. */
const SEQUENCE_HEADER = Buffer.from('17000000000142c00dffe100166742c00dda0507ec0440000003004000000f03c50aa801000468ce0fc8', 'hex');
/** A keyframe tag body: AVC NALU packet, composition time 0, one IDR slice NAL (4-byte length). */
const IDR = Buffer.from([0x17, 0x01, 0, 0, 0, 0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00]);
/** An inter frame (non-IDR slice). */
const INTER = Buffer.from([0x27, 0x01, 0, 0, 0, 0, 0, 0, 4, 0x41, 0x9a, 0x00, 0x00]);
const PICTURE = Buffer.alloc(16 * 16 * 3, 0x30);

function setup(opts: Partial<KeyframeSamplerOptions> = {}) {
  const timers = new FakeTimers();
  let consumer: ((p: VideoPacket) => void) | null = null;
  const decoded: number[] = [];
  const tap = {
    subscribe(cb: (p: VideoPacket) => void) {
      consumer = cb;
      return () => {
        consumer = null;
      };
    },
  };
  const pool = {
    decode: async (): Promise<DecodeResult> => {
      decoded.push(timers.now());
      return { ok: true, rgb: Buffer.from(PICTURE), decodeMs: 5 };
    },
  };
  const k = new KeyframeSampler({ streamId: 'k', tap, pool, width: 16, height: 16, timers, ...opts });
  const frames: Frame[] = [];
  const stalls: Signal[] = [];
  const unwatchable: string[] = [];
  k.onFrame((f) => {
    frames.push(f);
  });
  k.onStall((s) => stalls.push(s));
  k.onUnwatchable((r) => unwatchable.push(r));
  const send = (kind: VideoPacket['kind'], dts: number, body: Buffer) => consumer?.({ kind, dts, body, receivedAt: timers.now() });
  return { timers, k, frames, stalls, unwatchable, decoded, send };
}

describe('KeyframeSampler on a fake clock', () => {
  it('a static picture with a keyframe every 2 s for 2 minutes: a picture per keyframe, never a stall', async () => {
    const { timers, k, frames, stalls, unwatchable, send } = setup({ stallAfterMs: 12_000 });
    k.start();
    send('config', 0, SEQUENCE_HEADER);
    await timers.run(120_000, 100, (t) => {
      send(t % 2_000 === 0 ? 'key' : 'inter', t, t % 2_000 === 0 ? IDR : INTER);
    });
    expect(frames).toHaveLength(60);
    expect(frames.map((f) => f.mediaTimeMs).slice(0, 3)).toEqual([0, 2_000, 4_000]);
    expect(frames.every((f) => f.rgb.equals(PICTURE))).toBe(true);
    expect(stalls).toEqual([]);
    expect(unwatchable).toEqual([]);
    expect(k.stats()).toMatchObject({ stalls: 0, keyframes: 60, framesEmitted: 60 });
    k.stop();
  });

  it('video that stops: a no-video stall after stallAfterMs, repeated at most once per stallAfterMs', async () => {
    const { timers, k, stalls, send } = setup({ stallAfterMs: 5_000 });
    k.start();
    send('config', 0, SEQUENCE_HEADER);
    await timers.run(4_000, 2_000, (t) => send('key', t, IDR));
    // Checked once a second: the first check more than 5 s after the last picture reports.
    await timers.advance(5_000);
    expect(stalls).toEqual([]);
    await timers.advance(1_000);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ source: 'sampler', label: 'stall', frameTimeMs: 2_000 });
    expect(stalls[0]!.detail).toMatchObject({ reason: 'no-video', mode: 'keyframe', stalledForMs: 6_000 });
    await timers.advance(5_000);
    expect(stalls).toHaveLength(1);
    await timers.advance(1_000);
    expect(stalls).toHaveLength(2);
    k.stop();
  });

  it('video flowing without a keyframe for noKeyframeAfterMs makes the stream unwatchable here (not a stall)', async () => {
    const { timers, k, stalls, unwatchable, send } = setup({ stallAfterMs: 12_000, noKeyframeAfterMs: 6_000 });
    k.start();
    send('config', 0, SEQUENCE_HEADER);
    await timers.run(10_000, 100, (t) => send('inter', t, INTER));
    expect(unwatchable).toEqual(['no keyframe in 6 s']);
    expect(stalls).toEqual([]);
    expect(timers.armed).toBe(0);
  });

  it('paused (a full-rate sampler watches meanwhile), it reports nothing; resumed, it watches again', async () => {
    const { timers, k, frames, stalls, send } = setup({ stallAfterMs: 5_000 });
    k.start();
    send('config', 0, SEQUENCE_HEADER);
    k.pause();
    await timers.run(20_000, 2_000, (t) => send('key', t, IDR));
    expect(frames).toEqual([]);
    expect(stalls).toEqual([]);
    k.resume();
    await timers.run(4_000, 2_000, (t) => send('key', 20_000 + t, IDR));
    expect(frames).toHaveLength(2);
    k.stop();
  });
});
