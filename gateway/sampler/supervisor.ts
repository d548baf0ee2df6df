import { Backoff } from './backoff.ts';
import type { LaunchedProcess } from './ffmpeg-process.ts';
import { delay, type TimerHandle, type Timers } from './timers.ts';

/**
 * Lifecycle of a sampler's ffmpeg: one run at a time; a run that dies or stalls is replaced after a
 * capped, jittered backoff (backoff.ts); a run that delivered frames for `healthyAfterMs` resets the
 * backoff; a deliberate replacement (mode switch) or stop kills the run and waits for its exit, which is
 * then expected and not a failure. What a run *is* (its flags, its pipes, its frames) belongs to the
 * caller's `launch`; this module only decides when runs start and end.
 */

/** The supervisor's view of one run. The caller's run type extends it with what it needs per run. */
export interface SupervisedRun {
  readonly id: number;
  /** Wall time the run was launched. */
  readonly startedAt: number;
  /** Set once this run is being replaced or stopped: its exit is expected and not a stall. */
  retired: boolean;
  exited: boolean;
  /** Wall time of the run's first delivered frame. */
  firstFrameAt: number | null;
  /** Delivered frames for healthyAfterMs: the backoff was reset. */
  healthy: boolean;
  proc: LaunchedProcess | null;
}

export interface SupervisorOptions<R extends SupervisedRun> {
  timers: Timers;
  backoff: Backoff;
  /** A run that has delivered frames this long resets the backoff. */
  healthyAfterMs: number;
  /** Starts a run: `base` (id and start time) plus whatever the caller keeps per run, process launched. */
  launch: (base: SupervisedRun) => R;
  /** Called when the retired run is being killed (the caller drops its per-run state). */
  onRetire?: (run: R) => void;
  log?: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
}

/** Never hang stop() on a process that will not report its exit. */
const EXIT_WAIT_MS = 3_000;

export class Supervisor<R extends SupervisedRun> {
  private run: R | null = null;
  private counter = 0;
  private restartTimer: TimerHandle | null = null;
  private readonly exitWaiters = new WeakMap<R, Array<() => void>>();
  private stopped = false;
  /** Runs started after an exit or stall (deliberate replacements not counted). */
  restarts = 0;

  constructor(private readonly o: SupervisorOptions<R>) {}

  get current(): R | null {
    return this.run;
  }

  get restartPending(): boolean {
    return this.restartTimer !== null;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Consecutive failures the backoff has counted. */
  get failures(): number {
    return this.o.backoff.failures;
  }

  /** Launches a run now (the first one, or a replacement once the old one is gone). */
  start(): R | null {
    if (this.stopped) return null;
    const run = this.o.launch({
      id: ++this.counter,
      startedAt: this.o.timers.now(),
      retired: false,
      exited: false,
      firstFrameAt: null,
      healthy: false,
      proc: null,
    });
    this.run = run;
    return run;
  }

  /** Kills a run on purpose (mode switch, stall, stop) and resolves once it has exited. */
  retire(run: R): Promise<void> {
    run.retired = true;
    this.o.onRetire?.(run);
    if (run.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.exitWaiters.get(run) ?? [];
      waiters.push(resolve);
      this.exitWaiters.set(run, waiters);
      run.proc?.kill();
      void delay(this.o.timers, EXIT_WAIT_MS).then(resolve);
    });
  }

  /**
   * The run's process ended. Returns whether the exit is news to the caller: false for a run that
   * was retired, replaced, stopped, or had already been reported.
   */
  exited(run: R): boolean {
    if (run.exited) return false;
    run.exited = true;
    for (const w of this.exitWaiters.get(run)?.splice(0) ?? []) w();
    return !(run.retired || this.stopped || run !== this.run);
  }

  /** Starts the next run after the backoff delay (once; a pending restart is not doubled). */
  scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const delayMs = this.o.backoff.next();
    this.o.log?.('info', 'sampler restart scheduled', { delayMs, failures: this.o.backoff.failures });
    this.restartTimer = this.o.timers.setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped) return;
      this.restarts += 1;
      this.start();
    }, delayMs);
  }

  /** A stalled run: kill it, then restart after the backoff (unless it was replaced meanwhile). */
  async recycle(run: R): Promise<void> {
    await this.retire(run);
    if (this.run === run) this.scheduleRestart();
  }

  /**
   * Replaces the current run at once (not a failure; the backoff is not consulted). With a restart
   * already pending, that restart will do. Resolves once the old run has exited and the new one is launched.
   */
  async replace(): Promise<void> {
    if (this.stopped || this.restartTimer) return;
    const old = this.run;
    if (old) await this.retire(old);
    if (!this.stopped && this.run === old) this.start();
  }

  /** The run delivered a frame at `at`: its first marks the start done; a long healthy run resets the backoff. */
  delivered(run: R, at: number): void {
    run.firstFrameAt ??= at;
    if (!run.healthy && at - run.firstFrameAt >= this.o.healthyAfterMs) {
      run.healthy = true;
      this.o.backoff.reset();
    }
  }

  /** No more runs: cancels a pending restart, kills the current run and waits for its exit. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.o.timers.clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const run = this.run;
    if (run) await this.retire(run);
  }
}
