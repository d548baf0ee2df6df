import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../gateway/sampler/backoff.ts';
import type { LaunchedProcess } from '../../../gateway/sampler/ffmpeg-process.ts';
import { Supervisor, type SupervisedRun } from '../../../gateway/sampler/supervisor.ts';
import { FakeTimers, settle } from './fake-timers.ts';

/** Process supervision on a fake clock: restarts after backoff, healthy resets, deliberate replacements. No processes. */

interface TestRun extends SupervisedRun {
  kills: number;
}

function setup(o: { exitOnKill?: boolean } = {}) {
  const timers = new FakeTimers();
  const launched: TestRun[] = [];
  const retired: number[] = [];
  // No jitter: delays 100, 200, 400, 800, 800…
  const sup: Supervisor<TestRun> = new Supervisor<TestRun>({
    timers,
    backoff: new Backoff({ initialMs: 100, maxMs: 800, factor: 2, jitter: 0 }),
    healthyAfterMs: 10_000,
    launch: (base) => {
      const run: TestRun = { ...base, kills: 0 };
      const proc: LaunchedProcess = {
        pid: 1000 + base.id,
        drained: Promise.resolve(),
        kill: () => {
          run.kills++;
          if (o.exitOnKill ?? true) queueMicrotask(() => sup.exited(run));
        },
      };
      run.proc = proc;
      launched.push(run);
      return run;
    },
    onRetire: (run) => retired.push(run.id),
  });
  return { timers, sup, launched, retired };
}

describe('Supervisor', () => {
  it('an unexpected exit is news; the restart comes after the backoff delay, growing per failure', async () => {
    const { timers, sup, launched } = setup();
    const first = sup.start()!;
    expect(sup.exited(first)).toBe(true);
    expect(sup.exited(first)).toBe(false);
    sup.scheduleRestart();
    sup.scheduleRestart(); // not doubled
    await timers.advance(99);
    expect(launched).toHaveLength(1);
    await timers.advance(1);
    expect(launched).toHaveLength(2);
    expect(sup.restarts).toBe(1);
    sup.exited(sup.current!);
    sup.scheduleRestart();
    await timers.advance(199);
    expect(launched).toHaveLength(2);
    await timers.advance(1);
    expect(launched).toHaveLength(3);
    expect(sup.failures).toBe(2);
  });

  it('a run that delivered frames for healthyAfterMs resets the backoff', async () => {
    const { timers, sup } = setup();
    let run = sup.start()!;
    for (let i = 0; i < 3; i++) {
      sup.exited(run);
      sup.scheduleRestart();
      await timers.advance(1_000);
      run = sup.current!;
    }
    expect(sup.failures).toBe(3);
    sup.delivered(run, timers.now());
    await timers.advance(9_999);
    sup.delivered(run, timers.now());
    expect(run.healthy).toBe(false);
    await timers.advance(1);
    sup.delivered(run, timers.now());
    expect(run.healthy).toBe(true);
    expect(sup.failures).toBe(0);
  });

  it('a stalled run is killed and, once it has exited, replaced after the backoff; its exit is not news', async () => {
    const { timers, sup, launched, retired } = setup();
    const run = sup.start()!;
    const recycled = sup.recycle(run);
    await settle();
    expect(run.kills).toBe(1);
    expect(retired).toEqual([1]);
    expect(run.exited).toBe(true);
    await recycled;
    expect(sup.restartPending).toBe(true);
    await timers.advance(100);
    expect(launched).toHaveLength(2);
    expect(sup.restarts).toBe(1);
  });

  it('replace() switches runs at once without a restart count or backoff; it defers to a pending restart', async () => {
    const { timers, sup, launched } = setup();
    sup.start();
    await sup.replace();
    expect(launched).toHaveLength(2);
    expect(sup.restarts).toBe(0);
    expect(sup.failures).toBe(0);
    sup.exited(sup.current!);
    sup.scheduleRestart();
    await sup.replace();
    expect(launched).toHaveLength(2);
    await timers.advance(100);
    expect(launched).toHaveLength(3);
  });

  it('a process that never reports its exit does not hang retire(): the wait gives up after 3 s', async () => {
    const { timers, sup } = setup({ exitOnKill: false });
    const run = sup.start()!;
    let done = false;
    void sup.retire(run).then(() => (done = true));
    await timers.advance(2_999);
    expect(done).toBe(false);
    await timers.advance(1);
    expect(done).toBe(true);
  });

  it('stop() cancels a pending restart and kills the current run; nothing starts afterwards', async () => {
    const { timers, sup, launched } = setup();
    const run = sup.start()!;
    sup.exited(run);
    sup.scheduleRestart();
    await sup.stop();
    await timers.advance(60_000);
    expect(launched).toHaveLength(1);
    expect(sup.start()).toBeNull();
    expect(timers.armed).toBe(0);
  });
});
