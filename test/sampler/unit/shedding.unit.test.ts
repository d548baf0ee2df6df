import { describe, expect, it } from 'vitest';
import { DEFAULT_SHED, lagBehind, ShedController, type ShedOptions } from '../../../gateway/sampler/shedding.ts';

/** Load shedding as pure state: lag in, decisions out, times made up. No ffmpeg, no clock. */

const opts = (o: Partial<ShedOptions> = {}): ShedOptions => ({
  ...DEFAULT_SHED,
  rates: [10, 2],
  maxLagMs: 2_500,
  // Most cases here judge single frames; the sustained window has its own cases.
  sustainMs: 0,
  calmLagMs: 1_000,
  recoverAfterMs: 20_000,
  maxRecoverAfterMs: 80_000,
  failedRaiseMs: 60_000,
  settleMs: 4_000,
  maxSettleMs: 16_000,
  ...o,
});

/** Feeds one frame every 100 ms with lag `lag(t)` from `from` to `to`; returns the actions taken, with their times. */
function drive(c: ShedController, from: number, to: number, lag: (t: number) => number) {
  const out: Array<{ at: number; kind: string; fps: number }> = [];
  for (let t = from; t < to; t += 100) {
    const a = c.observe(lag(t), t);
    if (a) out.push({ at: t, kind: a.kind, fps: a.fps });
  }
  return out;
}

describe('ShedController: stale frames are dropped, not queued', () => {
  it('a decoder keeping up is left alone, at the configured rate', () => {
    const c = new ShedController(opts());
    expect(drive(c, 0, 60_000, () => 300)).toEqual([]);
    expect(c.state()).toMatchObject({ fps: 10, level: 0, skips: 0, raises: 0, lagMs: 300 });
  });

  it('more than maxLagMs behind live: skip to the live edge and hash at the lower rate', () => {
    const c = new ShedController(opts());
    expect(c.observe(2_400, 0)).toBeNull();
    expect(c.observe(2_600, 100)).toEqual({ kind: 'skip', fps: 2, reason: 'lag', lagMs: 2_600 });
    expect(c.state()).toMatchObject({ fps: 2, level: 1, skips: 1 });
  });

  it('behind for sustainMs without catching up: skip; a decoder gaining on live through a burst is left to finish it', () => {
    const slipping = new ShedController(opts({ sustainMs: 1_000 }));
    // 3 s behind and slipping further: skipped once it has been so for a second.
    expect(drive(slipping, 0, 3_000, (t) => 3_000 + t / 10)).toEqual([{ at: 1_000, kind: 'skip', fps: 2 }]);
    const catching = new ShedController(opts({ sustainMs: 1_000 }));
    // A fresh decoder's GOP replay: 4 s behind, gaining 2 ms a ms (3× real time), live within 2 s.
    expect(drive(catching, 0, 2_000, (t) => 4_000 - 2 * t)).toEqual([]);
    expect(drive(catching, 2_000, 10_000, () => 200)).toEqual([]);
  });

  it('after a skip, the restarted decoder has settleMs before the next decision (its GOP replay is late by design)', () => {
    const c = new ShedController(opts());
    c.observe(5_000, 0);
    expect(c.observe(5_000, 3_900)).toBeNull();
    // Still behind once settled: at the floor the rate stays, the skip repeats so the lag stays bounded.
    expect(c.observe(5_000, 4_000)).toEqual({ kind: 'skip', fps: 2, reason: 'lag', lagMs: 5_000 });
    expect(c.state()).toMatchObject({ fps: 2, level: 1, skips: 2 });
  });

  it('behind again and again without keeping up in between: the restarts back off (4, 8, 16, 16 s), and keeping up resets that', () => {
    const c = new ShedController(opts());
    const skips = drive(c, 0, 60_000, () => 9_000).map((a) => a.at);
    expect(skips.slice(0, 5)).toEqual([0, 4_000, 12_000, 28_000, 44_000]);
    c.observe(100, 60_000);
    expect(c.observe(9_000, 76_000)?.kind).toBe('skip');
    // Settled again after 4 s, not 16.
    expect(c.observe(9_000, 80_000)?.kind).toBe('skip');
  });

  it('a decoder restarted for another reason (an exit, a stall) settles too', () => {
    const c = new ShedController(opts());
    c.restarted(1_000);
    expect(c.observe(9_000, 2_000)).toBeNull();
    expect(c.observe(9_000, 5_000)?.kind).toBe('skip');
  });

  it('lag between calmLagMs and maxLagMs neither sheds nor counts as keeping up', () => {
    const c = new ShedController(opts());
    c.observe(3_000, 0);
    expect(drive(c, 4_000, 100_000, () => 1_500)).toEqual([]);
    expect(c.fps).toBe(2);
  });

  it('keeping up for recoverAfterMs raises the rate back', () => {
    const c = new ShedController(opts());
    c.observe(3_000, 0);
    const actions = drive(c, 4_000, 60_000, () => 200);
    expect(actions).toEqual([{ at: 24_000, kind: 'raise', fps: 10 }]);
    expect(c.state()).toMatchObject({ fps: 10, level: 0, raises: 1 });
  });

  it('a raise that falls behind again soon doubles the wait before the next, up to maxRecoverAfterMs', () => {
    const c = new ShedController(opts());
    c.observe(3_000, 0);
    let t = 4_000;
    const waits: number[] = [];
    for (let round = 0; round < 4; round++) {
      const calmFrom = t;
      const raised = drive(c, t, t + 200_000, () => 200).find((a) => a.kind === 'raise')!;
      waits.push(raised.at - calmFrom);
      // The node cannot afford the higher rate: behind again once the raise has settled.
      t = raised.at + 5_000;
      expect(c.observe(3_000, t)?.kind).toBe('skip');
      t += 4_000;
    }
    expect(waits).toEqual([20_000, 40_000, 80_000, 80_000]);
  });

  it('a shed long after the last raise does not count it as failed', () => {
    const c = new ShedController(opts());
    c.observe(3_000, 0);
    const raised = drive(c, 4_000, 60_000, () => 200)[0]!;
    expect(c.observe(3_000, raised.at + 61_000)?.kind).toBe('skip');
    expect(c.state().recoverAfterMs).toBe(20_000);
  });

  it('one rate only: skips still bound the lag, the rate never changes', () => {
    const c = new ShedController(opts({ rates: [2] }));
    expect(c.observe(3_000, 0)).toEqual({ kind: 'skip', fps: 2, reason: 'lag', lagMs: 3_000 });
    expect(drive(c, 4_000, 100_000, () => 100)).toEqual([]);
  });

  it('refuses nonsense rates', () => {
    expect(() => new ShedController(opts({ rates: [] }))).toThrow(RangeError);
    expect(() => new ShedController(opts({ rates: [10, 0] }))).toThrow(RangeError);
  });
});

describe('lagBehind: newest media received minus the frame, on the publisher clock', () => {
  it('is the difference, never negative (a B-frame pts sits after the newest dts), null when the newest is unknown', () => {
    expect(lagBehind(10_000, 7_500)).toBe(2_500);
    expect(lagBehind(10_000, 10_066)).toBe(0);
    expect(lagBehind(null, 5)).toBeNull();
    expect(lagBehind(Number.NaN, 5)).toBeNull();
  });
});
