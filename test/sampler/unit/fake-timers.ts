import type { TimerHandle, Timers } from '../../../gateway/sampler/timers.ts';

/**
 * A fake clock for the sampler's Timers interface: time moves only when a test calls advance(), and the
 * timers due meanwhile fire in order, each at its own time. Promise callbacks queued by a timer run
 * before the next one fires (the sampler chains restarts on promises), so a test reads like a timeline.
 */
export class FakeTimers implements Timers {
  private t: number;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void; every: number | null }>();

  constructor(start = 1_800_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | null): void {
    if (handle) this.pending.delete(handle._timer as number);
  }

  clearInterval(handle: TimerHandle | null): void {
    this.clearTimeout(handle);
  }

  /** Timers not yet fired (intervals count while armed). */
  get armed(): number {
    return this.pending.size;
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void; every: number | null }] | null = null;
      for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = Math.max(this.t, timer.at);
      if (timer.every === null) this.pending.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.t = end;
    await settle();
  }

  /** Advances in `stepMs` steps, calling `each` after every step (e.g. to feed a frame per step). */
  async run(totalMs: number, stepMs: number, each: (elapsedMs: number) => void | Promise<void>): Promise<void> {
    for (let elapsed = stepMs; elapsed <= totalMs; elapsed += stepMs) {
      await this.advance(stepMs);
      await each(elapsed);
    }
  }

  private add(fn: () => void, ms: number, every: number | null): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn, every });
    return { _timer: id };
  }
}

/** Lets queued promise callbacks run (several rounds: chains of awaits). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
