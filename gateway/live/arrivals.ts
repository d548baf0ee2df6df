/**
 * When each of a publisher's recent video messages reached the gateway, by its presentation time: so a
 * sampled frame (known by its media time) can say when its content arrived, and the time to cut can be
 * measured from there instead of from the frame leaving the decoder, which hides the relay and decoding
 * delay (a decision measured from its own frame reads 0 ms; BENCHMARKS.md, "Where one stream's time to
 * cut goes", has the split).
 *
 * A fixed ring of (pts, arrival) pairs, written once per video message on the ingest path: two numbers,
 * no allocation. 1,024 messages keep ~34 s of 30 fps video, more than any sampler lags behind live.
 */
export class ArrivalIndex {
  private readonly pts: Float64Array;
  private readonly at: Float64Array;
  private next = 0;
  private size = 0;

  constructor(readonly capacity = 1_024) {
    this.pts = new Float64Array(capacity);
    this.at = new Float64Array(capacity);
  }

  /** A video message presenting at `ptsMs` (the publisher's clock) arrived at wall time `atMs`. */
  note(ptsMs: number, atMs: number): void {
    this.pts[this.next] = ptsMs;
    this.at[this.next] = atMs;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /**
   * Arrival (wall ms) of the message presenting at `ptsMs` (within 1 ms: decoders report fractions), else
   * of the latest-presenting one before it, no more than `toleranceMs` before; null when there is none (too
   * old for the ring, a publisher clock that restarted, a frame from before the first message).
   *
   * Searched from the newest back, and given up at the first message presenting more than `toleranceMs`
   * before the frame: arrival order is decode order, which B-frames reorder by a few frames only, and
   * samplers read near live, so this is a few dozen entries at most.
   */
  arrivalOf(ptsMs: number, toleranceMs = 200): number | null {
    let best = -1;
    for (let k = 1; k <= this.size; k++) {
      const i = (this.next - k + this.capacity) % this.capacity;
      const p = this.pts[i]!;
      if (Math.abs(p - ptsMs) < 1) return this.at[i]!;
      if (p < ptsMs - toleranceMs) break;
      if (p < ptsMs && (best < 0 || p > this.pts[best]!)) best = i;
    }
    return best < 0 ? null : this.at[best]!;
  }
}
