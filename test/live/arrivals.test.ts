import { describe, expect, it } from 'vitest';
import { ArrivalIndex } from '../../gateway/live/arrivals.ts';

describe("ArrivalIndex: when a frame's video message reached the gateway", () => {
  it("answers the arrival of the message at the frame's timestamp, or the newest one before it within the tolerance", () => {
    const a = new ArrivalIndex(16);
    // 30 fps: a message every 33 ms, arriving 1 s of wall time after its timestamp.
    for (let dts = 0; dts <= 330; dts += 33) a.note(dts, 1_000 + dts);
    expect(a.arrivalOf(99)).toBe(1_099);
    expect(a.arrivalOf(100)).toBe(1_099); // between messages: the one it was decoded from came first
    expect(a.arrivalOf(330)).toBe(1_330);
    expect(a.arrivalOf(500, 200)).toBe(1_330);
    expect(a.arrivalOf(600, 200)).toBeNull(); // 270 ms past the newest: not a message this index saw
    expect(a.arrivalOf(-1)).toBeNull(); // before the first
  });

  it('forgets what the ring no longer holds; after a publisher clock restart a frame still on the old clock gets no arrival, never a wrong one', () => {
    const a = new ArrivalIndex(4);
    for (const dts of [1_000, 1_033, 1_066, 1_099, 1_132, 1_165]) a.note(dts, 5_000 + dts);
    expect(a.arrivalOf(1_033)).toBeNull(); // overwritten
    expect(a.arrivalOf(1_066)).toBe(6_066);
    // The publisher's clock restarts at 0.
    a.note(0, 9_000);
    a.note(33, 9_033);
    expect(a.arrivalOf(33)).toBe(9_033);
    expect(a.arrivalOf(1_132)).toBeNull(); // the newest message at or before it is 1.1 s older: unknown
  });

  it('with B-frames (arrival in decode order) a frame is matched to the message that carried it, not a later one', () => {
    const a = new ArrivalIndex();
    // Decode order I0 P100 B33 B66 P200 B133 B166, one message every 10 ms.
    [0, 100, 33.333, 66.667, 200, 133.333, 166.667].forEach((pts, n) => a.note(pts, 7_000 + 10 * n));
    expect(a.arrivalOf(100)).toBe(7_010); // P100 arrived before B33 and B66
    expect(a.arrivalOf(66.6667)).toBe(7_030); // a decoder's rounding of the same pts
    expect(a.arrivalOf(133.333)).toBe(7_050);
    expect(a.arrivalOf(150)).toBe(7_050); // no message at 150: the one presenting just before it
  });

  it('is empty before the first message', () => {
    expect(new ArrivalIndex().arrivalOf(0)).toBeNull();
  });
});
