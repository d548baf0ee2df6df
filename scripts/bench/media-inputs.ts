import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import { makeFile, publisherArgs } from '../../test/helpers/ffmpeg-publisher.ts';

/**
 * The media the end-to-end benchmarks publish, encoded once and cached under .bench/ (an encode costs more
 * than a run): 720p30 2.5 Mbit/s x264 veryfast, 2 s GOP — what OBS sends by default.
 */

export const GOP_SEC = 2;
/** Violating content starts mid-GOP: the next keyframe is 0.5 s later (keyframe mode's best case is 0.5 s). */
export const CONTENT_AT_SEC = 3.5;
export const FILE_SEC = 16;

type FileOptions = Parameters<typeof makeFile>[0];

export function benchDir(): string {
  const dir = resolve('.bench');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** `.bench/<name>`, encoded with the common settings plus `o` unless already there (written atomically). */
export async function cachedEncode(ff: FfmpegInfo, name: string, o: Partial<FileOptions>): Promise<string> {
  const file = join(benchDir(), name);
  if (!existsSync(file)) {
    const common = { ffmpegPath: ff.path, width: 1280, height: 720, rate: 30, bitrateKbps: 2500, gopSec: GOP_SEC, preset: 'veryfast', audio: true } as const;
    await makeFile({ ...common, ...o, file: `${file}.tmp.flv` } as FileOptions);
    renameSync(`${file}.tmp.flv`, file);
  }
  return file;
}

/** The "known violating picture": a mandelbrot render, unrelated to the testsrc2 background. */
export async function knownPicture(ff: FfmpegInfo): Promise<string> {
  const image = join(benchDir(), 'pipeline-known.png');
  if (!existsSync(image)) {
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'mandelbrot=size=640x360:end_pts=10', '-ss', '2', '-frames:v', '1', '-y', image];
    await new Promise<void>((res, rej) =>
      spawn(ff.path, args).once('exit', (c) => (c === 0 ? res() : rej(new Error(`rendering the known picture failed (${c})`)))),
    );
  }
  return image;
}

/** The looping background every benchmark's other streams publish. */
export const backgroundFile = (ff: FfmpegInfo): Promise<string> => cachedEncode(ff, 'pipeline-bg-720p30-2500k-bf2-20s.flv', { durationSec: 20, bframes: 2 });

/** A file whose banked picture (mirrored) starts at CONTENT_AT_SEC. */
export const bankedFile = (ff: FfmpegInfo, image: string, bframes: number): Promise<string> =>
  cachedEncode(ff, `pipeline-banked-720p30-bf${bframes}-at${CONTENT_AT_SEC}s-${FILE_SEC}s.flv`, {
    durationSec: FILE_SEC,
    bframes,
    image: { path: image, afterSec: CONTENT_AT_SEC, transform: 'hflip' },
  });

/** A publisher of a file with `-progress`: `sentAt(pts)` is when the muxer had written up to that pts. */
export interface ProgressPublisher {
  done: Promise<number>;
  sentAt(ptsSec: number): number | null;
  stop(): void;
}

/**
 * Publishes `file` with `-re -c copy -progress pipe:1 -stats_period 0.05`: the content's entry time is the
 * wall time of the first progress report whose out_time is ≥ its pts (≤ 50 ms late, so a time to cut
 * measured from it is, if anything, a little short of the truth by at most that).
 */
export function publishWithProgress(ff: FfmpegInfo, url: string, file: string, loop = false): ProgressPublisher {
  const args = publisherArgs({ url, ffmpegPath: ff.path, source: { file, loop } });
  args.splice(args.indexOf('-nostdin') + 1, 0, '-progress', 'pipe:1', '-stats_period', '0.05');
  const proc = spawn(ff.path, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const marks: Array<[number, number]> = [];
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    const now = Date.now();
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = /^out_time_us=(\d+)/.exec(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (m) marks.push([now, Number(m[1]) / 1e6]);
    }
  });
  const done = new Promise<number>((res) => proc.once('exit', () => res(Date.now())));
  return {
    done,
    sentAt: (pts) => marks.find(([, t]) => t >= pts)?.[0] ?? null,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
