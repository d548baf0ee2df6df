import { describe, expect, it } from 'vitest';
import { keyframeTooSoon, MediaTimeline, newStreamClock, placeKeyframe, PtsPairer, SlotFilter, TIMELINE_RESET_MS } from '../../../gateway/sampler/timeline.ts';

/** The media timeline as pure state: pts pairing, follower slots, media time across restarts. No ffmpeg. */

const px = (v: number) => Buffer.from([v]);
const values = (frames: Array<{ rgb: Buffer }>) => frames.map((f) => f.rgb[0]);

describe('PtsPairer: frames meet their showinfo pts by output index', () => {
  it('a frame waits for its pts line, and is released the moment the line comes', () => {
    const p = new PtsPairer(2);
    expect(p.frame(px(1), 1000)).toEqual([]);
    expect(p.waiting).toBe(1);
    expect(p.report(0, 5000)).toEqual([{ rgb: px(1), receivedAt: 1000, ptsMs: 5000, estimated: false }]);
    expect(p.waiting).toBe(0);
  });

  it('a pts line that comes before its pixels pairs with them when they arrive', () => {
    const p = new PtsPairer(2);
    expect(p.report(0, 0)).toEqual([]);
    expect(p.report(1, 500)).toEqual([]);
    expect(p.frame(px(1), 10).map((f) => f.ptsMs)).toEqual([0]);
    expect(p.frame(px(2), 20).map((f) => f.ptsMs)).toEqual([500]);
  });

  it('frames leave in order: a later line does not overtake a frame still waiting for its own', () => {
    const p = new PtsPairer(2);
    p.frame(px(1), 1);
    p.frame(px(2), 2);
    expect(p.report(1, 500)).toEqual([]);
    expect(values(p.report(0, 0))).toEqual([1, 2]);
  });

  it('a lost line: forcing estimates the pts at the nominal rate from the previous frame', () => {
    const p = new PtsPairer(2);
    p.frame(px(1), 1);
    p.report(0, 4000);
    p.frame(px(2), 2);
    p.frame(px(3), 3);
    const forced = p.flush(true);
    expect(forced.map((f) => [f.ptsMs, f.estimated])).toEqual([
      [4500, true],
      [5000, true],
    ]);
    // The late line for an already estimated frame changes nothing.
    expect(p.report(1, 4499)).toEqual([]);
    expect(p.waiting).toBe(0);
  });

  it('the very first frame without a line is placed at 0; clear() forgets everything', () => {
    const p = new PtsPairer(4);
    p.frame(px(1), 1);
    expect(p.flush(true).map((f) => f.ptsMs)).toEqual([0]);
    p.frame(px(2), 2);
    p.clear();
    expect(p.waiting).toBe(0);
    expect(p.flush(true)).toEqual([]);
    expect(p.frames).toBe(2);
  });
});

describe('SlotFilter: one frame per 1/fps slot', () => {
  it("drops the follower in the same slot and keeps the next slot's first frame", () => {
    const s = new SlotFilter(2);
    expect([0, 33, 500, 533, 1000, 1499, 1500].map((t) => s.isFollower(t))).toEqual([false, true, false, true, false, true, false]);
  });
});

describe('MediaTimeline: media time from the first sampled frame, continuous across restarts', () => {
  it('starts at 0 at the first frame whatever the publisher clock reads, numbering from 0', () => {
    const t = new MediaTimeline();
    expect(t.place(73_000, 1, false)).toEqual({ kind: 'frame', seq: 0, mediaTimeMs: 0 });
    expect(t.place(73_500, 2, true)).toEqual({ kind: 'frame', seq: 1, mediaTimeMs: 500 });
    expect(t.lastMediaTimeMs).toBe(500);
    expect(t.lastFrameAt).toBe(2);
  });

  it("a restarted run replaying already-sampled media (the server's GOP cache) is skipped, then continues", () => {
    const t = new MediaTimeline();
    for (const [i, pts] of [10_000, 10_500, 11_000, 11_500].entries()) t.place(pts, i, i > 0);
    // New run: the GOP cache sends 10.0–11.5 s again before live media.
    expect(t.place(10_000, 100, false)).toEqual({ kind: 'replay' });
    expect(t.place(11_500, 101, false)).toEqual({ kind: 'replay' });
    expect(t.place(12_000, 102, false)).toEqual({ kind: 'frame', seq: 4, mediaTimeMs: 2000 });
  });

  it("pts going back within a run (the publisher's clock restarted) rebases by the wall time between frames", () => {
    const t = new MediaTimeline();
    t.place(50_000, 1_000, false);
    t.place(50_500, 1_500, true);
    // The publisher reconnected with its clock at 0, 700 ms of wall time later.
    expect(t.place(0, 2_200, true)).toEqual({ kind: 'frame', seq: 2, mediaTimeMs: 1200 });
    expect(t.place(500, 2_700, true)).toEqual({ kind: 'frame', seq: 3, mediaTimeMs: 1700 });
  });

  it('a new run far behind the last frame is a new publisher clock, not a replay', () => {
    const t = new MediaTimeline();
    t.place(TIMELINE_RESET_MS + 10_000, 1_000, false);
    t.place(TIMELINE_RESET_MS + 20_000, 11_000, true);
    const next = t.place(0, 12_000, false);
    expect(next).toEqual({ kind: 'frame', seq: 2, mediaTimeMs: 11_000 });
  });

  it('a shared StreamClock continues numbering and media time from one sampler of the stream to the next', () => {
    const clock = newStreamClock();
    const a = new MediaTimeline(clock);
    a.place(5_000, 1, false);
    a.place(5_500, 2, true);
    const b = new MediaTimeline(clock);
    expect(b.place(5_500, 3, false)).toEqual({ kind: 'replay' });
    expect(b.place(6_000, 4, false)).toEqual({ kind: 'frame', seq: 2, mediaTimeMs: 1000 });
    expect(clock).toEqual({ originMs: 5_000, nextSeq: 3, lastMediaTimeMs: 1000 });
  });

  it('the same picture over and over is still a new frame every slot (time moves, content does not matter)', () => {
    const t = new MediaTimeline();
    const placed = Array.from({ length: 240 }, (_, i) => t.place(i * 500, i * 500, i > 0));
    expect(placed.every((p) => p.kind === 'frame')).toBe(true);
    expect(t.lastMediaTimeMs).toBe(239 * 500);
  });
});

describe('keyframe pictures on the stream clock', () => {
  it('placeKeyframe starts at 0, skips pictures at or before the last delivered time, and numbers on', () => {
    const clock = newStreamClock();
    expect(placeKeyframe(clock, 2_000)).toEqual({ seq: 0, mediaTimeMs: 0 });
    expect(placeKeyframe(clock, 4_000)).toEqual({ seq: 1, mediaTimeMs: 2000 });
    expect(placeKeyframe(clock, 4_000)).toBeNull();
    expect(placeKeyframe(clock, 3_000)).toBeNull();
    expect(placeKeyframe(clock, 6_000)).toEqual({ seq: 2, mediaTimeMs: 4000 });
  });

  it('keyframeTooSoon caps the rate at fps; a keyframe behind the last one (clock reset) is not capped', () => {
    expect(keyframeTooSoon(null, 0, 2)).toBe(false);
    expect(keyframeTooSoon(1_000, 1_400, 2)).toBe(true);
    expect(keyframeTooSoon(1_000, 1_500, 2)).toBe(false);
    expect(keyframeTooSoon(1_000, 200, 2)).toBe(false);
  });
});
