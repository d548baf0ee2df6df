/**
 * Waiting in tests: on a condition, never for a fixed time, with a deadline generous enough for a loaded
 * 2-core machine (load average 15–20: a step that takes 100 ms on a quiet machine can take several
 * seconds). A passing test waits only as long as the condition takes; the deadline matters only when
 * something is broken, and then the message says what was awaited. How fast things happen is measured
 * in benchmarks (`npm run bench`), not asserted here.
 */

/** The default deadline for anything a test waits on. */
export const DEADLINE_MS = 30_000;

/**
 * For a gateway process to start (`modgate serve`: migrations, the ONNX model in its worker threads, the
 * ffmpeg probe): 7–12 s at load average 17–20 on 2 cores, against ~1.5 s on a quiet machine.
 */
export const START_DEADLINE_MS = 90_000;

export interface WaitOptions {
  /** Give up after this long (default DEADLINE_MS). */
  timeoutMs?: number;
  /** Poll period (default 50 ms). */
  intervalMs?: number;
  /** What is awaited, for the error message: "the refusal record". */
  describe?: string;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `predicate` until it returns a truthy value, and returns that value. */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? DEADLINE_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.describe ?? 'a condition'}`);
    await sleep(opts.intervalMs ?? 50);
  }
}

/** Resolves with `promise`'s value, or rejects naming `what` if it does not settle by the deadline. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
