import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Real ffmpeg publishers for tests and benchmarks: synthetic video (lavfi) encoded live and sent
 * to an RTMP URL as FLV, or written to a file (WebM/FLV/MP4) once.
 *
 * Patterns: `testsrc2` (moving, detailed; default) or a solid `color`. Timed changes for tests that
 * must see content change at a known media time:
 *  - `switchColor`: a solid colour covers the picture from `afterSec` on;
 *  - `image`: a still image overlaid (optionally flipped / scaled / rotated) from `afterSec` on.
 */

export interface ImageOverlay {
  path: string;
  afterSec: number;
  /** Gone again from this time on (default: shown to the end). */
  untilSec?: number;
  transform?: 'none' | 'hflip' | 'vflip' | 'rotate90' | 'scale-half';
  /** Cover the whole frame (default) or be placed at x,y at its own size. */
  fit?: 'cover' | { x: number; y: number };
}

export interface PublishOptions {
  /** Publish to this rtmp:// URL (FLV, real time) ... */
  url?: string;
  /** ... or write this file (format from `format` or the extension). */
  file?: string;
  format?: 'flv' | 'webm' | 'mp4';
  width?: number;
  height?: number;
  rate?: number;
  durationSec?: number;
  /** Target video bitrate (kbit/s). Default scales with the picture (~2500 at 720p). */
  bitrateKbps?: number;
  /** Keyframe interval in seconds (OBS default 2). */
  gopSec?: number;
  /** H.264 B-frames (OBS x264 default 2). Default 0 with the ultrafast test preset. */
  bframes?: number;
  /** x264 preset; ultrafast keeps test CPU low, the bench uses veryfast like OBS. */
  preset?: string;
  pattern?: 'testsrc2' | { color: string };
  switchColor?: { afterSec: number; color: string };
  image?: ImageOverlay;
  /** Add a sine audio track (AAC in FLV/MP4, Opus in WebM), as real publishers have. */
  audio?: boolean;
  /** Read inputs at native rate. Default: true for URLs, false for files. */
  realtime?: boolean;
  /** Publish an existing file instead of synthesising: `-re -stream_loop -1 -c copy`. */
  source?: { file: string; loop?: boolean };
  /** ffmpeg binary. */
  ffmpegPath: string;
}

export interface Publisher {
  proc: ChildProcess;
  pid: number;
  args: string[];
  /** Wall time (epoch ms) the process was spawned. */
  startedAt: number;
  /** Resolves when ffmpeg exits; never rejects. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>;
  /** SIGKILL (publisher vanishes mid-stream) or SIGINT (clean end of stream). */
  stop(signal?: 'SIGKILL' | 'SIGINT'): Promise<void>;
}

function defaultBitrate(w: number, h: number): number {
  return Math.max(300, Math.round((2500 * (w * h)) / (1280 * 720)));
}

function transformFilter(t: ImageOverlay['transform']): string {
  switch (t) {
    case 'hflip':
      return 'hflip,';
    case 'vflip':
      return 'vflip,';
    case 'rotate90':
      return 'transpose=1,';
    case 'scale-half':
      return 'scale=iw/2:ih/2,';
    default:
      return '';
  }
}

export function publisherArgs(o: PublishOptions): string[] {
  const w = o.width ?? 1280;
  const h = o.height ?? 720;
  const rate = o.rate ?? 30;
  const target = o.url ?? o.file;
  if (!target) throw new Error('publisher needs url or file');
  const format = o.format ?? (o.url ? 'flv' : o.file?.endsWith('.webm') ? 'webm' : o.file?.endsWith('.mp4') ? 'mp4' : 'flv');
  const realtime = o.realtime ?? Boolean(o.url);
  const args = ['-hide_banner', '-nostats', '-loglevel', 'error', '-nostdin'];

  if (o.source) {
    if (realtime) args.push('-re');
    if (o.source.loop) args.push('-stream_loop', '-1');
    args.push('-i', o.source.file, '-c', 'copy', '-f', format, target);
    return args;
  }

  const dur = o.durationSec !== undefined ? [`-t`, String(o.durationSec)] : [];
  const base = o.pattern && typeof o.pattern === 'object' ? `color=c=${o.pattern.color}:size=${w}x${h}:rate=${rate}` : `testsrc2=size=${w}x${h}:rate=${rate}`;
  const re = realtime ? ['-re'] : [];
  args.push(...re, '-f', 'lavfi', '-i', base);
  let inputs = 1;
  const chains: string[] = [];
  let last = '0:v';
  if (o.switchColor) {
    args.push(...re, '-f', 'lavfi', '-i', `color=c=${o.switchColor.color}:size=${w}x${h}:rate=${rate}`);
    chains.push(`[${last}][${inputs}:v]overlay=enable='gte(t,${o.switchColor.afterSec})':shortest=1[v${inputs}]`);
    last = `v${inputs}`;
    inputs += 1;
  }
  if (o.image) {
    args.push('-loop', '1', '-framerate', String(rate), '-i', o.image.path);
    const fit = o.image.fit ?? 'cover';
    const prep = fit === 'cover' ? `${transformFilter(o.image.transform)}scale=${w}:${h},setsar=1` : `${transformFilter(o.image.transform)}setsar=1`;
    const pos = fit === 'cover' ? '0:0' : `${fit.x}:${fit.y}`;
    chains.push(`[${inputs}:v]${prep}[img${inputs}]`);
    chains.push(
      `[${last}][img${inputs}]overlay=${pos}:enable='${o.image.untilSec === undefined ? `gte(t,${o.image.afterSec})` : `between(t,${o.image.afterSec},${o.image.untilSec})`}':shortest=1[v${inputs}]`,
    );
    last = `v${inputs}`;
    inputs += 1;
  }
  const audioIdx = o.audio ? inputs : -1;
  if (o.audio) args.push(...re, '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000`);
  if (chains.length > 0) args.push('-filter_complex', chains.join(';'), '-map', `[${last}]`);
  else args.push('-map', '0:v');
  if (audioIdx >= 0) args.push('-map', `${audioIdx}:a`);
  args.push(...dur);

  const kbps = o.bitrateKbps ?? defaultBitrate(w, h);
  const gop = String(Math.max(1, Math.round((o.gopSec ?? 2) * rate)));
  if (format === 'webm') {
    // VP8 realtime, like Chrome's MediaRecorder.
    args.push('-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', `${kbps}k`, '-g', gop, '-pix_fmt', 'yuv420p');
    if (audioIdx >= 0) args.push('-c:a', 'libopus', '-b:a', '64k');
  } else {
    args.push(
      '-c:v',
      'libx264',
      '-preset',
      o.preset ?? 'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-b:v',
      `${kbps}k`,
      '-maxrate',
      `${kbps}k`,
      '-bufsize',
      `${kbps * 2}k`,
      '-g',
      gop,
      '-keyint_min',
      gop,
      '-sc_threshold',
      '0',
      '-bf',
      String(o.bframes ?? 0),
    );
    if (audioIdx >= 0) args.push('-c:a', 'aac', '-b:a', '128k');
  }
  if (format === 'mp4') args.push('-movflags', '+frag_keyframe+empty_moov+default_base_moof');
  args.push('-f', format);
  if (o.file) args.push('-y');
  args.push(target);
  return args;
}

export function startPublisher(o: PublishOptions): Publisher {
  const args = publisherArgs(o);
  const proc = spawn(o.ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-2000);
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>((resolve) => {
    proc.once('error', (err) => resolve({ code: -1, signal: null, stderrTail: `${tail}\n${err.message}` }));
    proc.once('exit', (code, signal) => resolve({ code, signal, stderrTail: tail }));
  });
  return {
    proc,
    pid: proc.pid ?? -1,
    args,
    startedAt: Date.now(),
    done,
    stop: async (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await done;
    },
  };
}

/** Writes a file (no -re) and resolves when ffmpeg finished; throws with stderr on failure. */
export async function makeFile(o: PublishOptions & { file: string }): Promise<string> {
  const p = startPublisher({ ...o, realtime: o.realtime ?? false });
  const r = await p.done;
  if (r.code !== 0) throw new Error(`ffmpeg failed (${r.code ?? r.signal}): ${r.stderrTail}`);
  return o.file;
}
