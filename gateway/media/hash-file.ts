import { open } from 'node:fs/promises';
import { PdqHasher, toHex, type PdqResult } from '../../classifiers/pdq.ts';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import { ffmpegFrames, type RgbFrame } from './ffmpeg-frames.ts';
import { FfmpegNotFoundError, resolveFfmpegDecoder, type FfmpegDecoder } from './ffmpeg-path.ts';
import { decodeImage } from './image/decode.ts';
import { MAX_PIXELS, MediaError, NotInProcess, type Raster } from './image/raster.ts';
import { isInProcess, sniffFormat } from './image/sniff.ts';
import { thumbnailFromFrame } from './thumbnail.ts';

/**
 * PDQ hashes of a file as Meta's tools make them, for curators adding known content to a bank.
 *
 * Stills follow the reference photo hasher (facebook/ThreatExchange pdq/cpp, pdq-photo-hasher through
 * io/pdqio.cpp): decode at full resolution; if either side is over 512 px, resize to exactly 512×512 by
 * nearest neighbour (CImg's resize default; the aspect ratio is not kept); hash. JPEG, PNG and PNM decode
 * in-process (gateway/media/image/); other stills (WebP, GIF, BMP, TIFF, CMYK JPEG) are decoded by
 * ffmpeg to RGB at their own size and then follow the same rule. `fullResolution` skips the resize:
 * every pixel counts, as in the gateway's live-frame hashing (classifiers/hash-matcher.ts).
 *
 * Videos follow vPDQ (facebook/ThreatExchange vpdq/cpp, hashing/filehasher.cpp): frames at the video's own
 * resolution, no resize, one every 1/fps seconds. A frame's timestamp is its tick k/fps in seconds from
 * the first frame; vPDQ gives the frame's own time (frame number / rate), which differs from the tick by
 * less than one frame interval (none when the rate is a multiple of fps).
 */

export interface FileHash {
  /** Seconds from the start (0 for an image). */
  timeSec: number;
  hash: string;
  quality: number;
}

export interface ImageHashes {
  kind: 'image';
  hash: string;
  quality: number;
  width: number;
  height: number;
  decoder: Raster['decoder'];
  /** Hashed after the reference's 512×512 resize (false: small enough, or fullResolution). */
  resized: boolean;
  alphaIgnored?: boolean;
  from16Bit?: boolean;
  /** With `regions`: hashes of the picture's derived regions (trimmed, centre crops, tiles; classifiers/regions.ts). */
  regions?: RegionHashText[];
  /** With `thumbnail`: a small JPEG of the picture. */
  thumbnail?: { jpeg: Buffer; width: number; height: number };
  /** With `pixels`: the decoded picture (not serialised by the CLI). */
  pixels?: { width: number; height: number; rgb: Uint8Array };
}

export interface RegionHashText {
  region: string;
  hash: string;
  quality: number;
}

export interface VideoHashes {
  kind: 'video';
  fps: number;
  width: number;
  height: number;
  frames: FileHash[];
}

export type MediaHashes = ImageHashes | VideoHashes;

export interface HashOptions {
  /** Stills: hash every pixel instead of the reference's 512×512 resize. */
  fullResolution?: boolean;
  /** Videos: hashes per second (default 1). */
  fps?: number;
  /** Videos: at most this many frames (default 36 000, ten hours at 1 fps). */
  maxFrames?: number;
  /** Reused across files (its kernels are cached per size). */
  hasher?: PdqHasher;
  /** Stills: also hash the derived regions banks store beside the entry (centre crops, tiles, trimmed). */
  regions?: boolean;
  /** Stills: also make a small JPEG of the picture (what a bank entry shows moderators beside a matched frame). */
  thumbnail?: { maxWidth: number };
  /** Stills: also return the decoded pixels (RGB24), for the copy descriptor (classifiers/copy). */
  pixels?: boolean;
}

const PRE_RESIZE_DIM = 512;
/** A JPEG or PNG of 100 megapixels is far smaller than this; more is not a picture to hash. */
const MAX_IMAGE_BYTES = 512 * 2 ** 20;

/** Hashes one file; throws MediaError with a stable code when it cannot. */
export async function hashMedia(file: string, opts: HashOptions = {}): Promise<MediaHashes> {
  const hasher = opts.hasher ?? new PdqHasher();
  const bytes = await readWhole(file);
  const format = sniffFormat(bytes);
  if (isInProcess(format)) {
    try {
      return hashRaster(decodeImage(format, bytes), hasher, opts);
    } catch (err) {
      if (!(err instanceof NotInProcess)) throw err;
    }
  }
  const ffmpeg = await findFfmpeg();
  // A format we know to be a still: its first picture. Anything else: sampled as a video, unless it
  // turns out to hold a single picture with no timeline (ffmpeg's fps filter then emits nothing).
  if (format !== null) return hashFfmpegStill(ffmpeg, file, hasher, opts);
  const video = await hashFfmpegVideo(ffmpeg, file, hasher, opts);
  if (video.frames.length > 0) return video;
  return hashFfmpegStill(ffmpeg, file, hasher, opts);
}

/** The flat list of hashes (one for an image, one per sampled second for a video). */
export async function hashFile(file: string, opts: HashOptions = {}): Promise<FileHash[]> {
  const r = await hashMedia(file, opts);
  return r.kind === 'image' ? [{ timeSec: 0, hash: r.hash, quality: r.quality }] : r.frames;
}

/** The reference's rule on decoded pixels: resize only past 512 px, to 512×512, nearest neighbour. */
export function hashRaster(
  raster: Raster,
  hasher: PdqHasher,
  opts: Pick<HashOptions, 'fullResolution' | 'regions' | 'thumbnail' | 'pixels'> = {},
): ImageHashes {
  const { width, height } = raster;
  const resized = !opts.fullResolution && (width > PRE_RESIZE_DIM || height > PRE_RESIZE_DIM);
  const pdqOpts = { preResize512: resized };
  const r: PdqResult = raster.channels === 1 ? hasher.fromLuma(raster.data, width, height, pdqOpts) : hasher.fromRgb(raster.data, width, height, pdqOpts);
  const out: ImageHashes = { kind: 'image', hash: toHex(r.hash), quality: r.quality, width, height, decoder: raster.decoder, resized };
  if (raster.alphaIgnored) out.alphaIgnored = true;
  if (raster.from16Bit) out.from16Bit = true;
  if (opts.regions || opts.pixels) {
    const rgb = raster.channels === 3 ? raster.data : greyToRgb(raster.data);
    if (opts.regions)
      out.regions = new RegionHasher().bank({ rgb, width, height }).map((r) => ({ region: r.region, hash: toHex(r.result.hash), quality: r.result.quality }));
    if (opts.pixels) out.pixels = { width, height, rgb };
  }
  if (opts.thumbnail) {
    const rgb = raster.channels === 3 ? raster.data : greyToRgb(raster.data);
    const t = thumbnailFromFrame(
      { rgb: Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), width, height },
      { maxWidth: opts.thumbnail.maxWidth, quality: 80 },
    );
    out.thumbnail = { jpeg: t.jpeg, width: t.width, height: t.height };
  }
  return out;
}

function greyToRgb(grey: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(grey.length * 3);
  for (let i = 0; i < grey.length; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = grey[i]!;
  return rgb;
}

async function hashFfmpegStill(ffmpeg: FfmpegDecoder, file: string, hasher: PdqHasher, opts: HashOptions): Promise<ImageHashes> {
  let result: ImageHashes | null = null;
  const run = await ffmpegFrames(ffmpeg.path, file, {}, (frame) => {
    checkFrame(frame);
    result = hashRaster({ width: frame.width, height: frame.height, channels: 3, data: frame.rgb, decoder: 'ffmpeg' }, hasher, opts);
  });
  if (result) return result;
  throw ffmpegFailure(run.code, run.stderr, 'a picture');
}

async function hashFfmpegVideo(ffmpeg: FfmpegDecoder, file: string, hasher: PdqHasher, opts: HashOptions): Promise<VideoHashes> {
  const fps = opts.fps ?? 1;
  const frames: FileHash[] = [];
  let size = { width: 0, height: 0 };
  const run = await ffmpegFrames(ffmpeg.path, file, { fps, maxFrames: opts.maxFrames, fpsModeFlag: ffmpeg.fpsMode }, (frame, i) => {
    checkFrame(frame);
    size = { width: frame.width, height: frame.height };
    const r = hasher.fromRgb(frame.rgb, frame.width, frame.height);
    frames.push({ timeSec: i / fps, hash: toHex(r.hash), quality: r.quality });
  });
  if (run.code !== 0 && frames.length === 0) throw ffmpegFailure(run.code, run.stderr, 'video');
  return { kind: 'video', fps, ...size, frames };
}

function checkFrame(frame: RgbFrame): void {
  if (frame.width * frame.height > MAX_PIXELS) throw new MediaError('too_large', `${frame.width}x${frame.height} is over ${MAX_PIXELS / 1e6} megapixels`);
}

function ffmpegFailure(code: number | null, stderr: string, what: string): MediaError {
  const last = stderr.split('\n').pop() ?? '';
  if (code === 0) return new MediaError('no_frames', `ffmpeg decoded no ${what}`);
  return new MediaError('unsupported', `ffmpeg cannot decode it${last ? `: ${last}` : ` (exit ${code})`}`);
}

async function findFfmpeg(): Promise<FfmpegDecoder> {
  try {
    return await resolveFfmpegDecoder();
  } catch (err) {
    if (err instanceof FfmpegNotFoundError) throw new MediaError('ffmpeg_unavailable', `needs ffmpeg to decode, and ${err.message}`);
    throw err;
  }
}

/** The whole file (stills are decoded from memory; a video's first bytes are enough to tell it is one). */
async function readWhole(file: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw fsError(err);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new MediaError('unreadable', 'not a regular file');
    if (stat.size === 0) throw new MediaError('corrupt', 'empty file');
    // Videos can be gigabytes: read only a head to sniff; images (what the in-process decoders take) whole.
    const head = new Uint8Array(Math.min(stat.size, 16));
    await handle.read(head, 0, head.length, 0);
    if (!isInProcess(sniffFormat(head))) return head;
    if (stat.size > MAX_IMAGE_BYTES) throw new MediaError('too_large', `${stat.size} bytes is over the ${MAX_IMAGE_BYTES / 2 ** 20} MiB read for an image`);
    const bytes = new Uint8Array(stat.size);
    let at = 0;
    while (at < bytes.length) {
      const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } catch (err) {
    throw err instanceof MediaError ? err : fsError(err);
  } finally {
    await handle.close();
  }
}

function fsError(err: unknown): MediaError {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new MediaError('not_found', 'no such file');
  return new MediaError('unreadable', `cannot read it (${code ?? (err instanceof Error ? err.message : String(err))})`);
}
