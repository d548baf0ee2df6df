import type { FfmpegArgs } from '../../../gateway/sampler/args.ts';
import type { FfmpegLauncher, LaunchedProcess, LaunchIo } from '../../../gateway/sampler/ffmpeg-process.ts';
import type { FfmpegInfo } from '../../../gateway/media/ffmpeg-path.ts';

/**
 * A scripted stand-in for one ffmpeg run: the test decides when it spawns, what frames it writes on
 * stdout (with the matching showinfo line on stderr, as ffmpeg 5.1 prints it) and when it exits. Killing
 * it exits it (asynchronously, like a real process reporting its exit). No process is started.
 */
export class FakeRun implements LaunchedProcess {
  static nextPid = 40_000;
  private spawnedPid: number | null = null;
  private n = 0;
  killed = false;
  done = false;
  /** What the sampler wrote to its stdin (stream inputs). */
  readonly stdinBytes: Buffer[] = [];
  readonly drained: Promise<void>;
  private drain!: () => void;

  constructor(
    readonly args: FfmpegArgs,
    readonly io: LaunchIo,
  ) {
    this.drained = new Promise((r) => (this.drain = r));
    io.stdin?.on('data', (b: Buffer) => this.stdinBytes.push(b));
  }

  get pid(): number | null {
    return this.done ? null : this.spawnedPid;
  }

  spawn(): this {
    this.spawnedPid = FakeRun.nextPid++;
    this.io.onSpawn();
    this.io.onStderr("Input #0, flv, from 'rtmp://127.0.0.1/live/x':");
    this.io.onStderr("Output #0, rawvideo, to 'pipe:1':");
    if (this.killed) this.exit('ffmpeg was killed with signal SIGKILL');
    return this;
  }

  /** One output frame at publisher time `ptsMs` (pixels, then its showinfo line, or the other way round). */
  frame(ptsMs: number, rgb: Buffer = Buffer.alloc(this.io.frameBytes, 0x80), order: 'pixels-first' | 'pts-first' = 'pixels-first'): void {
    if (this.done) return;
    const n = this.n++;
    const line = `[Parsed_showinfo_5 @ 0x55d] n:${String(n).padStart(4)} pts:${String(ptsMs).padStart(7)} pts_time:${ptsMs / 1000} duration:1 pos:-1 fmt:rgb24`;
    if (n === 0) this.io.onStdoutData();
    if (order === 'pts-first') this.io.onStderr(line);
    this.io.onFrame(Buffer.from(rgb));
    if (order === 'pixels-first') this.io.onStderr(line);
  }

  /** Pixels without a showinfo line (a lost line). */
  pixelsOnly(rgb: Buffer = Buffer.alloc(this.io.frameBytes, 0x80)): void {
    this.n++;
    this.io.onFrame(rgb);
  }

  stderr(line: string): void {
    this.io.onStderr(line);
  }

  exit(error: string | null = null): void {
    if (this.done) return;
    this.done = true;
    this.drain();
    this.io.onExit(error);
  }

  kill(): void {
    this.killed = true;
    if (this.spawnedPid !== null) queueMicrotask(() => this.exit('ffmpeg was killed with signal SIGKILL'));
  }
}

/** A launcher that records its runs; each spawns at once unless `spawn: 'manual'`. */
export function fakeLauncher(o: { spawn?: 'auto' | 'manual' } = {}): { launcher: FfmpegLauncher; runs: FakeRun[]; last(): FakeRun } {
  const runs: FakeRun[] = [];
  const launcher: FfmpegLauncher = (_path, args, io) => {
    const run = new FakeRun(args, io);
    runs.push(run);
    if ((o.spawn ?? 'auto') === 'auto') run.spawn();
    return run;
  };
  return {
    launcher,
    runs,
    last() {
      const r = runs.at(-1);
      if (!r) throw new Error('no ffmpeg run was launched');
      return r;
    },
  };
}

export const FAKE_FFMPEG: FfmpegInfo = {
  path: '/nonexistent/ffmpeg',
  version: '5.1-fake',
  source: 'path',
  features: { fpsMode: true, showinfoChecksum: true, holdsLastFrame: false, libx264: true, libvpx: true },
  rejected: [],
};
