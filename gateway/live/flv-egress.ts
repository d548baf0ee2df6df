import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { FfmpegInfo } from '../media/ffmpeg-path.ts';
import { findResyncPoint } from '../sampler/container.ts';
import type { LiveStream } from './registry.ts';

/**
 * Watch live in a browser: HTTP-FLV of a live stream for a moderator's player (mpegts.js), one ffmpeg
 * per viewer. RTMP streams are read back from the gateway's own relay (`/live/<streamId>`, starting at its
 * GOP cache) and copied, no transcoding. WebSocket streams (WebM VP8/VP9 + Opus, or fragmented MP4 from
 * MediaRecorder) have no FLV codecs, so they are transcoded to H.264 + AAC at the lowest-latency x264
 * settings from their media tap: the container header first, then the live chunks from the next WebM
 * Cluster / MP4 fragment. Viewers are few (moderators), so a process each is the simple, isolated choice:
 * a stuck player or a bad stream ends only its own process.
 */
export interface FlvEgressOptions {
  ffmpeg: () => Promise<FfmpegInfo>;
  rtmpPort: () => number;
  log: Logger;
}

export interface FlvViewer {
  flv: Readable;
  stop(): void;
}

type Proc = ChildProcessByStdio<Writable, Readable, Readable>;

export class FlvEgress {
  private readonly viewers = new Set<Proc>();

  constructor(private readonly opts: FlvEgressOptions) {}

  /** Whether a stream can be watched this way. */
  canWatch(s: LiveStream): boolean {
    return s.protocol === 'rtmp' ? s.playPath !== null : s.media !== null;
  }

  get count(): number {
    return this.viewers.size;
  }

  async open(s: LiveStream): Promise<FlvViewer> {
    const ffmpeg = await this.opts.ffmpeg();
    const out = ['-f', 'flv', '-flvflags', 'no_duration_filesize', 'pipe:1'];
    const args =
      s.protocol === 'rtmp'
        ? ['-hide_banner', '-loglevel', 'error', '-rw_timeout', '15000000', '-i', `rtmp://127.0.0.1:${this.opts.rtmpPort()}${s.playPath}`, '-c', 'copy', ...out]
        : [
            '-hide_banner',
            '-loglevel',
            'error',
            '-fflags',
            '+nobuffer',
            '-f',
            s.media!.container === 'webm' ? 'webm' : 'mp4',
            '-i',
            'pipe:0',
            '-c:v',
            'libx264',
            '-preset',
            'ultrafast',
            '-tune',
            'zerolatency',
            '-pix_fmt',
            'yuv420p',
            '-g',
            '30',
            '-c:a',
            'aac',
            '-ar',
            '44100',
            '-b:a',
            '96k',
            ...out,
          ];
    const proc = spawn(ffmpeg.path, args, { stdio: ['pipe', 'pipe', 'pipe'] }) as Proc;
    this.viewers.add(proc);
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-1000);
    });
    proc.stdin.on('error', () => {
      // ffmpeg exited (viewer gone): nothing more to write
    });
    let unsubscribe: (() => void) | null = null;
    let offEnd: (() => void) | null = null;
    const stop = () => {
      unsubscribe?.();
      offEnd?.();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    };
    proc.once('exit', (code, signal) => {
      this.viewers.delete(proc);
      unsubscribe?.();
      offEnd?.();
      if (code && code !== 0 && signal === null) this.opts.log.debug({ stream: s.id, code, stderr }, 'live FLV viewer process ended');
    });
    if (s.protocol === 'websocket') {
      const tap = s.media!;
      const format = tap.container;
      let synced = false;
      let first = true;
      unsubscribe = tap.subscribe((chunk) => {
        if (first) {
          // The replayed header: up to its first Cluster / fragment, the rest belongs to a moment long past.
          first = false;
          const at = findResyncPoint(format, chunk, 1);
          proc.stdin.write(at > 0 ? chunk.subarray(0, at) : chunk);
          if (at < 0) synced = true;
          return;
        }
        if (!synced) {
          const at = findResyncPoint(format, chunk);
          if (at < 0) return;
          synced = true;
          chunk = chunk.subarray(at);
        }
        proc.stdin.write(chunk);
      });
      offEnd = tap.onEnd(() => proc.stdin.end());
    } else {
      proc.stdin.end();
    }
    return { flv: proc.stdout, stop };
  }

  stopAll(): void {
    for (const p of this.viewers) p.kill('SIGKILL');
  }
}
