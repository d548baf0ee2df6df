/**
 * The clock and timers the sampler runs on, injected so supervision, the stall watchdog and the timeline
 * are tested on a fake clock without processes (test/sampler/unit/fake-timers.ts).
 */
export interface TimerHandle {
  readonly _timer: unknown;
}

export interface TimerOptions {
  /** Do not keep the process alive for this timer (safety nets, watchdogs). */
  unref?: boolean;
}

export interface Timers {
  /** Wall clock, epoch ms. */
  now(): number;
  setTimeout(fn: () => void, ms: number, opts?: TimerOptions): TimerHandle;
  clearTimeout(handle: TimerHandle | null): void;
  /** Intervals are watchdogs: never ref'd. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | null): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout(fn, ms, opts) {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return { _timer: t };
  },
  clearTimeout(handle) {
    if (handle) clearTimeout(handle._timer as NodeJS.Timeout);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return { _timer: t };
  },
  clearInterval(handle) {
    if (handle) clearInterval(handle._timer as NodeJS.Timeout);
  },
};

/** A promise that resolves after `ms` on the given timers (not keeping the process alive). */
export function delay(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms, { unref: true }));
}
