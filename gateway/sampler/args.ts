import type { FfmpegFeatures } from '../media/ffmpeg-path.ts';

/**
 * ffmpeg flags for one sampler run, as plain data (unit-testable, and the benchmark prints them).
 *
 * Pipeline, decoded once per stream:
 *   input → H.264/VP8 decoder (cheap flags) → select (rate) → scale+pad to the fixed analysis size
 *   → rgb24 → showinfo (pts on stderr) → rawvideo on stdout.
 *
 * Why `select` and not the `fps` filter for the rate: `fps` produces a constant-rate output by
 * duplicating the last frame across gaps, so a publisher that pauses for 10 s and resumes causes a
 * burst of 20 identical frames; and it needs the next input frame before it releases a slot. The
 * select expression below keeps the first decoded frame of every 1/fps time slot: exactly `fps`
 * frames per second of media for any input rate >= fps, nothing invented across gaps (so the stall
 * watchdog sees the gap), no look-ahead, and showinfo's pts is the real capture time of the frame.
 * The same expression caps keyframe-only mode (one frame per keyframe, at most `fps`).
 */

export type SamplerMode = 'full' | 'keyframe';

export type SkipLevel = 'none' | 'noref' | 'all';

export interface DecoderOptions {
  /** Decoder threads. 1 avoids frame-threading delay and per-thread frame buffers (RSS). */
  threads: number | 'auto';
  /**
   * H.264 deblocking skip. 'noref' skips it on frames nothing predicts from (no drift);
   * 'all' also on reference frames: cheapest, but blocking errors propagate until the next keyframe.
   */
  skipLoopFilter: SkipLevel;
  /** Full mode: skip decoding non-reference frames (B-frames without b-pyramid). No drift; ~1/3 fewer frames decoded with OBS's bframes=2. */
  skipNonRef: boolean;
  /** `-flags low_delay`: no decoder output delay where the stream allows it. */
  lowDelay: boolean;
  /** Small probesize/analyzeduration: without it the first frame comes ~5 s after start. */
  fastProbe: boolean;
}

/** Cheap defaults: measured in scripts/bench/sampler.ts. */
export const CHEAP_DECODER: DecoderOptions = {
  threads: 1,
  skipLoopFilter: 'all',
  skipNonRef: true,
  lowDelay: true,
  fastProbe: true,
};

/** ffmpeg's own defaults: the benchmark baseline. */
export const PLAIN_DECODER: DecoderOptions = {
  threads: 'auto',
  skipLoopFilter: 'none',
  skipNonRef: false,
  lowDelay: false,
  fastProbe: false,
};

/**
 * What ffmpeg writes per frame: packed RGB24, or full-range YUV 4:2:0 (yuvj420p: half the bytes, no RGB
 * conversion in ffmpeg; the gateway converts the frames its models see: classifiers/yuv-frame.ts).
 */
export type PixelFormat = 'rgb24' | 'yuv420p';

export type ArgsSource = { kind: 'url'; url: string } | { kind: 'pipe'; format: 'webm' | 'mp4' };

export interface ArgsParams {
  source: ArgsSource;
  mode: SamplerMode;
  fps: number;
  width: number;
  height: number;
  decoder: DecoderOptions;
  features: FfmpegFeatures;
  /** Default rgb24. */
  pixels?: PixelFormat;
}

export interface FfmpegArgs {
  /** What fluent-ffmpeg gets as `.input()`: a URL, or `pipe:0` for stdin sources. */
  input: string;
  inputOptions: string[];
  outputOptions: string[];
  /** The -vf chain (also inside outputOptions), kept separately for logs. */
  filter: string;
}

/**
 * Rate selection: first frame of each 1/fps slot (see the module comment). With `release`, also the frame
 * right after it (register 0 remembers that the previous selection started a slot): ffmpeg 5.x writes a
 * frame out only when the next one reaches the output, so without a follower each sampled frame would wait
 * a whole slot (500 ms at 2 fps). The follower is dropped by the Sampler (same slot as the frame before).
 */
export function selectExpr(fps: number, release = false): string {
  const slotStart = `isnan(prev_selected_t)+gt(floor(t*${fps}),floor(prev_selected_t*${fps}))`;
  if (!release) return `select='${slotStart}'`;
  return `select='if(${slotStart},st(0,1),if(ld(0),st(0,0)+1,0))'`;
}

export function buildArgs(p: ArgsParams): FfmpegArgs {
  const d = p.decoder;
  const inputOptions: string[] = ['-hide_banner', '-nostats', '-nostdin'];
  // showinfo logs at info level; keep warnings/errors too (they explain stalls), drop the rest by parsing.
  inputOptions.push('-loglevel', 'info');
  // Keep input timestamps: RTMP and WebM timestamps then stay continuous across sampler restarts,
  // so mediaTimeMs does too (see Sampler's timeline handling).
  inputOptions.push('-copyts');
  // Minimal probe: FLV and WebM carry codec parameters in their headers, and ffmpeg configures
  // the filter graph from the first decoded frame anyway. Default probing costs ~5 s before the
  // first frame. `-fflags nobuffer` is deliberately NOT used: it discards the packets read while
  // probing, i.e. the keyframe the server's GOP cache just sent, so the first frame would wait for
  // the next GOP (measured: 2.6 s instead of 0.7 s).
  if (d.fastProbe) inputOptions.push('-probesize', '32', '-analyzeduration', '0');
  if (d.lowDelay) inputOptions.push('-flags', 'low_delay');
  if (d.threads !== 'auto') inputOptions.push('-threads', String(d.threads));
  if (p.mode === 'keyframe') inputOptions.push('-skip_frame', 'nokey');
  else if (d.skipNonRef) inputOptions.push('-skip_frame', 'noref');
  if (d.skipLoopFilter !== 'none') inputOptions.push('-skip_loop_filter', d.skipLoopFilter);
  if (p.source.kind === 'pipe') inputOptions.push('-f', p.source.format);

  const { width: w, height: h } = p;
  const pixFmt = p.pixels === 'yuv420p' ? 'yuvj420p' : 'rgb24';
  const filter = [
    selectExpr(p.fps, p.features.holdsLastFrame ?? false),
    // Fit inside WxH keeping aspect, then letterbox to exactly WxH: the frame size is fixed before
    // the first frame and never changes, even when the publisher switches resolution mid-stream.
    // Scaling after select means swscale runs only `fps` times a second.
    `scale=${w}:${h}:force_original_aspect_ratio=decrease:flags=area`,
    // yuvj420p: full range (the scaler expands a TV-range source), so the Y plane is the luma PDQ would
    // compute from the RGB, and pad's black is Y 0 as in RGB.
    `format=${pixFmt}`,
    `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:black`,
    'setsar=1',
    p.features.showinfoChecksum ? 'showinfo=checksum=0' : 'showinfo',
  ].join(',');

  const outputOptions: string[] = ['-an', '-sn', '-dn', '-vf', filter];
  // Passthrough: one output frame per selected frame. The default (cfr for rawvideo) would
  // duplicate frames up to the input frame rate.
  if (p.features.fpsMode) outputOptions.push('-fps_mode', 'passthrough');
  else outputOptions.push('-vsync', 'passthrough');
  outputOptions.push('-pix_fmt', pixFmt, '-f', 'rawvideo');

  return { input: p.source.kind === 'url' ? p.source.url : 'pipe:0', inputOptions, outputOptions, filter };
}

/** Parses a showinfo line: `[Parsed_showinfo_5 @ 0x..] n:   3 pts:   1500 pts_time:1.5 ...`. */
export function parseShowinfo(line: string): { n: number; ptsMs: number } | null {
  const m = /\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[\d.]+(?:e[-+]?\d+)?)/.exec(line);
  if (!m?.[1] || !m[3]) return null;
  const ptsTime = Number(m[3]);
  if (!Number.isFinite(ptsTime)) return null;
  return { n: Number(m[1]), ptsMs: ptsTime * 1000 };
}
