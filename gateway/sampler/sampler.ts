import type { ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { resolveFfmpeg, type FfmpegInfo } from '../media/ffmpeg-path.ts';
import {
  buildArgs,
  CHEAP_DECODER,
  parseShowinfo,
  type ArgsSource,
  type DecoderOptions,
  type FfmpegArgs,
  type SamplerMode,
} from './args.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { findResyncPoint, HeaderCollector, type ChunkFormat } from './container.ts';
import { FrameReader } from './frame-reader.ts';

export type { SamplerMode, DecoderOptions } from './args.ts';

/**
 * One Sampler per live stream: one ffmpeg decodes the stream once and emits packed RGB frames at a
 * steady rate and a fixed analysis size to every registered consumer.
 *
 * Lifecycle: start() when a publish is accepted, stop() when it ends. In between, any ffmpeg exit
 * or a frame gap longer than `stallAfterMs` is a stall: it is reported via onStall (a Signal, so
 * the policy can fail open or closed) and ffmpeg is restarted with capped, jittered backoff.
 * Nothing here throws into event handlers: a garbage stream costs bounded restarts, not a crash.
 */

export type SamplerInput =
  /** A URL ffmpeg reads itself, e.g. rtmp://127.0.0.1:1935/live/NAME from the local node-media-server. */
  | { kind: 'url'; url: string }
  /** Chunks from a WebSocket publisher (MediaRecorder WebM or fragmented MP4), fed to ffmpeg's stdin. */
  | { kind: 'stream'; stream: Readable; format: ChunkFormat };

export interface SamplerOptions {
  streamId: string;
  input: SamplerInput;
  /** Frames per second of media to emit. Default 2. */
  fps?: number;
  /**
   * Fixed analysis size; the picture is fit inside it keeping aspect ratio and letterboxed.
   * Default 512×288: fits 512×512, 16:9 like nearly every live stream, so no letterbox bars there.
   */
  width?: number;
  height?: number;
  mode?: SamplerMode;
  decoder?: Partial<DecoderOptions>;
  /** Frames a single consumer may have in flight (unsettled promises) before it misses frames. Default 2. */
  maxInFlight?: number;
  /** No frame for this long counts as a stall. Default 5000. */
  stallAfterMs?: number;
  /**
   * The same in keyframe mode, where frames are one per keyframe and the H.264 decoder holds each
   * back by the stream's reorder depth (B-frames): ~2 GOPs, 4-5 s at OBS's 2 s GOP. Default 12000.
   */
  keyframeStallAfterMs?: number;
  /**
   * Grace for a freshly (re)started ffmpeg to deliver its first frame: exec, connect, probe and the
   * first keyframe take 0.5–3 s on a busy host. Default max(stallAfterMs, 8000).
   *
   * Startup is CPU work (~0.2 s of CPU per ffmpeg: dynamic linking, probing, decoder setup), so on
   * an oversubscribed host it takes proportionally longer: the grace is stretched by the host load
   * (see `hostLoad`), and doubled after every run that was killed before its first frame, up to
   * `maxFirstFrameTimeoutMs`. A fixed wall-clock grace shorter than the (load-dependent) startup
   * time would kill every run just before its first frame and restart it from scratch, forever.
   */
  firstFrameTimeoutMs?: number;
  /** Upper bound for the stretched/escalated first-frame grace. Default max(60000, firstFrameTimeoutMs). */
  maxFirstFrameTimeoutMs?: number;
  /**
   * Host CPU oversubscription: runnable tasks per core. Default 1-minute load average / cores.
   * Clamped to [1, 4] as a factor on the first-frame grace.
   */
  hostLoad?: () => number;
  backoff?: Partial<BackoffOptions>;
  /** A run that has delivered frames this long resets the backoff. Default 10000. */
  healthyAfterMs?: number;
  /** Stdin bytes buffered for a slow ffmpeg before chunks are dropped (and the feed resyncs). Default 8 MiB. */
  maxStdinBufferBytes?: number;
  /** Resolved binary; resolveFfmpeg() when absent. */
  ffmpeg?: FfmpegInfo;
  /**
   * A timeline shared with another sampler of the same stream (adaptive mode hands a stream between the
   * shared keyframe decoder and a sampler of its own): frame numbers and media times continue across the
   * hand-over instead of restarting at 0, and frames at or before the last delivered media time (the
   * server's GOP cache replayed to a new reader) are skipped.
   */
  clock?: StreamClock;
  /** Diagnostics (ffmpeg errors, restarts). Must not throw; errors from it are swallowed. */
  log?: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
}

/** Per-stream frame numbering and media-time origin, shared by every sampler of the stream in turn. */
export interface StreamClock {
  /** The publisher's timestamp (ms) that is media time 0; set by the first frame. */
  originMs: number | null;
  nextSeq: number;
  lastMediaTimeMs: number | null;
}

export function newStreamClock(): StreamClock {
  return { originMs: null, nextSeq: 0, lastMediaTimeMs: null };
}

export type FrameConsumer = (frame: Frame) => void | Promise<unknown>;

export interface SamplerStats {
  streamId: string;
  mode: SamplerMode;
  running: boolean;
  framesEmitted: number;
  /** Consumer deliveries skipped because that consumer had maxInFlight frames unsettled. */
  dropped: number;
  /** ffmpeg restarts after an exit or stall (mode switches not counted). */
  restarts: number;
  stalls: number;
  modeSwitches: number;
  consumerErrors: number;
  /** Consecutive runs killed before their first frame; each doubles the next run's first-frame grace. */
  startupFailures: number;
  /** ms from (re)spawn to the first emitted frame of the latest run that delivered one. */
  lastStartupMs: number | null;
  /** Frames a restarted ffmpeg decoded again from the server's GOP cache, not re-emitted. */
  replaysSkipped: number;
  /** Stdin chunks dropped because ffmpeg fell behind or a restart waited for a resync point. */
  inputChunksDropped: number;
  /** Follower frames dropped (only there to make ffmpeg 5.x release the sampled frame before them). */
  releaseFrames: number;
  lastFrameAt: number | null;
  lastMediaTimeMs: number | null;
  pid: number | null;
  width: number;
  height: number;
  fps: number;
}

interface Consumer {
  cb: FrameConsumer;
  inFlight: number;
}

interface PendingFrame {
  index: number;
  rgb: Buffer;
  receivedAt: number;
}

/** One ffmpeg process and everything scoped to it. */
interface Run {
  id: number;
  cmd: ffmpeg.FfmpegCommand;
  proc: ChildProcess | null;
  args: FfmpegArgs;
  startedAt: number;
  /** Set once this run is being replaced or stopped: its exit is expected and not a stall. */
  retired: boolean;
  exited: boolean;
  exitWaiters: Array<() => void>;
  framesOut: number;
  firstFrameAt: number | null;
  healthy: boolean;
  /** showinfo pts by output frame index, until the matching frame arrives. */
  pts: Map<number, number>;
  pending: PendingFrame[];
  pendingTimer: NodeJS.Timeout | null;
  lastPtsMs: number | null;
  /** The 1/fps slot of the last frame emitted by this run (a follower in the same slot is dropped). */
  lastSlot: number | null;
  stdin: PassThrough | null;
  /** Resolves when ffmpeg's stdout has been fully read (the pipe ended). */
  drained: Promise<void>;
  /** Stdin feed may only start at a container boundary (after a restart or a dropped chunk). */
  synced: boolean;
  stderrTail: string[];
  /** Startup milestones, ms after startedAt (null until reached): where a slow start spends its time. */
  startup: StartupMilestones;
}

export interface StartupMilestones {
  /** fluent-ffmpeg spawned the process (its capability checks done). */
  spawnedMs: number | null;
  /** First stderr line: the process is loaded and running (-hide_banner: nothing before the input opens). */
  stderrMs: number | null;
  /** `Input #0`: connected and probed. */
  inputMs: number | null;
  /** `Output #0`: the first frame went through the filter graph. */
  outputMs: number | null;
  /** First bytes on stdout. */
  stdoutMs: number | null;
}

/** The host-load factor on the first-frame grace is clamped to [1, MAX_LOAD_STRETCH]. */
const MAX_LOAD_STRETCH = 4;

function defaultHostLoad(): number {
  return (loadavg()[0] ?? 0) / Math.max(1, availableParallelism());
}

/** How long a decoded frame waits for its showinfo line before its pts is estimated. */
const PTS_WAIT_MS = 100;
/** A restart whose first pts lies this far before the last emitted one means a new timeline. */
const TIMELINE_RESET_MS = 60_000;
const SAMPLER_VERSION = 'sampler/1';

export class Sampler {
  readonly streamId: string;
  private readonly fps: number;
  private readonly width: number;
  private readonly height: number;
  private readonly decoder: DecoderOptions;
  private readonly maxInFlight: number;
  private readonly stallAfterMs: number;
  private readonly keyframeStallAfterMs: number;
  private readonly firstFrameTimeoutMs: number;
  private readonly maxFirstFrameTimeoutMs: number;
  private readonly hostLoad: () => number;
  private startupFailures = 0;
  private lastStartupMs: number | null = null;
  private readonly healthyAfterMs: number;
  private readonly maxStdinBufferBytes: number;
  private readonly backoff: Backoff;
  private mode: SamplerMode;
  private info: FfmpegInfo | null;

  private consumers = new Set<Consumer>();
  private stallListeners = new Set<(s: Signal) => void>();
  private endListeners = new Set<() => void>();

  private started = false;
  private stopped = false;
  private sourceEnded = false;
  private run: Run | null = null;
  private runCounter = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private startedAt = 0;

  private readonly clock: StreamClock;
  /** mediaTimeMs = ptsMs + ptsOffset; fixed by the first frame, moved only on a timeline reset. */
  private ptsOffset: number | null = null;
  private lastMediaTimeMs: number | null = null;
  private lastFrameAt: number | null = null;

  private header: HeaderCollector | null = null;
  private detachSource: (() => void) | null = null;

  private counters = {
    framesEmitted: 0,
    dropped: 0,
    restarts: 0,
    stalls: 0,
    modeSwitches: 0,
    consumerErrors: 0,
    replaysSkipped: 0,
    inputChunksDropped: 0,
    releaseFrames: 0,
  };

  constructor(private readonly opts: SamplerOptions) {
    this.streamId = opts.streamId;
    this.fps = opts.fps ?? 2;
    this.width = opts.width ?? 512;
    this.height = opts.height ?? 288;
    if (!(this.fps > 0 && this.fps <= 60)) throw new RangeError(`fps must be in (0, 60], got ${this.fps}`);
    for (const [k, v] of [
      ['width', this.width],
      ['height', this.height],
    ] as const) {
      if (!Number.isInteger(v) || v < 16 || v > 4096 || v % 2 !== 0) throw new RangeError(`${k} must be an even integer in [16, 4096], got ${v}`);
    }
    this.decoder = { ...CHEAP_DECODER, ...opts.decoder };
    this.mode = opts.mode ?? 'full';
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
    this.stallAfterMs = opts.stallAfterMs ?? 5_000;
    this.keyframeStallAfterMs = opts.keyframeStallAfterMs ?? Math.max(12_000, this.stallAfterMs);
    this.firstFrameTimeoutMs = opts.firstFrameTimeoutMs ?? Math.max(8_000, this.stallAfterMs);
    this.maxFirstFrameTimeoutMs = Math.max(this.firstFrameTimeoutMs, opts.maxFirstFrameTimeoutMs ?? 60_000);
    this.hostLoad = opts.hostLoad ?? defaultHostLoad;
    this.healthyAfterMs = opts.healthyAfterMs ?? 10_000;
    this.maxStdinBufferBytes = opts.maxStdinBufferBytes ?? 8 * 1024 * 1024;
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, ...opts.backoff });
    this.info = opts.ffmpeg ?? null;
    this.clock = opts.clock ?? newStreamClock();
    if (this.clock.originMs !== null) this.ptsOffset = -this.clock.originMs;
    this.lastMediaTimeMs = this.clock.lastMediaTimeMs;
  }

  /** Bytes per emitted frame (width * height * 3). */
  get frameBytes(): number {
    return this.width * this.height * 3;
  }

  onFrame(cb: FrameConsumer): () => void {
    const c: Consumer = { cb, inFlight: 0 };
    this.consumers.add(c);
    return () => this.consumers.delete(c);
  }

  onStall(cb: (s: Signal) => void): () => void {
    this.stallListeners.add(cb);
    return () => this.stallListeners.delete(cb);
  }

  /** Stream inputs only: the source ended and ffmpeg drained it. Not a stall. */
  onEnd(cb: () => void): () => void {
    this.endListeners.add(cb);
    return () => this.endListeners.delete(cb);
  }

  /** Resolves once the first ffmpeg is spawning. Rejects only when no ffmpeg can be found at all. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    this.info ??= await resolveFfmpeg();
    if (this.stopped) return;
    const input = this.opts.input;
    if (input.kind === 'stream') this.attachSource(input.stream, input.format);
    this.watchdog = setInterval(() => this.checkStall(), Math.max(50, Math.min(1_000, this.stallAfterMs / 4)));
    this.watchdog.unref();
    this.spawnRun();
  }

  /** Stream ended: kill ffmpeg, no stall report. Resolves when the process has exited. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.watchdog = this.restartTimer = null;
    this.detachSource?.();
    this.detachSource = null;
    const run = this.run;
    if (run) await this.retire(run);
  }

  /**
   * Switch between full-rate and keyframe-only decoding by restarting ffmpeg in the other mode
   * (decoder flags cannot change on a running process). Not a stall; the backoff is not consulted.
   * Resolves once the old process has exited and the new one is spawning.
   */
  async setMode(mode: SamplerMode): Promise<void> {
    if (mode === this.mode) return;
    this.mode = mode;
    this.counters.modeSwitches += 1;
    if (!this.started || this.stopped || this.sourceEnded) return;
    if (this.restartTimer) {
      // A restart is already scheduled; it will pick up the new mode.
      return;
    }
    const old = this.run;
    if (old) await this.retire(old);
    if (!this.stopped && this.run === old) this.spawnRun();
  }

  getMode(): SamplerMode {
    return this.mode;
  }

  stats(): SamplerStats {
    return {
      streamId: this.streamId,
      mode: this.mode,
      running: this.started && !this.stopped && !this.sourceEnded,
      ...this.counters,
      startupFailures: this.startupFailures,
      lastStartupMs: this.lastStartupMs,
      lastFrameAt: this.lastFrameAt,
      lastMediaTimeMs: this.lastMediaTimeMs,
      pid: this.run && !this.run.exited ? (this.run.proc?.pid ?? null) : null,
      width: this.width,
      height: this.height,
      fps: this.fps,
    };
  }

  /** The flags the current (or next) run uses; for logs and the benchmark. */
  currentArgs(): FfmpegArgs | null {
    return this.run?.args ?? null;
  }

  // ---- process lifecycle -------------------------------------------------------------------

  private spawnRun(): void {
    if (this.stopped || !this.info) return;
    const input = this.opts.input;
    const source: ArgsSource = input.kind === 'url' ? { kind: 'url', url: input.url } : { kind: 'pipe', format: input.format };
    const args = buildArgs({
      source,
      mode: this.mode,
      fps: this.fps,
      width: this.width,
      height: this.height,
      decoder: this.decoder,
      features: this.info.features,
    });
    const stdin = input.kind === 'stream' ? new PassThrough() : null;
    const reader = new FrameReader(this.frameBytes, (buf) => this.onRawFrame(run, buf));
    const drained = new Promise<void>((resolve) => {
      reader.once('finish', resolve);
      reader.once('close', resolve);
      reader.once('error', () => resolve());
    });
    // fluent-ffmpeg keeps this many stderr lines in memory; 0 would mean all of them for the life of the
    // process (one showinfo line per frame: unbounded growth on a long stream). Lines are handled as they come.
    const cmd = ffmpeg({ stdoutLines: 16 })
      .setFfmpegPath(this.info.path)
      // fluent-ffmpeg pipes a Readable input into stdin and swallows EPIPE on it (ffmpeg gone).
      .input(stdin ?? args.input)
      .inputOptions(args.inputOptions)
      .output(reader)
      .outputOptions(args.outputOptions);
    const run: Run = {
      id: ++this.runCounter,
      cmd,
      proc: null,
      args,
      startedAt: Date.now(),
      retired: false,
      exited: false,
      exitWaiters: [],
      framesOut: 0,
      firstFrameAt: null,
      healthy: false,
      pts: new Map(),
      pending: [],
      pendingTimer: null,
      lastPtsMs: null,
      lastSlot: null,
      stdin,
      drained,
      // A fresh stream is fed from its first byte; a restart waits for a boundary after the header.
      synced: true,
      stderrTail: [],
      startup: { spawnedMs: null, stderrMs: null, inputMs: null, outputMs: null, stdoutMs: null },
    };
    this.run = run;
    this.log('info', 'sampler ffmpeg spawning', { runId: run.id, mode: this.mode, restarts: this.counters.restarts });

    cmd.on('start', () => {
      // fluent-ffmpeg keeps the ChildProcess on an undocumented field; the pid is needed for stats/tests.
      const proc = (cmd as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc ?? null;
      run.proc = proc;
      run.startup.spawnedMs = Date.now() - run.startedAt;
      proc?.stdout?.once('data', () => {
        run.startup.stdoutMs ??= Date.now() - run.startedAt;
      });
      proc?.stdin?.on('error', () => {}); // EPIPE when ffmpeg dies mid-write: its exit is handled below.
      if (run.retired) proc?.kill('SIGKILL');
    });
    cmd.on('stderr', (line: string) => this.onStderr(run, line));
    cmd.on('error', (err: Error) => this.onRunExit(run, err.message));
    cmd.on('end', () => this.onRunExit(run, null));

    if (stdin && this.header && run.id > 1) {
      if (this.header.header) {
        stdin.write(this.header.header);
        run.synced = false;
      } else {
        // Restarted before the header was complete: replay the stream so far, then continue.
        stdin.write(this.header.soFar());
      }
    }
    if (stdin && this.sourceEnded) stdin.end();
    try {
      cmd.run();
    } catch (err) {
      // run() throws synchronously only for a missing output; treat like a failed spawn.
      this.onRunExit(run, err instanceof Error ? err.message : String(err));
    }
  }

  /** Kills a run on purpose (mode switch, stall, stop) and waits for its exit. */
  private retire(run: Run): Promise<void> {
    run.retired = true;
    this.clearPending(run);
    run.stdin?.destroy();
    if (run.exited) return Promise.resolve();
    return new Promise((resolve) => {
      run.exitWaiters.push(resolve);
      if (run.proc) run.proc.kill('SIGKILL');
      // No proc yet (still in fluent-ffmpeg's capability checks): the 'start' handler kills it.
      // Safety net: never hang stop() on a process that will not report its exit.
      setTimeout(resolve, 3_000).unref();
    });
  }

  private onRunExit(run: Run, error: string | null): void {
    if (run.exited) return;
    run.exited = true;
    run.stdin?.destroy();
    for (const w of run.exitWaiters.splice(0)) w();
    if (run.retired || this.stopped || run !== this.run) {
      this.clearPending(run);
      return;
    }
    if (this.sourceEnded && this.opts.input.kind === 'stream' && !error) {
      // The publisher's stream ended and ffmpeg drained it: the end of the stream, not a stall.
      // fluent-ffmpeg reports the exit before stdout is necessarily read to the end: wait for the
      // last frames, give their showinfo lines no more time, then end.
      const cap = new Promise<void>((r) => setTimeout(r, 2_000).unref());
      void Promise.race([run.drained, cap]).then(() => {
        this.flushPending(run, true);
        this.clearPending(run);
        if (!this.stopped) this.emitEnd();
      });
      return;
    }
    this.clearPending(run);
    // fluent-ffmpeg appends ffmpeg's last stderr lines to the message; the first line is the cause.
    const exit = (error ?? 'ffmpeg exited with code 0').split('\n')[0]?.split(': ')[0] ?? 'exit';
    this.log('warn', 'sampler ffmpeg exited', { runId: run.id, error, stderr: run.stderrTail.slice(-5).join(' | ') });
    this.reportStall('exit', { exit, lastError: run.stderrTail.at(-1)?.slice(0, 160) ?? '' });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const delay = this.backoff.next();
    this.log('info', 'sampler restart scheduled', { delayMs: delay, failures: this.backoff.failures });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped) return;
      this.counters.restarts += 1;
      this.spawnRun();
    }, delay);
  }

  private checkStall(): void {
    const run = this.run;
    if (!run || this.stopped || this.sourceEnded || run.retired || run.exited || this.restartTimer) return;
    const now = Date.now();
    const limit = this.mode === 'keyframe' ? this.keyframeStallAfterMs : this.stallAfterMs;
    const starting = run.firstFrameAt === null;
    let graceMs = limit;
    if (starting) {
      graceMs = this.firstFrameGraceMs(limit);
      if (now - run.startedAt < graceMs) return;
      // Killed before its first frame: the next run gets twice the grace (bounded), so a restart
      // loop on a starved host converges instead of repeating the same too-short attempt.
      this.startupFailures += 1;
    } else if (now - (this.lastFrameAt ?? run.startedAt) < limit) {
      return;
    }
    this.log('warn', 'sampler stalled', {
      runId: run.id,
      phase: starting ? 'startup' : 'running',
      graceMs,
      sinceStartMs: now - run.startedAt,
      framesOut: run.framesOut,
      pid: run.proc?.pid ?? null,
      hostLoad: this.safeHostLoad(),
      startup: { ...run.startup },
      stderr: run.stderrTail.slice(-5).join(' | '),
    });
    this.reportStall('no-frames', { phase: starting ? 'startup' : 'running', graceMs });
    void this.retire(run).then(() => {
      if (this.run === run) this.scheduleRestart();
    });
  }

  /**
   * How long the current run may take to its first frame: firstFrameTimeoutMs (at least the stall
   * limit), stretched by the host load and doubled per consecutive startup failure, capped.
   */
  private firstFrameGraceMs(limit: number): number {
    const base = Math.max(limit, this.firstFrameTimeoutMs);
    const stretch = Math.min(MAX_LOAD_STRETCH, Math.max(1, this.safeHostLoad()));
    const escalation = 2 ** Math.min(this.startupFailures, 10);
    return Math.round(Math.min(this.maxFirstFrameTimeoutMs, base * stretch * escalation));
  }

  private safeHostLoad(): number {
    try {
      const v = this.hostLoad();
      return Number.isFinite(v) ? Math.round(v * 100) / 100 : 1;
    } catch {
      return 1;
    }
  }

  private reportStall(reason: 'exit' | 'no-frames', extra: Record<string, string | number> = {}): void {
    this.counters.stalls += 1;
    const now = Date.now();
    const signal: Signal = {
      streamId: this.streamId,
      frameTimeMs: Math.max(0, this.lastMediaTimeMs ?? 0),
      observedAt: now,
      source: 'sampler',
      label: 'stall',
      score: 1,
      version: `${SAMPLER_VERSION} ffmpeg/${this.info?.version ?? 'unknown'}`,
      evidenceRef: null,
      detail: {
        stalledForMs: now - (this.lastFrameAt ?? this.startedAt),
        restarts: this.counters.restarts,
        reason,
        mode: this.mode,
        ...extra,
      },
    };
    for (const cb of this.stallListeners) {
      try {
        cb(signal);
      } catch {
        this.counters.consumerErrors += 1;
      }
    }
  }

  private emitEnd(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    for (const cb of this.endListeners) {
      try {
        cb();
      } catch {
        this.counters.consumerErrors += 1;
      }
    }
  }

  // ---- stdin feed (stream inputs) ----------------------------------------------------------

  private attachSource(stream: Readable, format: ChunkFormat): void {
    this.header = new HeaderCollector(format);
    const onData = (chunk: unknown): void => {
      const buf = Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : null;
      if (!buf || buf.length === 0) return;
      this.header?.push(buf);
      this.feed(buf, format);
    };
    const onEnd = (): void => {
      this.sourceEnded = true;
      this.run?.stdin?.end();
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    // A source error ends the input like 'end' does; listening also keeps it from being unhandled.
    stream.on('error', onEnd);
    this.detachSource = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
    };
  }

  private feed(chunk: Buffer, format: ChunkFormat): void {
    const run = this.run;
    const stdin = run?.stdin;
    if (!run || !stdin || run.retired || run.exited || stdin.destroyed || stdin.writableEnded) {
      this.counters.inputChunksDropped += 1;
      return;
    }
    let data = chunk;
    if (!run.synced) {
      const at = findResyncPoint(format, chunk);
      if (at < 0) {
        this.counters.inputChunksDropped += 1;
        return;
      }
      data = chunk.subarray(at);
      run.synced = true;
    }
    if (stdin.writableLength > this.maxStdinBufferBytes) {
      // ffmpeg is not keeping up (or not started): drop rather than buffer without bound, and
      // resume at the next boundary so the demuxer never sees a torn element.
      this.counters.inputChunksDropped += 1;
      run.synced = false;
      return;
    }
    stdin.write(data);
  }

  // ---- frames --------------------------------------------------------------------------------

  private onStderr(run: Run, line: string): void {
    const st = run.startup;
    if (st.outputMs === null) {
      const at = Date.now() - run.startedAt;
      st.stderrMs ??= at;
      if (st.inputMs === null && line.startsWith('Input #')) st.inputMs = at;
      else if (line.startsWith('Output #')) st.outputMs = at;
    }
    const info = parseShowinfo(line);
    if (info) {
      if (run.pending.length > 0 && run.pending[0] !== undefined && info.n < run.pending[0].index) return;
      run.pts.set(info.n, info.ptsMs);
      this.flushPending(run, false);
      return;
    }
    if (line.trim()) {
      run.stderrTail.push(line);
      if (run.stderrTail.length > 20) run.stderrTail.shift();
    }
  }

  private onRawFrame(run: Run, rgb: Buffer): void {
    if (run !== this.run || run.retired || this.stopped) return;
    run.pending.push({ index: run.framesOut++, rgb, receivedAt: Date.now() });
    this.flushPending(run, false);
    if (run.pending.length > 0 && !run.pendingTimer) {
      run.pendingTimer = setTimeout(() => {
        run.pendingTimer = null;
        this.flushPending(run, true);
      }, PTS_WAIT_MS);
    }
  }

  /** Emits queued frames in order once their pts is known (or, with `force`, estimated). */
  private flushPending(run: Run, force: boolean): void {
    while (run.pending.length > 0) {
      const p = run.pending[0];
      if (!p) break;
      let pts = run.pts.get(p.index);
      if (pts === undefined) {
        if (!force) break;
        // showinfo line lost or late: estimate from the previous frame at the nominal rate.
        pts = run.lastPtsMs === null ? 0 : run.lastPtsMs + 1000 / this.fps;
      }
      run.pts.delete(p.index);
      run.pending.shift();
      run.lastPtsMs = pts;
      if (run === this.run && !run.retired && !this.stopped) this.emit(run, p, pts);
    }
    if (run.pending.length === 0 && run.pendingTimer) {
      clearTimeout(run.pendingTimer);
      run.pendingTimer = null;
    }
  }

  private clearPending(run: Run): void {
    if (run.pendingTimer) clearTimeout(run.pendingTimer);
    run.pendingTimer = null;
    run.pending = [];
    run.pts.clear();
  }

  private emit(run: Run, p: PendingFrame, ptsMs: number): void {
    // The frame let through behind each sampled one so ffmpeg 5.x releases it (args.ts selectExpr).
    const slot = Math.floor((ptsMs / 1000) * this.fps);
    if (run.lastSlot === slot) {
      this.counters.releaseFrames += 1;
      return;
    }
    run.lastSlot = slot;
    // Timeline: input timestamps are kept (-copyts), so after a restart the same stream continues
    // on the same clock. A restarted RTMP pull first replays the server's GOP cache (up to a GOP of
    // already-sampled media): skip those. A pts far behind means the publisher's clock restarted:
    // rebase so mediaTimeMs keeps increasing.
    if (this.ptsOffset === null) {
      this.ptsOffset = -ptsMs;
      this.clock.originMs ??= ptsMs;
    }
    let mediaTimeMs = ptsMs + this.ptsOffset;
    if (this.lastMediaTimeMs !== null && mediaTimeMs <= this.lastMediaTimeMs) {
      if (run.firstFrameAt !== null || this.lastMediaTimeMs - mediaTimeMs > TIMELINE_RESET_MS) {
        // Within a run pts can only go back on a timeline reset; across runs only when far back.
        const gap = Math.max(1, p.receivedAt - (this.lastFrameAt ?? p.receivedAt));
        this.ptsOffset = this.lastMediaTimeMs + gap - ptsMs;
        mediaTimeMs = ptsMs + this.ptsOffset;
      } else {
        this.counters.replaysSkipped += 1;
        return;
      }
    }
    if (run.firstFrameAt === null) {
      run.firstFrameAt = p.receivedAt;
      this.lastStartupMs = p.receivedAt - run.startedAt;
      this.startupFailures = 0;
      this.log('info', 'sampler first frame', {
        runId: run.id,
        afterMs: this.lastStartupMs,
        hostLoad: this.safeHostLoad(),
        startup: { ...run.startup },
        replaysSkipped: this.counters.replaysSkipped,
      });
    }
    if (!run.healthy && p.receivedAt - run.firstFrameAt >= this.healthyAfterMs) {
      run.healthy = true;
      this.backoff.reset();
    }
    this.lastMediaTimeMs = mediaTimeMs;
    this.clock.lastMediaTimeMs = mediaTimeMs;
    this.lastFrameAt = p.receivedAt;
    const frame: Frame = {
      streamId: this.streamId,
      seq: this.clock.nextSeq++,
      mediaTimeMs: Math.round(mediaTimeMs * 1000) / 1000,
      receivedAt: p.receivedAt,
      width: this.width,
      height: this.height,
      rgb: p.rgb,
    };
    this.counters.framesEmitted += 1;
    for (const c of this.consumers) this.deliver(c, frame);
  }

  private deliver(c: Consumer, frame: Frame): void {
    if (c.inFlight >= this.maxInFlight) {
      this.counters.dropped += 1;
      return;
    }
    let result: void | Promise<unknown>;
    try {
      result = c.cb(frame);
    } catch {
      this.counters.consumerErrors += 1;
      return;
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      c.inFlight += 1;
      (result as Promise<unknown>).then(
        () => {
          c.inFlight -= 1;
        },
        () => {
          c.inFlight -= 1;
          this.counters.consumerErrors += 1;
        },
      );
    }
  }

  private log(level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>): void {
    try {
      this.opts.log?.(level, msg, { streamId: this.streamId, ...detail });
    } catch {
      // logging must never take the sampler down
    }
  }
}

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
