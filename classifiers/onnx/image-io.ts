/**
 * Reads still images into packed RGB24 for offline tools (fit-head, parity tests). Supported:
 * JPEG (.jpg/.jpeg, via jpeg-js), PNG (.png: 8/16-bit gray, RGB, palette, with or without alpha; not
 * interlaced; alpha is dropped) and binary PPM (.ppm, P6, maxval 255). Not used on the live path — frames
 * arrive already decoded.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';

export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm'] as const;

export function isImageFile(file: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

export async function readImage(file: string): Promise<RgbImage> {
  const data = await readFile(file);
  const ext = path.extname(file).toLowerCase();
  try {
    if (ext === '.jpg' || ext === '.jpeg') return decodeJpeg(data);
    if (ext === '.png') return decodePng(data);
    if (ext === '.ppm') return decodePpm(data);
  } catch (e) {
    throw new Error(`cannot decode ${file}: ${(e as Error).message}`);
  }
  throw new Error(`unsupported image type ${file} (supported: ${IMAGE_EXTENSIONS.join(', ')})`);
}

export function decodeJpeg(data: Uint8Array): RgbImage {
  const img = jpeg.decode(data, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 100 });
  return { width: img.width, height: img.height, rgb: img.data };
}

export function decodePpm(data: Uint8Array): RgbImage {
  // Header: "P6" whitespace width whitespace height whitespace maxval, one whitespace byte, then pixels;
  // '#' comments may appear between tokens.
  const tokens: string[] = [];
  let i = 0;
  while (tokens.length < 4 && i < data.length) {
    const c = data[i] as number;
    if (c === 0x23) {
      while (i < data.length && data[i] !== 0x0a) i++;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
    } else {
      let t = '';
      while (i < data.length && ![0x20, 0x0a, 0x0d, 0x09].includes(data[i] as number)) t += String.fromCharCode(data[i++] as number);
      tokens.push(t);
    }
  }
  const [magic, w, h, max] = tokens;
  if (magic !== 'P6') throw new Error(`not a binary PPM (magic ${magic})`);
  if (max !== '255') throw new Error(`PPM maxval ${max} not supported (only 255)`);
  const width = Number(w);
  const height = Number(h);
  const start = i + 1;
  const len = width * height * 3;
  if (!(width > 0 && height > 0) || data.length < start + len) throw new Error('truncated PPM');
  return { width, height, rgb: data.slice(start, start + len) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(data: Uint8Array): RgbImage {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((v, i) => data[i] === v)) throw new Error('not a PNG');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 8;
  let width = 0,
    height = 0,
    depth = 0,
    colour = 0,
    interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (off + 8 <= data.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...data.subarray(off + 4, off + 8));
    const body = data.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(off + 8);
      height = view.getUint32(off + 12);
      depth = body[8] as number;
      colour = body[9] as number;
      interlace = body[12] as number;
    } else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (interlace !== 0) throw new Error('interlaced PNG not supported');
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colour];
  if (channels === undefined) throw new Error(`PNG colour type ${colour} not supported`);
  if (!(depth === 8 || (depth === 16 && colour !== 3))) throw new Error(`PNG bit depth ${depth} not supported`);
  if (colour === 3 && !palette) throw new Error('palette PNG without PLTE');
  const bpp = (channels * depth) / 8;
  const stride = width * bpp;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length < height * (stride + 1)) throw new Error('truncated PNG data');
  // Undo the per-row filters in place into `px`.
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? (px[row + x - bpp] as number) : 0;
      const b = y > 0 ? (px[row - stride + x] as number) : 0;
      const c = x >= bpp && y > 0 ? (px[row - stride + x - bpp] as number) : 0;
      const v = raw[src + x] as number;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : -1;
      if (pred < 0) throw new Error(`bad PNG filter ${filter}`);
      px[row + x] = (v + pred) & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  const step = depth / 8; // 16-bit samples: keep the high byte
  for (let p = 0; p < width * height; p++) {
    const s = p * bpp;
    if (colour === 3 && palette) {
      const k = (px[s] as number) * 3;
      rgb.set(palette.subarray(k, k + 3), p * 3);
    } else if (channels <= 2) {
      const g = px[s] as number;
      rgb[p * 3] = g;
      rgb[p * 3 + 1] = g;
      rgb[p * 3 + 2] = g;
    } else {
      rgb[p * 3] = px[s] as number;
      rgb[p * 3 + 1] = px[s + step] as number;
      rgb[p * 3 + 2] = px[s + 2 * step] as number;
    }
  }
  return { width, height, rgb };
}
