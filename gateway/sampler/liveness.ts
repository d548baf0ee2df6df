import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';

/**
 * Frames flowing are a sign of life, whatever is in them.
 *
 * The policy's `sampler` stall entry (policy/default.yaml: review after 30 s) measures silence from the
 * stream's last non-stall signal. Classifiers speak only when they have something to say: the PDQ matcher
 * emits signals only for bank matches and skips low-quality frames (a solid colour has quality 0), and a
 * deployment may run no ONNX model at all. A stream whose picture does not change (a solid colour, a looped
 * slide, a paused game) then produced frames and no signals, and was reported as "no frames sampled" after
 * 30 s (measured: a solid-colour RTMP stream on a hash-only gateway got `sampler-stall` while its sampler
 * delivered 2 frames a second). The sampler's own `frames` signal fills that gap: once a frame has been
 * through the classifiers without a signal, and no signal went to the policy for `everyMs`, one
 * `{source: sampler, label: frames, score: 0}` does (never stored: gateway/enforcement/policy-runner.ts).
 *
 * It is sent only after the classifier stage has taken the frame, so frames lost to a stuck stage (the
 * fan-out's backpressure drops them) are still silence and still stall.
 */

/** The label of the sampler's sign-of-life signal (the stall report's label is `stall`). */
export const FRAMES_LABEL = 'frames';
const VERSION = 'sampler/1';

export class FrameLiveness {
  private lastLifeAt: number | null = null;

  /** `everyMs`: at most one sign of life this often per stream (the policy runner ticks once a second). */
  constructor(private readonly everyMs = 1_000) {}

  /** After `frame` went through the classifiers and yielded `signals` (at `now`): the sign of life, when due. */
  afterFrame(frame: Frame, signals: readonly Signal[], now: number): Signal | null {
    if (signals.length > 0) {
      this.lastLifeAt = now;
      return null;
    }
    if (this.lastLifeAt !== null && now - this.lastLifeAt < this.everyMs) return null;
    this.lastLifeAt = now;
    return {
      streamId: frame.streamId,
      frameTimeMs: frame.mediaTimeMs,
      observedAt: Math.round(now),
      source: 'sampler',
      label: FRAMES_LABEL,
      score: 0,
      version: VERSION,
      evidenceRef: null,
      detail: { seq: frame.seq },
    };
  }
}

/** Whether a signal is the sampler's sign of life (not a classifier's finding, not a stall report). */
export function isFramesSignal(s: Pick<Signal, 'source' | 'label'>): boolean {
  return s.source === 'sampler' && s.label === FRAMES_LABEL;
}
