import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { ClassifierStage } from '../../classifiers/stage.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { LiveRegistry, LiveStream } from '../live/registry.ts';
import type { FfmpegInfo } from '../media/ffmpeg-path.ts';
import { Sampler, type SamplerMode } from '../sampler/sampler.ts';
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
}

/** How often calm escalated streams are looked for (adaptive mode). */
const ADAPTIVE_TICK_MS = 1_000;

/**
 * The data flow gateway → classifiers → policy, per live stream: a sampler starts the moment a publish is
 * accepted, each frame goes through the classifier stage, and every signal (stalls included) goes to the
 * policy runner, whose decisions come back to the gateway as cuts.
 */
export class StreamWatcher {
  private readonly samplers = new Map<string, Sampler>();
  /** Adaptive mode only: which streams decode every frame and which keyframes only. */
  readonly adaptive: AdaptiveController | null;
  private readonly adaptiveTimer: NodeJS.Timeout | null = null;
  private readonly modeListeners = new Set<(change: ModeChange) => void>();

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

  adaptiveStats(): AdaptiveStats | null {
    return this.adaptive?.stats() ?? null;
  }

  private apply(changes: ModeChange[]): void {
    for (const c of changes) {
      const sampler = this.samplers.get(c.streamId);
      if (!sampler) continue;
      this.log.info({ stream: c.streamId, mode: c.mode, reason: c.reason }, c.mode === 'full' ? 'sampling escalated to full rate' : 'sampling back to keyframes');
      sampler.setMode(c.mode).catch((err) => this.log.warn({ err, stream: c.streamId }, 'sampler mode switch failed'));
      for (const cb of this.modeListeners) {
        try {
          cb(c);
        } catch (err) {
          this.log.warn({ err }, 'mode change listener failed');
        }
      }
    }
  }

  get count(): number {
    return this.samplers.size;
  }

  sampler(streamId: string): Sampler | undefined {
    return this.samplers.get(streamId);
  }

  private watch(stream: LiveStream): void {
    const input = this.inputFor(stream);
    if (!input) return;
    const sampler = new Sampler({
      streamId: stream.id,
      input,
      fps: this.opts.fps,
      width: this.opts.width,
      height: this.opts.height,
      mode: this.adaptive ? this.adaptive.add(stream.id, Date.now()) : (this.opts.mode as SamplerMode),
      stallAfterMs: this.opts.stallAfterMs,
      ffmpeg: this.ffmpeg,
      log: (level, msg, detail) => this.log[level]({ stream: stream.id, ...detail }, msg),
    });
    sampler.onFrame(async (frame) => {
      const signals = await this.stage.process(frame);
      for (const s of signals) {
        // Policy first: the adaptive switch (an ffmpeg restart) must never delay a decision.
        this.onSignal(s);
        if (this.adaptive) this.apply(this.adaptive.observe(s, Date.now()));
      }
    });
    sampler.onStall((signal) => this.onSignal(signal));
    this.samplers.set(stream.id, sampler);
    sampler.start().catch((err) => this.log.error({ err, stream: stream.id }, 'sampler failed to start'));
  }

  private inputFor(stream: LiveStream): ConstructorParameters<typeof Sampler>[0]['input'] | null {
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
    const sampler = this.samplers.get(id);
    if (!sampler) return;
    this.samplers.delete(id);
    sampler.stop().catch((err) => this.log.warn({ err, stream: id }, 'sampler stop failed'));
  }

  async stop(): Promise<void> {
    if (this.adaptiveTimer) clearInterval(this.adaptiveTimer);
    await Promise.allSettled([...this.samplers.values()].map((s) => s.stop()));
    this.samplers.clear();
  }
}
