import pngjs from 'pngjs';
import { MediaError, checkSize, type Raster } from './raster.ts';

/**
 * PNG as the reference reads it (CImg's load_png over libpng): palette images become RGB; greyscale
 * (1, 2, 4, 8 or 16 bit) stays one channel, low bit depths expanded to 0..255 as
 * png_set_expand_gray_1_2_4_to_8 does (1 bit: 0 → 0, 1 → 255); RGB stays RGB.
 *
 * Where the reference tool gives no hash, the choice made here, and why:
 * - An alpha channel (RGBA, grey+alpha, or tRNS transparency): libpng hands CImg 2 or 4 channels and the
 *   tool exits with "Internal coding error" (measured on shared c.png, pen-and-coaster.png, modes/LA.png).
 *   Here alpha is ignored and the colour channels are hashed as stored, which is what the reference gives
 *   for the same file with its alpha removed, and what HMA's Python path does for LA images.
 * - 16-bit samples: CImg<uint8_t> keeps the *low* byte of each sample, so its hash is of noise. Here the
 *   high byte is used (libpng's png_set_strip_16, Pillow), i.e. the hash of the picture.
 */
export function decodePng(bytes: Uint8Array): Raster {
  checkHeader(bytes);
  let png: Omit<ReturnType<typeof pngjs.PNG.sync.read>, 'colorType' | 'depth'> & { colorType?: number; depth?: number; transColor?: number[] };
  try {
    // skipRescale: sample values as stored (16-bit in a Uint16Array, low depths unscaled): scaled below.
    png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (err) {
    throw new MediaError('corrupt', `PNG data that cannot be decoded (${err instanceof Error ? err.message : String(err)})`);
  }
  const { width, height } = png;
  const colorType: number = png.colorType ?? 6;
  const depth = png.depth ?? 8;
  const rgba = png.data as unknown as ArrayLike<number>;
  const grey = colorType === 0 || colorType === 4;
  const channels = grey ? 1 : 3;
  const n = width * height;
  const data = new Uint8Array(n * channels);
  // pngjs blanks a pixel matching the tRNS colour to 0,0,0,0; the stored colour was the tRNS colour itself.
  const trns = colorType !== 3 && png.transColor ? png.transColor : null;
  if (trns !== null) restoreTransparentColour(rgba as unknown as Uint8Array | Uint16Array, n, trns);
  // Palette entries are 8-bit already; other samples are scaled from their bit depth.
  const shift = colorType !== 3 && depth === 16 ? 8 : 0;
  const factor = colorType !== 3 && depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  if (grey) {
    for (let p = 0, q = 0; p < n; p++, q += 4) data[p] = (rgba[q]! >>> shift) * factor;
  } else {
    for (let p = 0, q = 0, o = 0; p < n; p++, q += 4, o += 3) {
      data[o] = rgba[q]! >>> shift;
      data[o + 1] = rgba[q + 1]! >>> shift;
      data[o + 2] = rgba[q + 2]! >>> shift;
    }
  }
  const raster: Raster = { width, height, channels, data, decoder: 'png' };
  if (colorType === 4 || colorType === 6 || trns !== null || (colorType === 3 && hasPaletteAlpha(bytes))) raster.alphaIgnored = true;
  if (depth === 16) raster.from16Bit = true;
  return raster;
}

function restoreTransparentColour(rgba: Uint8Array | Uint16Array, n: number, trns: number[]): void {
  for (let q = 0; q < n * 4; q += 4) {
    if (rgba[q + 3] !== 0 || rgba[q] !== 0 || rgba[q + 1] !== 0 || rgba[q + 2] !== 0) continue;
    rgba[q] = trns[0]!;
    rgba[q + 1] = trns[1] ?? trns[0]!;
    rgba[q + 2] = trns[2] ?? trns[0]!;
  }
}

/** IHDR size check before pngjs allocates anything. */
function checkHeader(bytes: Uint8Array): void {
  if (bytes.length < 33) throw new MediaError('corrupt', 'PNG shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkSize(view.getUint32(16), view.getUint32(20), 'PNG');
}

/** A tRNS chunk in a palette image: libpng would add an alpha channel (the reference then refuses). */
function hasPaletteAlpha(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (type === 'tRNS') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    at += 12 + length;
  }
  return false;
}
