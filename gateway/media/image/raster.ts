/**
 * What the image decoders hand to the hasher: 8-bit samples at full resolution, one channel (grey) or
 * three (RGB), the way Meta's reference tool holds them before hashing (a CImg<uint8_t> of spectrum 1 or
 * 3). Grey stays grey: the reference takes its luma straight from the grey value, not through RGB weights.
 */
export interface Raster {
  width: number;
  height: number;
  channels: 1 | 3;
  /** width * height * channels bytes, row-major, channels interleaved. */
  data: Uint8Array;
  /** Which decoder produced it, for --json and the benchmark. */
  decoder: 'libjpeg-turbo' | 'png' | 'pnm' | 'ffmpeg';
  /** The file had an alpha channel (or tRNS transparency), and the hash is of the colour channels alone. */
  alphaIgnored?: boolean;
  /** The file had 16-bit samples; the hash is of their high bytes. */
  from16Bit?: boolean;
}

/**
 * Stable error codes for a file that cannot be hashed (tests and scripts match on these, never on text):
 * - not_found: no such file
 * - unreadable: it exists but cannot be read (permissions, a device, …)
 * - corrupt: a JPEG, PNG or PNM whose data the decoder rejects
 * - truncated: a JPEG that ends before its end-of-image marker (the reference hashes the grey-filled
 *   remainder; a cut-off picture's hash is not the picture's)
 * - too_large: over MAX_PIXELS pixels (decoding would take gigabytes)
 * - unsupported: neither an in-process decoder nor ffmpeg can read it
 * - no_frames: a video or animation that decodes to no picture
 * - ffmpeg_unavailable: the file needs ffmpeg (video, WebP, GIF, …) and none runs here
 * - no_files: a folder with no image or video file in it
 */
export type MediaErrorCode =
  'not_found' | 'unreadable' | 'corrupt' | 'truncated' | 'too_large' | 'unsupported' | 'no_frames' | 'ffmpeg_unavailable' | 'no_files';

export class MediaError extends Error {
  constructor(
    readonly code: MediaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/**
 * Thrown by an in-process decoder for a valid file it does not handle (a CMYK JPEG, a 12-bit JPEG, an
 * ASCII PNM): the caller hands the file to ffmpeg instead.
 */
export class NotInProcess extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotInProcess';
  }
}

/** 100 megapixels, as jpeg-js's default limit: a 10000×10000 picture still decodes; a decompression bomb does not. */
export const MAX_PIXELS = 100_000_000;

export function checkSize(width: number, height: number, what: string): void {
  if (width <= 0 || height <= 0) throw new MediaError('corrupt', `${what}: image size ${width}x${height}`);
  if (width * height > MAX_PIXELS) throw new MediaError('too_large', `${what}: ${width}x${height} is over ${MAX_PIXELS / 1e6} megapixels`);
}
