import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { Frame } from '../../classifiers/frame.ts';
import type { ClassifierStage } from '../../classifiers/stage.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { LiveRegistry, LiveStream } from '../live/registry.ts';
import type { FfmpegInfo } from '../media/ffmpeg-path.ts';
import { KeyframeDecoderPool, type KeyframeDecoderStats } from '../sampler/keyframe-decoder.ts';
import { KeyframeSampler } from '../sampler/keyframe-sampler.ts';
import { FrameLiveness } from '../sampler/liveness.ts';
import type { PixelFormat } from '../sampler/args.ts';
import { newStreamClock, Sampler, type SamplerMode, type StreamClock } from '../sampler/sampler.ts';
import { AdaptiveController, type AdaptiveOptions, type AdaptiveStats, type ModeChange } from './adaptive.ts';

export interface WatcherOptions {
  rtmpPort: number;
  fps: number;
  width: number;
  height: number;
  /** A fixed sampler mode for every stream, or `adaptive` (gateway/pipeline/adaptive.ts). */
  mode: SamplerMode | 'adaptive';
  /** Thresholds of the adaptive mode (defaults: DEFAULT_ADAPTIVE). */
  adaptive?: Partial<AdaptiveOptions>;
  stallAfterMs: number;
  /** ffmpeg processes of the shared keyframe decoder (keyframe and adaptive modes). Default 2. */
  keyframeDecoders?: number;
  /**
   * Load shedding of full-rate samplers (gateway/sampler/shedding.ts): RTMP streams of this gateway's own
   * ingest, whose newest media timestamp is known. Absent or disabled: frames queue behind a slow decoder.
   */
  shed?: { enabled: boolean; maxLagMs: number; recoverAfterMs: number };
  /** The models' rate: what a shed stream's hash rate goes down to. Default 2. */
  modelFps?: number;
  /** What full-rate samplers' ffmpeg emits (gateway/sampler/args.ts). Default rgb24. */
  pixels?: PixelFormat;
}

export type ShedReason = 'skip_to_live' | 'rate_lowered' | 'input_backlog';

/** How often calm escalated streams are looked for (adaptive mode). */
const ADAPTIVE_TICK_MS = 1_000;

/** How a stream is being sampled right now. */
export interface WatchStats {
  mode: SamplerMode;
  /** `shared`: keyframes from memory through the shared decoder; `ffmpeg`: a sampler process of its own. */
  via: 'shared' | 'ffmpeg';
  framesEmitted: number;
  modeSwitches: number;
  /** Why the stream cannot be watched from its keyframes, when it cannot. */
  unwatchable: string | null;
  pid: number | null;
  /** Load shedding of the stream's own sampler; null: not shedding-capable (or off, or no sampler of its own). */
  shed: { fps: number; lagMs: number | null; skips: number; raises: number } | null;
}

interface Watched {
  stream: LiveStream;
  clock: StreamClock;
  /** Frames flowing without classifier signals still tell the policy the stream is watched (a static picture). */
  liveness: FrameLiveness;
  /** The shared-decoder keyframe sampler (RTMP H.264 streams in keyframe/adaptive mode). */
  keyframes: KeyframeSampler | null;
  /** A sampler process of the stream's own: full rate, or keyframes where the shared decoder cannot. */
  sampler: Sampler | null;
  mode: SamplerMode;
  frames: number;
  modeSwitches: number;
  unwatchable: string | null;
  /** The reason of the full-rate sampling forced on every stream (a crisis incident) when it put this one at full rate. */
  forcedBy: string | null;
}

/**
 * The data flow gateway → classifiers → policy, per live stream: sampling starts the moment a publish is
 * accepted, each frame goes through the classifier stage, and every signal (stalls included) goes to the
 * policy runner, whose decisions come back to the gateway as cuts.
 *
 * Keyframe watching (fixed `keyframe` mode, and calm streams in `adaptive` mode) goes through one shared
 * keyframe decoder for all RTMP H.264 streams (gateway/sampler/keyframe-sampler.ts); full-rate sampling
 * and everything the shared decoder cannot take (WebSocket streams, other codecs, streams without IDR
 * keyframes) use a sampler process per stream. An adaptive escalation hands the stream from the first to
 * the second — same frame numbering and media clock — and a calm-down hands it back.
 */
export class StreamWatcher {
  private readonly watched = new Map<string, Watched>();
  /** Adaptive mode only: which streams decode every frame and which keyframes only. */
  readonly adaptive: AdaptiveController | null;
  private readonly adaptiveTimer: NodeJS.Timeout | null = null;
  private readonly modeListeners = new Set<(change: ModeChange) => void>();
  private readonly sampledListeners = new Set<(frame: Frame, signals: readonly Signal[]) => void>();
  private readonly pool: KeyframeDecoderPool | null;
  /** Full rate for every stream, with this reason (a crisis incident: gateway/crisis/); null: off. */
  private forced: string | null = null;
  /** Load shedding since start, by reason (metrics: modgate_sampler_shed_total). */
  private readonly shedTotals: Record<ShedReason, number> = { skip_to_live: 0, rate_lowered: 0, input_backlog: 0 };

  constructor(
    private readonly registry: LiveRegistry,
    private readonly stage: ClassifierStage,
    private readonly onSignal: (signal: Signal) => void,
    private readonly ffmpeg: FfmpegInfo,
    private readonly opts: WatcherOptions,
    private readonly log: Logger,
  ) {
    registry.on('started', (s) => this.watch(s));
    registry.on('ended', (s) => this.unwatch(s.id));
    this.adaptive = opts.mode === 'adaptive' ? new AdaptiveController(opts.adaptive) : null;
    this.pool =
      opts.mode === 'full'
        ? null
        : new KeyframeDecoderPool({
            ffmpeg,
            width: opts.width,
            height: opts.height,
            processes: opts.keyframeDecoders ?? 2,
            log: (level, msg, detail) => this.log[level]({ ...detail }, msg),
          });
    if (this.adaptive) {
      const controller = this.adaptive;
      this.adaptiveTimer = setInterval(() => this.apply(controller.tick(Date.now())), ADAPTIVE_TICK_MS);
      this.adaptiveTimer.unref();
    }
  }

  /** Adaptive mode: called with every mode switch the controller decides (escalations and calm-downs). */
  onModeChange(cb: (change: ModeChange) => void): () => void {
    this.modeListeners.add(cb);
    return () => this.modeListeners.delete(cb);
  }

  /** Called with every classified frame and its signals (the console's latest frame and scores). */
  onSampled(cb: (frame: Frame, signals: readonly Signal[]) => void): () => void {
    this.sampledListeners.add(cb);
    return () => this.sampledListeners.delete(cb);
  }

  /** How a live stream is sampled, as the console names it (`off` when it is not watched). */
  samplingMode(streamId: string): 'full' | 'keyframe' | 'adaptive-full' | 'adaptive-keyframe' | 'off' {
    const w = this.watched.get(streamId);
    if (!w) return 'off';
    return this.adaptive ? `adaptive-${w.mode}` : w.mode;
  }

  adaptiveStats(): AdaptiveStats | null {
    return this.adaptive?.stats() ?? null;
  }

  keyframeDecoderStats(): KeyframeDecoderStats | null {
    return this.pool?.stats() ?? null;
  }

  /** Keyframe → picture latencies (ms) of the shared decoder since the last call (benchmarks). */
  takeKeyframeLatencies(): number[] {
    return this.pool?.takeLatencies() ?? [];
  }

  get count(): number {
    return this.watched.size;
  }

  /** Live streams by current sampling mode (metrics). */
  modeCounts(): Record<SamplerMode, number> {
    const out: Record<SamplerMode, number> = { full: 0, keyframe: 0 };
    for (const w of this.watched.values()) out[w.mode]++;
    return out;
  }

  /** The stream's own sampler process, when it has one (full rate, or a fallback). */
  sampler(streamId: string): Sampler | undefined {
    return this.watched.get(streamId)?.sampler ?? undefined;
  }

  /** The stream's shared-decoder keyframe sampler, when it uses one. */
  keyframeSampler(streamId: string): KeyframeSampler | undefined {
    return this.watched.get(streamId)?.keyframes ?? undefined;
  }

  stats(streamId: string): WatchStats | undefined {
    const w = this.watched.get(streamId);
    if (!w) return undefined;
    const own = w.sampler && !(w.keyframes && w.mode === 'keyframe');
    const shed = own ? (w.sampler?.stats().shed ?? null) : null;
    return {
      mode: w.mode,
      via: own ? 'ffmpeg' : 'shared',
      framesEmitted: w.frames,
      modeSwitches: w.modeSwitches,
      unwatchable: w.unwatchable,
      pid: own ? (w.sampler?.stats().pid ?? null) : null,
      shed: shed ? { fps: shed.fps, lagMs: shed.lagMs === null ? null : Math.round(shed.lagMs), skips: shed.skips, raises: shed.raises } : null,
    };
  }

  /**
   * Load shedding since start, by reason: decoders restarted at the live edge, hash rates lowered, and stdin
   * chunks dropped for a WebSocket stream's slow ffmpeg (live samplers' counts included).
   */
  shedCounts(): Record<ShedReason, number> {
    let backlog = this.shedTotals.input_backlog;
    for (const w of this.watched.values()) backlog += w.sampler?.stats().inputChunksShed ?? 0;
    return { ...this.shedTotals, input_backlog: backlog };
  }

  /**
   * Full-rate sampling for the rest of the stream's life, whatever the mode (a viewer reported it: every
   * frame is looked at from now on). Adaptive mode pins it so it is never calmed down or pre-empted.
   */
  escalate(streamId: string, reason: string): void {
    const w = this.watched.get(streamId);
    if (!w) return;
    this.adaptive?.pin(streamId, Date.now(), reason);
    if (w.mode !== 'full') this.apply([{ streamId, mode: 'full', reason, at: Date.now() }]);
  }

  /**
   * Every live stream, and every stream that starts while it is set, sampled at full rate (a crisis
   * incident: gateway/crisis/). Adaptive mode pins them with `reason`; clearing it (null) unpins those
   * streams, which then calm down as usual (`calmForMs`), and returns fixed keyframe mode's to keyframes.
   * Streams pinned for another reason (a viewer report, keyframes too far apart) keep their pin.
   */
  forceFullRate(reason: string | null): void {
    const prev = this.forced;
    this.forced = reason;
    if (reason) {
      for (const w of this.watched.values()) this.force(w, reason);
      return;
    }
    if (!prev) return;
    const now = Date.now();
    for (const w of this.watched.values()) {
      if (w.forcedBy !== prev) continue;
      w.forcedBy = null;
      if (this.adaptive) this.adaptive.unpin(w.stream.id, prev, now);
      else if (this.opts.mode === 'keyframe' && w.mode === 'full' && !w.unwatchable)
        this.apply([{ streamId: w.stream.id, mode: 'keyframe', reason: `${prev} ended`, at: now }]);
    }
  }

  /** The reason full-rate sampling is forced on every stream, or null. */
  fullRateForced(): string | null {
    return this.forced;
  }

  private force(w: Watched, reason: string): void {
    if (this.opts.mode === 'full' || w.forcedBy === reason) return;
    if (this.adaptive?.state(w.stream.id)?.pinned) return;
    w.forcedBy = reason;
    this.adaptive?.pin(w.stream.id, Date.now(), reason);
    if (w.mode !== 'full') this.apply([{ streamId: w.stream.id, mode: 'full', reason, at: Date.now() }]);
  }

  private apply(changes: ModeChange[]): void {
    for (const c of changes) {
      const w = this.watched.get(c.streamId);
      if (!w) continue;
      this.log.info(
        { stream: c.streamId, mode: c.mode, reason: c.reason },
        c.mode === 'full' ? 'sampling escalated to full rate' : 'sampling back to keyframes',
      );
      this.switchMode(w, c.mode);
      for (const cb of this.modeListeners) {
        try {
          cb(c);
        } catch (err) {
          this.log.warn({ err }, 'mode change listener failed');
        }
      }
    }
  }

  private switchMode(w: Watched, mode: SamplerMode): void {
    if (w.mode === mode) return;
    w.mode = mode;
    w.modeSwitches++;
    if (w.keyframes && !w.unwatchable) {
      // Hand-over between the shared decoder and a process of the stream's own.
      if (mode === 'full') {
        w.keyframes.pause();
        this.startSampler(w, 'full');
      } else {
        this.stopSampler(w);
        w.keyframes.resume();
      }
      return;
    }
    w.sampler?.setMode(mode).catch((err) => this.log.warn({ err, stream: w.stream.id }, 'sampler mode switch failed'));
  }

  private async handleFrame(w: Watched, frame: Frame): Promise<void> {
    w.frames++;
    const ingestedAt = this.ingestedAt(w, frame);
    const found = await this.stage.process(frame);
    const signals = ingestedAt === null ? found : found.map((s) => ({ ...s, ingestedAt }));
    for (const s of signals) {
      // Policy first: the adaptive switch (a sampler start) must never delay a decision.
      this.onSignal(s);
      if (this.adaptive) this.apply(this.adaptive.observe(s, Date.now()));
    }
    const alive = w.liveness.afterFrame(frame, signals, Date.now());
    if (alive) this.onSignal(alive);
    for (const l of this.sampledListeners) {
      try {
        l(frame, signals);
      } catch (err) {
        this.log.warn({ err, stream: frame.streamId }, 'a sampled-frame listener failed');
      }
    }
  }

  /**
   * When the frame's content reached this gateway: the arrival of the video message (RTMP) or block
   * (WebM over WebSocket) at its presentation time (the stream clock's origin is the publisher's
   * timestamp of media time 0). Null where the ingest does not read them (MP4 over WebSocket, pulls from
   * an upstream server) or the timestamp is not among the recent ones (a publisher clock reset rebases
   * media time).
   */
  private ingestedAt(w: Watched, frame: Frame): number | null {
    const arrivals = w.stream.video?.arrivals ?? w.stream.media?.arrivals;
    const origin = w.clock.originMs;
    if (!arrivals || origin === null || w.stream.pullUrl) return null;
    const at = arrivals.arrivalOf(frame.mediaTimeMs + origin);
    return at === null ? null : Math.min(at, frame.receivedAt);
  }

  private watch(stream: LiveStream): void {
    const mode: SamplerMode = this.adaptive ? this.adaptive.add(stream.id, Date.now()) : (this.opts.mode as SamplerMode);
    const w: Watched = {
      stream,
      clock: newStreamClock(),
      liveness: new FrameLiveness(),
      keyframes: null,
      sampler: null,
      mode,
      frames: 0,
      modeSwitches: 0,
      unwatchable: null,
      forcedBy: null,
    };
    this.watched.set(stream.id, w);
    // After the stream's sampling has started in its own mode (the hand-over is then the usual one).
    if (this.forced) queueMicrotask(() => this.watched.get(stream.id) === w && this.forced && this.force(w, this.forced));
    if (this.pool && stream.video) {
      const k = new KeyframeSampler({
        streamId: stream.id,
        tap: stream.video,
        pool: this.pool,
        fps: this.opts.fps,
        width: this.opts.width,
        height: this.opts.height,
        clock: w.clock,
        // Adaptive mode watches calm streams by their keyframes only; one whose keyframes are too far
        // apart is watched at full rate instead (fixed keyframe mode is the operator's explicit choice).
        ...(this.adaptive ? { maxKeyframeIntervalMs: this.adaptive.opts.maxKeyframeIntervalMs } : {}),
        ffmpegVersion: this.ffmpeg.version,
        log: (level, msg, detail) => this.log[level]({ stream: stream.id, ...detail }, msg),
      });
      k.onFrame((frame) => this.handleFrame(w, frame));
      k.onStall((signal) => this.onSignal(signal));
      k.onUnwatchable((reason) => this.fallBack(w, reason));
      w.keyframes = k;
      k.start();
      if (mode === 'full') {
        k.pause();
        this.startSampler(w, 'full');
      }
      return;
    }
    this.startSampler(w, mode);
  }

  /** The shared decoder cannot watch this stream: give it a sampler of its own (full rate in adaptive mode). */
  private fallBack(w: Watched, reason: string): void {
    if (this.watched.get(w.stream.id) !== w) return;
    w.unwatchable = reason;
    if (this.adaptive) {
      this.adaptive.pin(w.stream.id, Date.now(), `not watchable from keyframes: ${reason}`);
      w.mode = 'full';
    }
    this.log.info({ stream: w.stream.id, reason, mode: w.mode }, 'stream sampled by a process of its own');
    if (w.sampler) return;
    this.startSampler(w, w.mode);
  }

  private startSampler(w: Watched, mode: SamplerMode): void {
    if (w.sampler) {
      w.sampler.setMode(mode).catch((err) => this.log.warn({ err, stream: w.stream.id }, 'sampler mode switch failed'));
      return;
    }
    const input = this.inputFor(w.stream);
    if (!input) return;
    const shed = this.opts.shed;
    // The newest media the ingest received: known for RTMP publishes to this gateway (not for pulls from an upstream server).
    const tap = !w.stream.pullUrl && input.kind === 'url' ? w.stream.video : null;
    const sampler = new Sampler({
      streamId: w.stream.id,
      input,
      fps: this.opts.fps,
      width: this.opts.width,
      height: this.opts.height,
      mode,
      ...(this.opts.pixels ? { pixels: this.opts.pixels } : {}),
      stallAfterMs: this.opts.stallAfterMs,
      ffmpeg: this.ffmpeg,
      clock: w.clock,
      ...(shed?.enabled && tap
        ? {
            liveEdgeMs: () => tap.lastDts,
            shed: { rates: [this.opts.modelFps ?? 2], maxLagMs: shed.maxLagMs, recoverAfterMs: shed.recoverAfterMs },
            onShed: (e) => {
              if (e.kind === 'skip_to_live' || e.kind === 'rate_lowered') this.shedTotals[e.kind]++;
            },
          }
        : {}),
      log: (level, msg, detail) => this.log[level]({ stream: w.stream.id, ...detail }, msg),
    });
    sampler.onFrame((frame) => this.handleFrame(w, frame));
    sampler.onStall((signal) => this.onSignal(signal));
    w.sampler = sampler;
    sampler.start().catch((err) => this.log.error({ err, stream: w.stream.id }, 'sampler failed to start'));
  }

  private stopSampler(w: Watched): void {
    const s = w.sampler;
    if (!s) return;
    w.sampler = null;
    this.shedTotals.input_backlog += s.stats().inputChunksShed;
    s.stop().catch((err) => this.log.warn({ err, stream: w.stream.id }, 'sampler stop failed'));
  }

  private inputFor(stream: LiveStream): ConstructorParameters<typeof Sampler>[0]['input'] | null {
    // A stream published to an upstream media server is read back from it (gateway/hooks/).
    if (stream.pullUrl) return { kind: 'url', url: stream.pullUrl };
    if (stream.protocol === 'rtmp' && stream.playPath) return { kind: 'url', url: `rtmp://127.0.0.1:${this.opts.rtmpPort}${stream.playPath}` };
    if (stream.media) {
      const pipe = new PassThrough({ highWaterMark: 1 << 20 });
      const unsubscribe = stream.media.subscribe((chunk) => pipe.write(chunk));
      stream.media.onEnd(() => {
        unsubscribe();
        pipe.end();
      });
      return { kind: 'stream', stream: pipe, format: stream.media.container };
    }
    return null;
  }

  private unwatch(id: string): void {
    this.adaptive?.remove(id);
    this.pool?.forget(id);
    const w = this.watched.get(id);
    if (!w) return;
    this.watched.delete(id);
    w.keyframes?.stop();
    this.stopSampler(w);
  }

  async stop(): Promise<void> {
    if (this.adaptiveTimer) clearInterval(this.adaptiveTimer);
    const samplers = [...this.watched.values()].flatMap((w) => {
      w.keyframes?.stop();
      return w.sampler ? [w.sampler.stop()] : [];
    });
    await Promise.allSettled(samplers);
    this.watched.clear();
    this.pool?.stop();
  }
}
