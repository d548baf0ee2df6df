import type { Frame } from './frame.ts';

/**
 * Frames delivered as full-range YUV 4:2:0 (ffmpeg's yuvj420p: the Y plane, then the quarter-size U and V
 * planes), with RGB made only when something asks for it.
 *
 * PDQ needs luma only, and at 10 fps hashing most frames are seen by hash matching alone (the models take 2 of
 * them a second, classifiers/rate-limited.ts). Packed RGB costs ffmpeg a colour conversion per frame and the
 * pipe twice the bytes (3 per pixel against 1.5); the Y plane is the luma PDQ would compute from that RGB
 * anyway (BT.601 weights, same range). So the sampler asks ffmpeg for yuvj420p, hashing reads `luma`, and the
 * first reader of `rgb` (a model, the evidence thumbnail, region hashing at its own lower rate) pays one
 * conversion here, for that frame only.
 */

/** Bytes of a w×h yuv420p picture (even sides). */
export const yuv420Bytes = (width: number, height: number): number => width * height + 2 * (width / 2) * (height / 2);

/**
 * Packed RGB24 from full-range (JPEG) BT.601 YUV 4:2:0, as swscale converts an untagged stream: R = Y + 1.402 V',
 * G = Y − 0.344136 U' − 0.714136 V', B = Y + 1.772 U' (U', V' = chroma − 128), in 16-bit fixed point.
 */
export function yuv420ToRgb(yuv: Uint8Array, width: number, height: number): Buffer {
  if (width % 2 !== 0 || height % 2 !== 0 || yuv.length < yuv420Bytes(width, height)) {
    throw new RangeError(`need ${yuv420Bytes(width, height)} bytes of even-sided ${width}x${height} yuv420p, got ${yuv.length}`);
  }
  const out = Buffer.allocUnsafe(width * height * 3);
  // Clamped stores: out-of-gamut sums saturate at 0 and 255, as swscale's do.
  const rgb = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const cw = width / 2;
  const uBase = width * height;
  const vBase = uBase + cw * (height / 2);
  for (let y = 0; y < height; y++) {
    const c = (y >> 1) * cw;
    let p = y * width * 3;
    let yi = y * width;
    for (let x = 0; x < width; x += 2) {
      const u = yuv[uBase + c + (x >> 1)]! - 128;
      const v = yuv[vBase + c + (x >> 1)]! - 128;
      const dr = (91881 * v + 32768) >> 16;
      const dg = (22554 * u + 46802 * v + 32768) >> 16;
      const db = (116130 * u + 32768) >> 16;
      let l = yuv[yi++]!;
      rgb[p++] = l + dr;
      rgb[p++] = l - dg;
      rgb[p++] = l + db;
      l = yuv[yi++]!;
      rgb[p++] = l + dr;
      rgb[p++] = l - dg;
      rgb[p++] = l + db;
    }
  }
  return out;
}

/** A Frame over yuvj420p bytes: `luma` is a view of the Y plane, `rgb` is converted on first read and kept. */
export function yuvFrame(f: Omit<Frame, 'rgb' | 'luma'>, yuv: Buffer): Frame {
  let rgb: Buffer | null = null;
  const base = { ...f, luma: yuv.subarray(0, f.width * f.height) };
  // An own, enumerable getter: a spread or a copy of the frame still carries its pixels.
  return Object.defineProperty(base, 'rgb', {
    enumerable: true,
    configurable: true,
    get: () => (rgb ??= yuv420ToRgb(yuv, f.width, f.height)),
  }) as typeof base & { rgb: Buffer };
}
