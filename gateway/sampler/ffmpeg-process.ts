import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { resolveFfmpeg, type FfmpegInfo } from '../media/ffmpeg-path.ts';
import type { FfmpegArgs } from './args.ts';
import { FrameReader } from './frame-reader.ts';

/**
 * The one place the sampler touches a process: one ffmpeg run through fluent-ffmpeg, its rawvideo
 * stdout cut into frames, its stderr as lines, its exit as one callback. The sampler gets a launcher
 * (this one by default), so supervision is tested with a scripted stand-in and no processes.
 */

export interface LaunchIo {
  /** Media fed to ffmpeg's stdin (stream inputs), or null when ffmpeg reads a URL itself. */
  stdin: Readable | null;
  /** Bytes of one rawvideo frame on stdout. */
  frameBytes: number;
  /** The process exists (fluent-ffmpeg's capability checks are done). */
  onSpawn(): void;
  /** The first bytes on stdout. */
  onStdoutData(): void;
  onFrame(rgb: Buffer): void;
  onStderr(line: string): void;
  /** The process ended: null for a clean exit, else the cause. Called at most once. */
  onExit(error: string | null): void;
}

export interface LaunchedProcess {
  /** null until spawned, and for stand-ins without one. */
  readonly pid: number | null;
  /** SIGKILL now, or as soon as it is spawned. */
  kill(): void;
  /** Resolves when stdout has been read to its end (the last frames are out). */
  readonly drained: Promise<void>;
}

export type FfmpegLauncher = (ffmpegPath: string, args: FfmpegArgs, io: LaunchIo) => LaunchedProcess;

export const launchFfmpeg: FfmpegLauncher = (ffmpegPath, args, io) => {
  const reader = new FrameReader(io.frameBytes, (buf) => io.onFrame(buf));
  const drained = new Promise<void>((resolve) => {
    reader.once('finish', resolve);
    reader.once('close', resolve);
    reader.once('error', () => resolve());
  });
  // fluent-ffmpeg keeps this many stderr lines in memory; 0 would mean all of them for the life of the
  // process (one showinfo line per frame: unbounded growth on a long stream). Lines are handled as they come.
  const cmd = ffmpeg({ stdoutLines: 16 })
    .setFfmpegPath(ffmpegPath)
    // fluent-ffmpeg pipes a Readable input into stdin and swallows EPIPE on it (ffmpeg gone).
    .input(io.stdin ?? args.input)
    .inputOptions(args.inputOptions)
    .output(reader)
    .outputOptions(args.outputOptions);
  let proc: ChildProcess | null = null;
  let killed = false;
  let exited = false;
  const exit = (error: string | null): void => {
    if (exited) return;
    exited = true;
    io.onExit(error);
  };
  cmd.on('start', () => {
    // fluent-ffmpeg keeps the ChildProcess on an undocumented field; the pid is needed for stats/tests.
    proc = (cmd as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc ?? null;
    io.onSpawn();
    proc?.stdout?.once('data', () => io.onStdoutData());
    proc?.stdin?.on('error', () => {}); // EPIPE when ffmpeg dies mid-write: its exit is reported below.
    if (killed) proc?.kill('SIGKILL');
  });
  cmd.on('stderr', (line: string) => io.onStderr(line));
  cmd.on('error', (err: Error) => exit(err.message));
  cmd.on('end', () => exit(null));
  try {
    cmd.run();
  } catch (err) {
    // run() throws synchronously only for a missing output; treat like a failed spawn.
    exit(err instanceof Error ? err.message : String(err));
  }
  return {
    get pid() {
      return proc?.pid ?? null;
    },
    kill() {
      killed = true;
      // No proc yet (still in fluent-ffmpeg's capability checks): the 'start' handler kills it.
      proc?.kill('SIGKILL');
    },
    drained,
  };
};

/**
 * Resolves ffmpeg and fills fluent-ffmpeg's per-process capability caches (`-formats`,
 * `-encoders`), which it otherwise runs in sequence before the first sampler's ffmpeg spawns:
 * ~0.3–1 s added to the first stream's first frame. Call once at gateway start.
 */
export async function warmSampler(info?: FfmpegInfo): Promise<FfmpegInfo> {
  const ff = info ?? (await resolveFfmpeg());
  const cmd = ffmpeg().setFfmpegPath(ff.path);
  await Promise.all([
    new Promise<void>((resolve) => cmd.availableFormats(() => resolve())),
    new Promise<void>((resolve) => cmd.availableEncoders(() => resolve())),
  ]);
  return ff;
}
