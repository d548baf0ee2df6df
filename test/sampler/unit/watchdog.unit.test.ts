import { describe, expect, it } from 'vitest';
import { StallWatchdog, watchdogOptions } from '../../../gateway/sampler/watchdog.ts';
import { FakeTimers } from './fake-timers.ts';

/** Stall detection as numbers on a fake clock: limits per mode, the first-frame grace and its escalation. */

const T0 = 1_000_000;

describe('StallWatchdog', () => {
  it("a running run stalls once no frame came for the mode's limit (keyframe mode allows longer)", () => {
    const w = new StallWatchdog(watchdogOptions({ stallAfterMs: 5_000, hostLoad: () => 0 }), new FakeTimers());
    const run = { startedAt: T0, firstFrameAt: T0 + 1_000 };
    const last = T0 + 20_000;
    expect(w.check(last + 4_999, 'full', run, last)).toBeNull();
    expect(w.check(last + 5_000, 'full', run, last)).toEqual({ phase: 'running', graceMs: 5_000 });
    expect(w.check(last + 11_999, 'keyframe', run, last)).toBeNull();
    expect(w.check(last + 12_000, 'keyframe', run, last)).toEqual({ phase: 'running', graceMs: 12_000 });
  });

  it('a starting run gets the first-frame grace, doubled after each start that failed, capped, reset by a first frame', () => {
    const w = new StallWatchdog(
      watchdogOptions({ stallAfterMs: 500, firstFrameTimeoutMs: 1_000, maxFirstFrameTimeoutMs: 5_000, hostLoad: () => 0 }),
      new FakeTimers(),
    );
    const graces: number[] = [];
    for (let i = 0; i < 5; i++) {
      const run = { startedAt: T0, firstFrameAt: null };
      const grace = w.firstFrameGraceMs(500);
      expect(w.check(T0 + grace - 1, 'full', run, null)).toBeNull();
      const f = w.check(T0 + grace, 'full', run, null);
      expect(f?.phase).toBe('startup');
      graces.push(f!.graceMs);
    }
    expect(graces).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(w.startupFailures).toBe(5);
    w.firstFrame();
    expect(w.startupFailures).toBe(0);
    expect(w.firstFrameGraceMs(500)).toBe(1_000);
  });

  it('the grace stretches with the host load (clamped to 4x); a failing load probe counts as 1', () => {
    const loaded = new StallWatchdog(watchdogOptions({ stallAfterMs: 500, firstFrameTimeoutMs: 3_000, hostLoad: () => 6 }), new FakeTimers());
    expect(loaded.firstFrameGraceMs(500)).toBe(12_000);
    const half = new StallWatchdog(watchdogOptions({ stallAfterMs: 500, firstFrameTimeoutMs: 3_000, hostLoad: () => 1.5 }), new FakeTimers());
    expect(half.firstFrameGraceMs(500)).toBe(4_500);
    const broken = new StallWatchdog(
      watchdogOptions({
        stallAfterMs: 500,
        firstFrameTimeoutMs: 3_000,
        hostLoad: () => {
          throw new Error('no /proc');
        },
      }),
      new FakeTimers(),
    );
    expect(broken.firstFrameGraceMs(500)).toBe(3_000);
    expect(broken.hostLoad()).toBe(1);
  });

  it('defaults: 5 s running, 12 s keyframe, 8 s first frame, 60 s cap', () => {
    const o = watchdogOptions({});
    expect(o).toMatchObject({ stallAfterMs: 5_000, keyframeStallAfterMs: 12_000, firstFrameTimeoutMs: 8_000, maxFirstFrameTimeoutMs: 60_000 });
  });

  it('armed, it checks every quarter of the limit (at most 1 s) on the injected clock until disarmed', async () => {
    const timers = new FakeTimers();
    const w = new StallWatchdog(watchdogOptions({ stallAfterMs: 2_000 }), timers);
    let checks = 0;
    w.arm(() => checks++);
    await timers.advance(5_000);
    expect(checks).toBe(10);
    w.disarm();
    await timers.advance(5_000);
    expect(checks).toBe(10);
    expect(timers.armed).toBe(0);
  });
});
