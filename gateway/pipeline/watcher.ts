import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { ClassifierStage } from '../../classifiers/stage.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { LiveRegistry, LiveStream } from '../live/registry.ts';
import type { FfmpegInfo } from '../media/ffmpeg-path.ts';
import { Sampler, type SamplerMode } from '../sampler/sampler.ts';

export interface WatcherOptions {
  rtmpPort: number;
  fps: number;
  width: number;
  height: number;
  mode: SamplerMode;
  stallAfterMs: number;
}

/**
 * The data flow gateway → classifiers → policy, per live stream: a sampler starts the moment a publish is
 * accepted, each frame goes through the classifier stage, and every signal (stalls included) goes to the
 * policy runner, whose decisions come back to the gateway as cuts.
 */
export class StreamWatcher {
  private readonly samplers = new Map<string, Sampler>();

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
      mode: this.opts.mode,
      stallAfterMs: this.opts.stallAfterMs,
      ffmpeg: this.ffmpeg,
      log: (level, msg, detail) => this.log[level]({ stream: stream.id, ...detail }, msg),
    });
    sampler.onFrame(async (frame) => {
      const signals = await this.stage.process(frame);
      for (const s of signals) this.onSignal(s);
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
    const sampler = this.samplers.get(id);
    if (!sampler) return;
    this.samplers.delete(id);
    sampler.stop().catch((err) => this.log.warn({ err, stream: id }, 'sampler stop failed'));
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.samplers.values()].map((s) => s.stop()));
    this.samplers.clear();
  }
}
