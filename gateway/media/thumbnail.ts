import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import type { Frame } from '../../classifiers/frame.ts';

/**
 * Small evidence JPEG from a sampled frame: downscale in JS (box filter, integer maths), then
 * encode with jpeg-js (one reused encoder, see below). A 512×288 frame becomes 256×144; the
 * encoder's cost grows with pixel count, so scaling first is what keeps this cheap.
 */

interface ReusableEncoder {
  encode(image: { data: Buffer; width: number; height: number }, quality: number): Buffer;
}
type EncoderCtor = new (quality: number) => ReusableEncoder;

/**
 * jpeg-js's `encode()` builds a new encoder per call, and building one (Huffman and 64K-entry
 * category tables) costs far more than encoding a 256×144 image: measured ~100 ms vs a few ms,
 * much worse under load. The constructor is not exported, so load the encoder's source once (it
 * has no requires) with one added line that exposes it, and keep one encoder per quality.
 * If that ever fails (a jpeg-js upgrade), fall back to the public `encode()`.
 */
function loadEncoderCtor(): EncoderCtor | null {
  try {
    const req = createRequire(import.meta.url);
    const src = readFileSync(req.resolve('jpeg-js/lib/encoder.js'), 'utf8');
    const mod: { exports: unknown } = { exports: {} };
    new Function('module', 'exports', 'Buffer', `${src}\n;module.exports = { JPEGEncoder: JPEGEncoder };`)(mod, mod.exports, Buffer);
    const ctor = (mod.exports as { JPEGEncoder?: unknown }).JPEGEncoder;
    return typeof ctor === 'function' ? (ctor as EncoderCtor) : null;
  } catch {
    return null;
  }
}

let encoderCtor: EncoderCtor | null | undefined;
const encoders = new Map<number, ReusableEncoder>();

function encodeJpeg(data: Buffer, width: number, height: number, quality: number): Buffer {
  if (encoderCtor === undefined) encoderCtor = loadEncoderCtor();
  if (encoderCtor) {
    let enc = encoders.get(quality);
    if (!enc) {
      enc = new encoderCtor(quality);
      encoders.set(quality, enc);
    }
    return Buffer.from(enc.encode({ data, width, height }, quality));
  }
  return Buffer.from(jpeg.encode({ data, width, height }, quality).data);
}

export interface ThumbnailOptions {
  /** Max width in px; frames narrower than this are not upscaled. Default 256. */
  maxWidth?: number;
  /** JPEG quality 1..100. Default 70. */
  quality?: number;
}

export interface Thumbnail {
  jpeg: Buffer;
  width: number;
  height: number;
}

/** Box-filter downscale of packed RGB24 to RGBA (jpeg-js wants 4 bytes per pixel). */
export function downscaleRgbToRgba(rgb: Buffer, w: number, h: number, tw: number, th: number): Buffer {
  const out = Buffer.alloc(tw * th * 4);
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * h) / th);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * h) / th));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * w) / tw);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * w) / tw));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = y0; y < y1; y++) {
        let i = (y * w + x0) * 3;
        for (let x = x0; x < x1; x++) {
          r += rgb[i] ?? 0;
          g += rgb[i + 1] ?? 0;
          b += rgb[i + 2] ?? 0;
          i += 3;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (ty * tw + tx) * 4;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
      out[o + 3] = 255;
    }
  }
  return out;
}

export function thumbnailFromFrame(frame: Pick<Frame, 'rgb' | 'width' | 'height'>, opts: ThumbnailOptions = {}): Thumbnail {
  const maxWidth = Math.max(1, Math.floor(opts.maxWidth ?? 256));
  const quality = Math.min(100, Math.max(1, Math.round(opts.quality ?? 70)));
  const { width: w, height: h, rgb } = frame;
  if (rgb.length < w * h * 3) throw new RangeError(`frame buffer ${rgb.length} B is smaller than ${w}x${h}x3`);
  const tw = Math.min(w, maxWidth);
  const th = Math.max(1, Math.round((h * tw) / w));
  const data = downscaleRgbToRgba(rgb, w, h, tw, th);
  return { jpeg: encodeJpeg(data, tw, th, quality), width: tw, height: th };
}
