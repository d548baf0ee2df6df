import type { Frame } from '../../classifiers/frame.ts';

/**
 * One decoded frame to every consumer of a stream, with backpressure per consumer: a consumer that has
 * `maxInFlight` frames unsettled (async models still working) misses the next frame instead of queueing
 * it, so a slow classifier costs its own frames and never memory or another consumer's frames. Used by
 * both samplers (sampler.ts and keyframe-sampler.ts). Nothing a consumer does reaches the sampler: a
 * throw or a rejection is counted and the frame goes on to the others.
 */

export type FrameConsumer = (frame: Frame) => void | Promise<unknown>;

interface Consumer {
  cb: FrameConsumer;
  inFlight: number;
}

export class FrameFanOut {
  private readonly consumers = new Set<Consumer>();
  private readonly maxInFlight: number;
  /** Deliveries skipped because that consumer had maxInFlight frames unsettled. */
  dropped = 0;
  /** Consumers that threw or rejected. */
  consumerErrors = 0;

  constructor(maxInFlight = 2) {
    this.maxInFlight = Math.max(1, maxInFlight);
  }

  add(cb: FrameConsumer): () => void {
    const c: Consumer = { cb, inFlight: 0 };
    this.consumers.add(c);
    return () => this.consumers.delete(c);
  }

  get size(): number {
    return this.consumers.size;
  }

  deliver(frame: Frame): void {
    for (const c of this.consumers) this.deliverTo(c, frame);
  }

  private deliverTo(c: Consumer, frame: Frame): void {
    if (c.inFlight >= this.maxInFlight) {
      this.dropped += 1;
      return;
    }
    let result: void | Promise<unknown>;
    try {
      result = c.cb(frame);
    } catch {
      this.consumerErrors += 1;
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
          this.consumerErrors += 1;
        },
      );
    }
  }
}

/** Event listeners (stalls, ends, give-ups) whose failures are their own: counted, never thrown back. */
export class Listeners<T extends unknown[]> {
  private readonly set = new Set<(...args: T) => void>();
  errors = 0;

  add(cb: (...args: T) => void): () => void {
    this.set.add(cb);
    return () => this.set.delete(cb);
  }

  emit(...args: T): void {
    for (const cb of this.set) {
      try {
        cb(...args);
      } catch {
        this.errors += 1;
      }
    }
  }
}
