import { describe, expect, it } from 'vitest';
import type { Frame } from '../../../classifiers/frame.ts';
import { SignalSchema, type Signal } from '../../../classifiers/signal.ts';
import { FrameLiveness, isFramesSignal } from '../../../gateway/sampler/liveness.ts';

const frame = (seq: number): Frame => ({ streamId: 's1', seq, mediaTimeMs: seq * 500, receivedAt: 0, width: 16, height: 16, rgb: Buffer.alloc(0) });
const finding: Signal = { streamId: 's1', frameTimeMs: 0, observedAt: 0, source: 'nsfw', label: 'unsafe', score: 0.01, version: 'm', evidenceRef: null };

describe('FrameLiveness: frames flowing are a sign of life', () => {
  it('a frame without signals sends a valid sampler/frames signal, at most once a second', () => {
    const l = new FrameLiveness(1_000);
    const sent = [0, 500, 1_000, 1_500, 2_000, 2_400, 3_100].map((t, i) => l.afterFrame(frame(i), [], t));
    expect(sent.map((s) => s !== null)).toEqual([true, false, true, false, true, false, true]);
    const first = SignalSchema.parse(sent[0]);
    expect(first).toMatchObject({ streamId: 's1', source: 'sampler', label: 'frames', score: 0, frameTimeMs: 0, observedAt: 0, evidenceRef: null });
    expect(isFramesSignal(first)).toBe(true);
    expect(isFramesSignal({ source: 'sampler', label: 'stall' })).toBe(false);
  });

  it('while classifiers speak, it stays quiet; once they fall silent for a second, it speaks', () => {
    const l = new FrameLiveness(1_000);
    expect(l.afterFrame(frame(0), [finding], 0)).toBeNull();
    expect(l.afterFrame(frame(1), [finding], 500)).toBeNull();
    expect(l.afterFrame(frame(2), [], 1_000)).toBeNull();
    expect(l.afterFrame(frame(3), [], 1_500)).not.toBeNull();
  });
});
