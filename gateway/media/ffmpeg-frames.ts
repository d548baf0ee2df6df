import { spawn } from 'node:child_process';

/**
 * Decoded pictures of any file ffmpeg reads, at their own resolution, as RGB24: ffmpeg writes them as a
 * stream of PPM images (`-f image2pipe -c:v ppm`), whose headers carry each picture's size, so one run
 * needs no probe first. Used for what the in-process decoders do not take: videos, WebP, GIF, BMP, TIFF,
 * CMYK JPEGs.
 */

export interface RgbFrame {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface FfmpegFramesOptions {
  /**
   * Sample at this many pictures per second (video): the first frame at or after each tick k/fps from the
   * first frame, as vPDQ takes every (fps/rate)-th frame; omitted: the first picture only (a still).
   */
  fps?: number;
  /** ffmpeg >= 5.1 spells "keep frames as they come" `-fps_mode passthrough`; older builds `-vsync passthrough`. */
  fpsModeFlag?: boolean;
  /** Stop after this many pictures. */
  maxFrames?: number;
}

export interface FfmpegRunResult {
  frames: number;
  /** ffmpeg's exit code (null when killed), and the end of what it printed. */
  code: number | null;
  stderr: string;
}

/** Runs ffmpeg on `file` and calls `onFrame` for each picture, in order, as it arrives. */
export function ffmpegFrames(
  ffmpegPath: string,
  file: string,
  opts: FfmpegFramesOptions,
  onFrame: (frame: RgbFrame, index: number) => void,
): Promise<FfmpegRunResult> {
  // Not the fps filter: it drops a last tick it cannot round to (3.2 s at 1/s gave 3 frames, vPDQ 4) and
  // re-times frames; select keeps each chosen frame as decoded, and passthrough stops duplication.
  const sample =
    opts.fps !== undefined
      ? [
          '-vf',
          `select='gte(t-start_t,selected_n/${opts.fps})'`,
          opts.fpsModeFlag ? '-fps_mode' : '-vsync',
          'passthrough',
          '-frames:v',
          String(opts.maxFrames ?? 36_000),
        ]
      : ['-frames:v', '1'];
  // `file:` keeps a name like "a:b.mp4" or "-x.mp4" from being read as a protocol or an option.
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-i',
    `file:${file}`,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    ...sample,
    '-f',
    'image2pipe',
    '-c:v',
    'ppm',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let frames = 0;
    let failure: unknown = null;
    const parser = new PpmStreamParser((frame) => {
      if (failure) return;
      try {
        onFrame(frame, frames++);
      } catch (err) {
        failure = err;
        proc.kill('SIGKILL');
      }
    });
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    proc.stdout.on('data', (d: Buffer) => {
      try {
        parser.push(d);
      } catch (err) {
        failure ??= err;
        proc.kill('SIGKILL');
      }
    });
    proc.on('error', reject);
    proc.on('close', (code) => (failure ? reject(failure) : resolve({ frames, code, stderr: stderr.trim() })));
  });
}

/** Splits a byte stream of binary PPM (P6, maxval 255) images into frames without re-copying the stream. */
export class PpmStreamParser {
  private head: number[] = [];
  private frame: Uint8Array | null = null;
  private width = 0;
  private height = 0;
  private filled = 0;

  constructor(private readonly onFrame: (frame: RgbFrame) => void) {}

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.frame === null) {
        at = this.readHeader(chunk, at);
        continue;
      }
      const take = Math.min(chunk.length - at, this.frame.length - this.filled);
      this.frame.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === this.frame.length) {
        const frame = { width: this.width, height: this.height, rgb: this.frame };
        this.frame = null;
        this.onFrame(frame);
      }
    }
  }

  /** Consumes header bytes from chunk[at..]; returns where it stopped. */
  private readHeader(chunk: Uint8Array, at: number): number {
    while (at < chunk.length) {
      this.head.push(chunk[at++]!);
      // "P6" ws width ws height ws maxval, then exactly one whitespace byte.
      const text = String.fromCharCode(...this.head);
      const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s$/.exec(text);
      if (m) {
        this.width = Number(m[1]);
        this.height = Number(m[2]);
        if (m[3] !== '255' || this.width <= 0 || this.height <= 0) throw new Error(`unexpected PPM header from ffmpeg: ${JSON.stringify(text)}`);
        this.frame = new Uint8Array(this.width * this.height * 3);
        this.filled = 0;
        this.head = [];
        return at;
      }
      if (this.head.length > 64 || !/^P(6(\s+\d*){0,3})?$/.test(text))
        throw new Error(`unexpected bytes from ffmpeg where a PPM header belongs: ${JSON.stringify(text.slice(0, 32))}`);
    }
    return at;
  }
}
