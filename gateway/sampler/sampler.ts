import { PassThrough, type Readable } from 'node:stream';
import type { Frame } from '../../classifiers/frame.ts';
import { yuv420Bytes, yuvFrame } from '../../classifiers/yuv-frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { resolveFfmpeg, type FfmpegInfo } from '../media/ffmpeg-path.ts';
import { buildArgs, CHEAP_DECODER, parseShowinfo, type ArgsSource, type DecoderOptions, type FfmpegArgs, type PixelFormat, type SamplerMode } from './args.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import type { ChunkFormat } from './container.ts';
import { FrameFanOut, Listeners, type FrameConsumer } from './fan-out.ts';
import { launchFfmpeg, type FfmpegLauncher } from './ffmpeg-process.ts';
import { StdinFeed } from './stdin-feed.ts';
import { Supervisor, type SupervisedRun } from './supervisor.ts';
import { DEFAULT_SHED, lagBehind, ShedController, type ShedOptions, type ShedState } from './shedding.ts';
import { MediaTimeline, newStreamClock, PtsPairer, SlotFilter, type PairedFrame, type StreamClock } from './timeline.ts';
import { delay, systemTimers, type TimerHandle, type Timers } from './timers.ts';
import { stallSignal, StallWatchdog, watchdogOptions } from './watchdog.ts';

export type { SamplerMode, DecoderOptions } from './args.ts';
export type { FrameConsumer } from './fan-out.ts';
export { warmSampler } from './ffmpeg-process.ts';
export { newStreamClock, type StreamClock } from './timeline.ts';

/**
 * One Sampler per live stream: one ffmpeg decodes the stream once and emits packed RGB frames at a
 * steady rate and a fixed analysis size to every registered consumer.
 *
 * Lifecycle: start() when a publish is accepted, stop() when it ends. In between, any ffmpeg exit
 * or a frame gap longer than `stallAfterMs` is a stall: it is reported via onStall (a Signal, so
 * the policy can fail open or closed) and ffmpeg is restarted with capped, jittered backoff.
 * Nothing here throws into event handlers: a garbage stream costs bounded restarts, not a crash.
 *
 * The jobs are in their own modules, composed here: process lifecycle and backoff (supervisor.ts, the
 * process itself in ffmpeg-process.ts), stall detection (watchdog.ts), feeding stream inputs into stdin
 * across restarts (stdin-feed.ts), pts pairing and the media timeline (timeline.ts, pure), and the
 * fan-out to consumers with backpressure (fan-out.ts, shared with keyframe-sampler.ts).
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
  /**
   * What ffmpeg emits: `rgb24` (default), or `yuv420p` (full range: frames carry `luma` and make `rgb` on first
   * read, classifiers/yuv-frame.ts; half the pipe bytes and no RGB conversion for frames only hashed).
   */
  pixels?: PixelFormat;
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
  /** Clock and timers (tests: a fake clock). Default: the system's. */
  timers?: Timers;
  /** Starts one ffmpeg run (tests: a scripted stand-in). Default: fluent-ffmpeg (ffmpeg-process.ts). */
  launcher?: FfmpegLauncher;
  /**
   * Load shedding (shedding.ts): the newest media timestamp the gateway has received for this stream, on the
   * publisher's clock (ms), or null while unknown. With it, a decoder that falls more than `shed.maxLagMs`
   * behind is restarted at the live edge and its hash rate lowered to the next of `shed.rates`.
   */
  liveEdgeMs?: () => number | null;
  /** Shedding thresholds; `rates` after `fps` (e.g. [2]: the model rate). Absent or without liveEdgeMs: no shedding. */
  shed?: Partial<Omit<ShedOptions, 'rates'>> & { rates: readonly number[] };
  /** Called with each shedding action (metrics). Must not throw. */
  onShed?: (event: ShedEvent) => void;
  /** Diagnostics (ffmpeg errors, restarts). Must not throw; errors from it are swallowed. */
  log?: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
}

/** `skip_to_live`: the decoder was restarted at the live edge, its queued input dropped; `rate_lowered`: the hash rate went down a step with it. */
export type ShedEvent = { kind: 'skip_to_live' | 'rate_lowered' | 'rate_raised'; fps: number; lagMs: number | null };

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
  /** Of those, dropped because ffmpeg fell behind (load shedding on stream inputs). */
  inputChunksShed: number;
  /** Load shedding (shedding.ts); null when off. `fps` there is the rate hashed now. */
  shed: ShedState | null;
  /** Follower frames dropped (only there to make ffmpeg 5.x release the sampled frame before them). */
  releaseFrames: number;
  lastFrameAt: number | null;
  lastMediaTimeMs: number | null;
  pid: number | null;
  width: number;
  height: number;
  fps: number;
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

/** One ffmpeg process and everything scoped to it. */
interface Run extends SupervisedRun {
  args: FfmpegArgs;
  stdin: PassThrough | null;
  /** Frames paired with their showinfo pts, in order. */
  pairer: PtsPairer;
  slots: SlotFilter;
  pendingTimer: TimerHandle | null;
  stderrTail: string[];
  /** Startup milestones, ms after startedAt (null until reached): where a slow start spends its time. */
  startup: StartupMilestones;
}

/** How long a decoded frame waits for its showinfo line before its pts is estimated. */
const PTS_WAIT_MS = 100;
/** After ffmpeg reported its exit at the end of a stream input: how long its last frames may take. */
const DRAIN_WAIT_MS = 2_000;
const SAMPLER_VERSION = 'sampler/1';

export class Sampler {
  readonly streamId: string;
  /** The rate the current run samples at: the configured one, lower while shed. */
  private fps: number;
  private readonly width: number;
  private readonly height: number;
  private readonly decoder: DecoderOptions;
  private readonly timers: Timers;
  private readonly launcher: FfmpegLauncher;
  private readonly watchdog: StallWatchdog;
  private readonly supervisor: Supervisor<Run>;
  private readonly timeline: MediaTimeline;
  private readonly fanOut: FrameFanOut;
  private readonly stallListeners = new Listeners<[Signal]>();
  private readonly endListeners = new Listeners<[]>();
  private readonly feed: StdinFeed | null;
  private readonly shed: ShedController | null;
  private mode: SamplerMode;
  private info: FfmpegInfo | null;

  private started = false;
  private stopped = false;
  private startedAt = 0;
  private lastStartupMs: number | null = null;

  private counters = {
    framesEmitted: 0,
    stalls: 0,
    modeSwitches: 0,
    replaysSkipped: 0,
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
    this.timers = opts.timers ?? systemTimers;
    this.launcher = opts.launcher ?? launchFfmpeg;
    this.info = opts.ffmpeg ?? null;
    this.fanOut = new FrameFanOut(opts.maxInFlight ?? 2);
    this.timeline = new MediaTimeline(opts.clock ?? newStreamClock());
    this.watchdog = new StallWatchdog(watchdogOptions(opts), this.timers);
    this.supervisor = new Supervisor<Run>({
      timers: this.timers,
      backoff: new Backoff({ ...DEFAULT_BACKOFF, ...opts.backoff }),
      healthyAfterMs: opts.healthyAfterMs ?? 10_000,
      launch: (base) => this.launch(base),
      onRetire: (run) => {
        this.clearPending(run);
        run.stdin?.destroy();
      },
      log: (level, msg, detail) => this.log(level, msg, detail),
    });
    const rates = opts.shed ? [this.fps, ...opts.shed.rates.filter((r) => r < this.fps)] : [];
    this.shed = opts.shed && opts.liveEdgeMs ? new ShedController({ ...DEFAULT_SHED, ...opts.shed, rates }) : null;
    const input = opts.input;
    this.feed = input.kind === 'stream' ? new StdinFeed(input.format, opts.maxStdinBufferBytes ?? 8 * 1024 * 1024) : null;
  }

  /** Bytes per emitted frame: width * height * 3 for RGB, * 1.5 for YUV 4:2:0. */
  get frameBytes(): number {
    return this.opts.pixels === 'yuv420p' ? yuv420Bytes(this.width, this.height) : this.width * this.height * 3;
  }

  onFrame(cb: FrameConsumer): () => void {
    return this.fanOut.add(cb);
  }

  onStall(cb: (s: Signal) => void): () => void {
    return this.stallListeners.add(cb);
  }

  /** Stream inputs only: the source ended and ffmpeg drained it. Not a stall. */
  onEnd(cb: () => void): () => void {
    return this.endListeners.add(cb);
  }

  /** Resolves once the first ffmpeg is spawning. Rejects only when no ffmpeg can be found at all. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startedAt = this.timers.now();
    this.info ??= await resolveFfmpeg();
    if (this.stopped) return;
    const input = this.opts.input;
    if (input.kind === 'stream') this.feed?.attach(input.stream);
    this.watchdog.arm(() => this.checkStall());
    this.supervisor.start();
  }

  /** Stream ended: kill ffmpeg, no stall report. Resolves when the process has exited. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watchdog.disarm();
    this.feed?.detach();
    await this.supervisor.stop();
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
    // A restart already scheduled picks up the new mode.
    await this.supervisor.replace();
  }

  getMode(): SamplerMode {
    return this.mode;
  }

  stats(): SamplerStats {
    const run = this.supervisor.current;
    return {
      streamId: this.streamId,
      mode: this.mode,
      running: this.started && !this.stopped && !this.sourceEnded,
      framesEmitted: this.counters.framesEmitted,
      dropped: this.fanOut.dropped,
      restarts: this.supervisor.restarts,
      stalls: this.counters.stalls,
      modeSwitches: this.counters.modeSwitches,
      consumerErrors: this.fanOut.consumerErrors + this.stallListeners.errors + this.endListeners.errors,
      startupFailures: this.watchdog.startupFailures,
      lastStartupMs: this.lastStartupMs,
      replaysSkipped: this.counters.replaysSkipped,
      inputChunksDropped: this.feed?.dropped ?? 0,
      inputChunksShed: this.feed?.shed ?? 0,
      shed: this.shed?.state() ?? null,
      releaseFrames: this.counters.releaseFrames,
      lastFrameAt: this.timeline.lastFrameAt,
      lastMediaTimeMs: this.timeline.lastMediaTimeMs,
      pid: run && !run.exited ? (run.proc?.pid ?? null) : null,
      width: this.width,
      height: this.height,
      fps: this.fps,
    };
  }

  /** The flags the current (or next) run uses; for logs and the benchmark. */
  currentArgs(): FfmpegArgs | null {
    return this.supervisor.current?.args ?? null;
  }

  private get sourceEnded(): boolean {
    return this.feed?.ended ?? false;
  }

  // ---- one ffmpeg run ------------------------------------------------------------------------

  private launch(base: SupervisedRun): Run {
    const info = this.info!;
    const input = this.opts.input;
    const source: ArgsSource = input.kind === 'url' ? { kind: 'url', url: input.url } : { kind: 'pipe', format: input.format };
    const args = buildArgs({
      source,
      mode: this.mode,
      fps: this.fps,
      width: this.width,
      height: this.height,
      decoder: this.decoder,
      features: info.features,
      pixels: this.opts.pixels ?? 'rgb24',
    });
    const stdin = this.feed ? new PassThrough() : null;
    // A fresh decoder replays up to a GOP from the keyframe it starts at: late by design, not lag.
    this.shed?.restarted(this.timers.now());
    const run: Run = {
      ...base,
      args,
      stdin,
      pairer: new PtsPairer(this.fps),
      slots: new SlotFilter(this.fps),
      pendingTimer: null,
      stderrTail: [],
      startup: { spawnedMs: null, stderrMs: null, inputMs: null, outputMs: null, stdoutMs: null },
    };
    this.log('info', 'sampler ffmpeg spawning', { runId: run.id, mode: this.mode, restarts: this.supervisor.restarts });
    // A fresh stream is fed from its first byte; a restart gets the saved header, then waits for a boundary.
    if (stdin) this.feed?.connect(stdin, run.id > 1);
    const since = (): number => this.timers.now() - run.startedAt;
    run.proc = this.launcher(info.path, args, {
      stdin,
      frameBytes: this.frameBytes,
      onSpawn: () => {
        run.startup.spawnedMs = since();
      },
      onStdoutData: () => {
        run.startup.stdoutMs ??= since();
      },
      onFrame: (rgb) => this.onRawFrame(run, rgb),
      onStderr: (line) => this.onStderr(run, line),
      onExit: (error) => this.onRunExit(run, error),
    });
    return run;
  }

  private onRunExit(run: Run, error: string | null): void {
    if (run.exited) return;
    const news = this.supervisor.exited(run);
    run.stdin?.destroy();
    if (!news) {
      this.clearPending(run);
      return;
    }
    if (this.sourceEnded && this.opts.input.kind === 'stream' && !error) {
      // The publisher's stream ended and ffmpeg drained it: the end of the stream, not a stall.
      // fluent-ffmpeg reports the exit before stdout is necessarily read to the end: wait for the
      // last frames, give their showinfo lines no more time, then end.
      const drained = run.proc?.drained ?? Promise.resolve();
      void Promise.race([drained, delay(this.timers, DRAIN_WAIT_MS)]).then(() => {
        this.release(run, run.pairer.flush(true));
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
    this.supervisor.scheduleRestart();
  }

  // ---- stalls ----------------------------------------------------------------------------------

  private checkStall(): void {
    const run = this.supervisor.current;
    if (!run || this.stopped || this.sourceEnded || run.retired || run.exited || this.supervisor.restartPending) return;
    const now = this.timers.now();
    const found = this.watchdog.check(now, this.mode, run, this.timeline.lastFrameAt);
    if (!found) return;
    this.log('warn', 'sampler stalled', {
      runId: run.id,
      phase: found.phase,
      graceMs: found.graceMs,
      sinceStartMs: now - run.startedAt,
      framesOut: run.pairer.frames,
      pid: run.proc?.pid ?? null,
      hostLoad: this.watchdog.hostLoad(),
      startup: { ...run.startup },
      stderr: run.stderrTail.slice(-5).join(' | '),
    });
    this.reportStall('no-frames', { phase: found.phase, graceMs: found.graceMs });
    void this.supervisor.recycle(run);
  }

  private reportStall(reason: 'exit' | 'no-frames', extra: Record<string, string | number> = {}): void {
    this.counters.stalls += 1;
    const now = this.timers.now();
    this.stallListeners.emit(
      stallSignal({
        streamId: this.streamId,
        lastMediaTimeMs: this.timeline.lastMediaTimeMs,
        observedAt: now,
        version: `${SAMPLER_VERSION} ffmpeg/${this.info?.version ?? 'unknown'}`,
        detail: {
          stalledForMs: now - (this.timeline.lastFrameAt ?? this.startedAt),
          restarts: this.supervisor.restarts,
          reason,
          mode: this.mode,
          ...extra,
        },
      }),
    );
  }

  private emitEnd(): void {
    this.watchdog.disarm();
    this.endListeners.emit();
  }

  // ---- frames --------------------------------------------------------------------------------

  private onStderr(run: Run, line: string): void {
    const st = run.startup;
    if (st.outputMs === null) {
      const at = this.timers.now() - run.startedAt;
      st.stderrMs ??= at;
      if (st.inputMs === null && line.startsWith('Input #')) st.inputMs = at;
      else if (line.startsWith('Output #')) st.outputMs = at;
    }
    const info = parseShowinfo(line);
    if (info) {
      this.release(run, run.pairer.report(info.n, info.ptsMs));
      return;
    }
    if (line.trim()) {
      run.stderrTail.push(line);
      if (run.stderrTail.length > 20) run.stderrTail.shift();
    }
  }

  private onRawFrame(run: Run, rgb: Buffer): void {
    if (run !== this.supervisor.current || run.retired || this.stopped) return;
    this.release(run, run.pairer.frame(rgb, this.timers.now()));
    if (run.pairer.waiting > 0 && !run.pendingTimer) {
      run.pendingTimer = this.timers.setTimeout(() => {
        run.pendingTimer = null;
        this.release(run, run.pairer.flush(true));
      }, PTS_WAIT_MS);
    }
  }

  /** Emits frames whose pts is known, in order; stops waiting once none is left. */
  private release(run: Run, frames: PairedFrame[]): void {
    for (const f of frames) if (run === this.supervisor.current && !run.retired && !this.stopped) this.emit(run, f);
    if (run.pairer.waiting === 0 && run.pendingTimer) {
      this.timers.clearTimeout(run.pendingTimer);
      run.pendingTimer = null;
    }
  }

  private clearPending(run: Run): void {
    this.timers.clearTimeout(run.pendingTimer);
    run.pendingTimer = null;
    run.pairer.clear();
  }

  private emit(run: Run, p: PairedFrame): void {
    // The frame let through behind each sampled one so ffmpeg 5.x releases it (args.ts selectExpr).
    if (run.slots.isFollower(p.ptsMs)) {
      this.counters.releaseFrames += 1;
      return;
    }
    const placed = this.timeline.place(p.ptsMs, p.receivedAt, run.firstFrameAt !== null);
    if (placed.kind === 'replay') {
      this.counters.replaysSkipped += 1;
      return;
    }
    if (run.firstFrameAt === null) {
      this.lastStartupMs = p.receivedAt - run.startedAt;
      this.watchdog.firstFrame();
      this.log('info', 'sampler first frame', {
        runId: run.id,
        afterMs: this.lastStartupMs,
        hostLoad: this.watchdog.hostLoad(),
        startup: { ...run.startup },
        replaysSkipped: this.counters.replaysSkipped,
      });
    }
    this.supervisor.delivered(run, p.receivedAt);
    const meta = {
      streamId: this.streamId,
      seq: placed.seq,
      mediaTimeMs: placed.mediaTimeMs,
      receivedAt: p.receivedAt,
      width: this.width,
      height: this.height,
    };
    // p.rgb holds ffmpeg's bytes for the frame, whatever their format.
    const frame: Frame = this.opts.pixels === 'yuv420p' ? yuvFrame(meta, p.rgb) : { ...meta, rgb: p.rgb };
    this.counters.framesEmitted += 1;
    this.fanOut.deliver(frame);
    this.checkLag(p);
  }

  /** Load shedding: a frame decoded too far behind the live edge restarts the decoder there, at a lower rate. */
  private checkLag(p: PairedFrame): void {
    if (!this.shed || this.mode !== 'full') return;
    let edge: number | null = null;
    try {
      edge = this.opts.liveEdgeMs?.() ?? null;
    } catch {
      return;
    }
    const lag = lagBehind(edge, p.ptsMs);
    if (lag === null) return;
    const action = this.shed.observe(lag, this.timers.now());
    if (!action) return;
    const before = this.fps;
    this.fps = action.fps;
    if (action.kind === 'skip') {
      this.log('info', 'sampler behind live: skipping to the live edge', { lagMs: Math.round(lag), fps: action.fps, fromFps: before });
      this.shedEvent({ kind: 'skip_to_live', fps: action.fps, lagMs: lag });
      if (action.fps < before) this.shedEvent({ kind: 'rate_lowered', fps: action.fps, lagMs: lag });
    } else {
      this.log('info', 'sampler keeping up: hash rate raised', { fps: action.fps, fromFps: before });
      this.shedEvent({ kind: 'rate_raised', fps: action.fps, lagMs: lag });
    }
    if (this.stopped || this.sourceEnded) return;
    // The old run's queued input goes with it; the new one starts at the server's latest keyframe.
    void this.supervisor.replace();
  }

  private shedEvent(e: ShedEvent): void {
    try {
      this.opts.onShed?.(e);
    } catch {
      // metrics must never take the sampler down
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
