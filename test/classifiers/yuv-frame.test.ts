import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hamming, PdqHasher } from '../../classifiers/pdq.ts';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import { trimBorders } from '../../classifiers/regions.ts';
import { yuv420Bytes, yuv420ToRgb, yuvFrame } from '../../classifiers/yuv-frame.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping the YUV frame comparison with ffmpeg: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

const W = 512;
const H = 288;
const PHOTOS = ['astronaut.jpg', 'baboon.jpg', 'camera.jpg', 'chelsea.jpg'].map((f) => path.resolve('test/fixtures/evasion/banked', f));

/**
 * One photo through the sampler's own filter chain (gateway/sampler/args.ts), fitted into 512×288 and
 * padded (a letterbox or pillarbox where its shape differs), in the pixel format asked for.
 */
async function sampled(file: string, pixFmt: 'rgb24' | 'yuvj420p', inner = `${W}:${H}`): Promise<Buffer> {
  const vf = [`scale=${inner}:force_original_aspect_ratio=decrease:flags=area`, `format=${pixFmt}`, `pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2:black`, 'setsar=1'].join(
    ',',
  );
  // The photo as a stream would carry it: TV-range yuv420p, as x264 encodes it.
  const args = ['-hide_banner', '-loglevel', 'error', '-i', file, '-vf', `format=yuv420p,${vf}`, '-frames:v', '1', '-pix_fmt', pixFmt, '-f', 'rawvideo', '-'];
  const { stdout } = await promisify(execFile)(ffmpeg!.path, args, { encoding: 'buffer', maxBuffer: 8 << 20 });
  return stdout;
}

describe.skipIf(!ffmpeg)('YUV frames: what hashing and the models see, against ffmpeg converting to RGB itself', () => {
  it('RGB made from the yuvj420p frame is ffmpeg’s RGB to within a few levels (chroma interpolation apart)', async () => {
    for (const photo of PHOTOS) {
      const yuv = await sampled(photo, 'yuvj420p');
      const ref = await sampled(photo, 'rgb24');
      expect(yuv.length).toBe(yuv420Bytes(W, H));
      const rgb = yuv420ToRgb(yuv, W, H);
      let sum = 0;
      for (let i = 0; i < rgb.length; i++) sum += Math.abs(rgb[i]! - ref[i]!);
      expect(sum / rgb.length, photo).toBeLessThan(4);
    }
  });

  it('PDQ of the luma plane is within a few bits of PDQ of ffmpeg’s RGB, at the same quality band', async () => {
    const hasher = new PdqHasher();
    for (const photo of PHOTOS) {
      const yuv = await sampled(photo, 'yuvj420p');
      const ref = await sampled(photo, 'rgb24');
      const fromLuma = hasher.fromLuma(yuv.subarray(0, W * H), W, H, { dihedral: true });
      const fromRgb = hasher.fromRgb(ref, W, H, { dihedral: true });
      expect(hamming(fromLuma.hash, fromRgb.hash), photo).toBeLessThanOrEqual(8);
      expect(hamming(fromLuma.dihedral!.flipX, fromRgb.dihedral!.flipX), photo).toBeLessThanOrEqual(8);
      expect(Math.abs(fromLuma.quality - fromRgb.quality), photo).toBeLessThanOrEqual(10);
    }
  });

  it('borders are found on the luma plane where they are found on the RGB: a letterbox and a pillarbox', async () => {
    for (const photo of PHOTOS) {
      for (const inner of ['512:200', '300:288']) {
        const yuv = await sampled(photo, 'yuvj420p', inner);
        const ref = await sampled(photo, 'rgb24', inner);
        const onLuma = trimBorders({ rgb: yuv.subarray(0, W * H), width: W, height: H, channels: 1 });
        const onRgb = trimBorders({ rgb: ref, width: W, height: H });
        expect(onLuma.w * onLuma.h, `${photo} ${inner}`).toBeLessThan(W * H);
        // 4:2:0 puts the picture on even rows and columns with even sides (scale and pad round for chroma),
        // RGB anywhere: the two frames' pictures may sit a pixel apart.
        for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(onLuma[k] - onRgb[k]), `${photo} ${inner} ${k}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('a frame hashed without tiles or the inset never makes its RGB; the regions that need RGB do, once', async () => {
    // A letterbox on even rows in both formats, so both frames hold the same picture in the same place.
    const yuv = await sampled(PHOTOS[1]!, 'yuvj420p', '512:200');
    const ref = await sampled(PHOTOS[1]!, 'rgb24', '512:200');
    const frame = yuvFrame({ streamId: 's', seq: 0, mediaTimeMs: 0, receivedAt: 0, width: W, height: H }, yuv);
    let reads = 0;
    const counted = {
      width: W,
      height: H,
      luma: frame.luma,
      get rgb() {
        reads++;
        return frame.rgb;
      },
    };
    const rh = new RegionHasher();
    const quick = rh.live(counted, { tiles: false, inner: false, dihedral: true });
    expect(reads).toBe(0);
    expect(quick.map((r) => r.region)).toEqual(['full', 'trimmed']);
    const onRgb = new RegionHasher().live({ rgb: ref, width: W, height: H }, { tiles: true, inner: true, dihedral: true });
    const all = rh.live(counted, { tiles: true, inner: true, dihedral: true });
    expect(reads).toBeGreaterThan(0);
    expect(all.map((r) => r.region)).toEqual(onRgb.map((r) => r.region));
    for (const [i, r] of all.entries()) expect(hamming(r.result.hash, onRgb[i]!.result.hash), r.region).toBeLessThanOrEqual(12);
    // Made once and kept; a copy of the frame carries it.
    expect(frame.rgb).toBe(frame.rgb);
    expect({ ...frame }.rgb).toBe(frame.rgb);
  });
});

describe('yuv420ToRgb', () => {
  it('grey stays grey, full range: Y 0, 128, 255 with neutral chroma', () => {
    const yuv = Buffer.alloc(yuv420Bytes(4, 2), 128);
    yuv.set([0, 128, 255, 255, 0, 128, 255, 255], 0);
    expect([...yuv420ToRgb(yuv, 4, 2)]).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 255, 255]);
  });

  it('saturated chroma clamps instead of wrapping', () => {
    const yuv = Buffer.from([250, 250, 250, 250, 255, 255]);
    const rgb = yuv420ToRgb(yuv, 2, 2);
    expect([rgb[0], rgb[2]]).toEqual([255, 255]);
  });

  it('refuses odd sizes and short buffers', () => {
    expect(() => yuv420ToRgb(Buffer.alloc(100), 3, 2)).toThrow(RangeError);
    expect(() => yuv420ToRgb(Buffer.alloc(5), 2, 2)).toThrow(RangeError);
  });
});
