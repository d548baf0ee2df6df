import { PassThrough } from 'node:stream';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { thumbnailFromFrame } from '../../gateway/media/thumbnail.ts';
import { buildArgs, CHEAP_DECODER, parseShowinfo, PLAIN_DECODER } from '../../gateway/sampler/args.ts';
import { Backoff } from '../../gateway/sampler/backoff.ts';
import { findResyncPoint, HeaderCollector } from '../../gateway/sampler/container.ts';
import { FrameReader } from '../../gateway/sampler/frame-reader.ts';

const FEATURES_51 = { fpsMode: true, showinfoChecksum: true, libx264: true, libvpx: true };
const FEATURES_41 = { ...FEATURES_51, fpsMode: false };

describe('sampler building blocks', () => {
  it('FrameReader splits an arbitrarily chunked pipe into whole frames', async () => {
    const frames: Buffer[] = [];
    const r = new FrameReader(6, (f) => frames.push(f));
    const src = new PassThrough();
    src.pipe(r);
    const bytes = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
    for (const cut of [
      [0, 1],
      [1, 8],
      [8, 9],
      [9, 20],
    ] as const)
      src.write(bytes.subarray(cut[0], cut[1]));
    src.end();
    await new Promise((res) => r.on('finish', res));
    expect(frames.map((f) => [...f])).toEqual([
      [0, 1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10, 11],
      [12, 13, 14, 15, 16, 17],
    ]);
    expect(r.partialBytes).toBe(2);
  });

  it('Backoff grows exponentially, caps, jitters and resets', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 }, () => 0.5);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 }, () => 0);
    const high = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 }, () => 1);
    expect(low.next()).toBe(75);
    expect(high.next()).toBe(125);
  });

  it('emits -fps_mode only where the build has it (npm ffmpeg 4.1 gets -vsync)', () => {
    const p = { source: { kind: 'url', url: 'rtmp://x/live/a' } as const, mode: 'full' as const, fps: 2, width: 512, height: 288 };
    const new51 = buildArgs({ ...p, decoder: CHEAP_DECODER, features: FEATURES_51 });
    const old41 = buildArgs({ ...p, decoder: CHEAP_DECODER, features: FEATURES_41 });
    expect(new51.outputOptions.join(' ')).toContain('-fps_mode passthrough');
    expect(old41.outputOptions.join(' ')).toContain('-vsync passthrough');
    expect(old41.outputOptions).not.toContain('-fps_mode');
    expect(new51.inputOptions.join(' ')).toContain('-skip_frame noref');
    const key = buildArgs({ ...p, mode: 'keyframe', decoder: PLAIN_DECODER, features: FEATURES_51 });
    expect(key.inputOptions.join(' ')).toContain('-skip_frame nokey');
    expect(key.inputOptions).not.toContain('-probesize');
    expect(new51.filter).toContain('pad=512:288');
    const pipe = buildArgs({ ...p, source: { kind: 'pipe', format: 'webm' }, decoder: CHEAP_DECODER, features: FEATURES_51 });
    expect(pipe.input).toBe('pipe:0');
    expect(pipe.inputOptions.slice(-2)).toEqual(['-f', 'webm']);
  });

  it('parses showinfo lines from ffmpeg 5.1 and 4.1', () => {
    expect(parseShowinfo('[Parsed_showinfo_5 @ 0x55d] n:   3 pts:   1500 pts_time:1.5     duration:1 pos:123 fmt:rgb24')).toEqual({ n: 3, ptsMs: 1500 });
    expect(parseShowinfo('[Parsed_showinfo_4 @ 0x1] n:  12 pts:  6067 pts_time:6.067   pos:  99 fmt:rgb24 sar:1/1')).toEqual({ n: 12, ptsMs: 6067 });
    expect(parseShowinfo('[Parsed_showinfo_5 @ 0x55d] color_range:pc color_space:gbr')).toBeNull();
  });

  it('finds WebM cluster and MP4 fragment boundaries; collects the init segment', () => {
    const ebml = Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3]);
    const cluster = Buffer.from([0x1f, 0x43, 0xb6, 0x75, 9, 9]);
    expect(findResyncPoint('webm', Buffer.concat([ebml, cluster]))).toBe(7);
    const h = new HeaderCollector('webm');
    h.push(ebml);
    expect(h.done).toBe(false);
    h.push(cluster);
    expect([...(h.header ?? [])]).toEqual([...ebml]);
    const box = (type: string, len: number): Buffer => {
      const b = Buffer.alloc(len);
      b.writeUInt32BE(len, 0);
      b.write(type, 4, 'latin1');
      return b;
    };
    const mp4 = Buffer.concat([box('ftyp', 16), box('moov', 24), box('moof', 16), box('mdat', 16)]);
    expect(findResyncPoint('mp4', mp4)).toBe(40);
  });

  it('thumbnail: 512x288 frame → 256x144 JPEG that decodes to the same colour', () => {
    const rgb = Buffer.alloc(512 * 288 * 3);
    for (let i = 0; i < rgb.length; i += 3) {
      rgb[i] = 200;
      rgb[i + 1] = 30;
      rgb[i + 2] = 60;
    }
    // Speed is reported by scripts/bench/sampler.ts; a wall-clock bound here would flake under CI load.
    const t = thumbnailFromFrame({ rgb, width: 512, height: 288 });
    expect([t.width, t.height]).toEqual([256, 144]);
    const back = jpeg.decode(t.jpeg);
    expect(Math.abs((back.data[0] ?? 0) - 200)).toBeLessThan(8);
    expect(Math.abs((back.data[1] ?? 0) - 30)).toBeLessThan(8);
    expect(t.jpeg.length).toBeLessThan(20_000);
  });
});
