import { describe, expect, it } from 'vitest';
import type { Frame } from '../../classifiers/frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings } from '../../classifiers/frame-classifier.ts';
import { RateLimited } from '../../classifiers/rate-limited.ts';
import { ReuseUnchanged } from '../../classifiers/reuse-unchanged.ts';

/** A model stand-in that counts its inferences and scores a frame by its mean brightness. */
class CountingModel implements FrameClassifier {
  readonly name = 'counting';
  calls: number[] = [];
  classify(frame: Frame, ctx: ClassifyContext): FrameFindings {
    this.calls.push(frame.seq);
    let sum = 0;
    for (const v of frame.rgb) sum += v;
    const score = sum / frame.rgb.length / 255;
    return {
      signals: [
        { streamId: frame.streamId, frameTimeMs: frame.mediaTimeMs, observedAt: ctx.observedAt, source: 'nsfw', label: 'unsafe', score, version: 'test' },
      ],
      facts: { scores: { counting: score } },
    };
  }
}

/** A textured 64×36 frame; `variant` moves the texture (a different picture to PDQ). */
function frame(seq: number, mediaTimeMs: number, variant = 0, streamId = 'str_a', flat = false): Frame {
  const w = 64;
  const h = 36;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = flat ? 128 : Math.round(128 + 100 * Math.sin((x + variant * 7) / 5) * Math.cos((y - variant * 3) / 4));
      rgb.fill(v, (y * w + x) * 3, (y * w + x) * 3 + 3);
    }
  }
  return { streamId, seq, mediaTimeMs, receivedAt: 0, width: w, height: h, rgb };
}

const ctx = { observedAt: 1 };

describe('models at their own rate (RateLimited)', () => {
  it('a model sees the first frame of each 1/fps slot of media time per stream, whatever the sampling rate', async () => {
    const model = new CountingModel();
    const limited = new RateLimited(model, 2);
    // 10 fps for 1.5 s on two streams.
    for (let i = 0; i < 15; i++) {
      await limited.classify(frame(i, i * 100), ctx);
      await limited.classify(frame(100 + i, i * 100, 0, 'str_b'), ctx);
    }
    expect(model.calls).toEqual([0, 100, 5, 105, 10, 110]);
    expect(limited.stats).toEqual({ passed: 6, skipped: 24 });
  });

  it('frames between slots get empty findings, not an error; a clock that goes back runs again', async () => {
    const model = new CountingModel();
    const limited = new RateLimited(model, 2);
    expect((await limited.classify(frame(0, 1000), ctx)).signals).toHaveLength(1);
    expect(await limited.classify(frame(1, 1100), ctx)).toEqual({ signals: [] });
    expect((await limited.classify(frame(2, 0), ctx)).signals).toHaveLength(1);
  });
});

describe('skipping inference on unchanged frames (ReuseUnchanged)', () => {
  it('an unchanged frame reuses the last scores, stamped with its own time, until the maximum age', async () => {
    const model = new CountingModel();
    const reuse = new ReuseUnchanged(model, { maxDistance: 8, maxAgeMs: 2000 });
    const out: FrameFindings[] = [];
    for (let i = 0; i < 6; i++) out.push(await reuse.classify(frame(i, i * 500), ctx));
    // Frames at 0, 500, ..., 2500 ms: classified at 0, reused to 2000 ms (age 2000), classified again at 2500.
    expect(model.calls).toEqual([0, 5]);
    expect(out[3]!.signals[0]!.frameTimeMs).toBe(1500);
    expect(out[3]!.signals[0]!.score).toBe(out[0]!.signals[0]!.score);
    expect(out[3]!.signals[0]!.detail).toEqual({ reusedFromSeq: 0 });
    expect(out[3]!.facts).toMatchObject({ scores: { counting: out[0]!.signals[0]!.score }, reused: { counting: { fromSeq: 0, distance: 0, ageMs: 1500 } } });
    expect(reuse.stats).toEqual({ classified: 2, reused: 4 });
  });

  it('a changed frame is classified at once', async () => {
    const model = new CountingModel();
    const reuse = new ReuseUnchanged(model, { maxDistance: 8, maxAgeMs: 2000 });
    await reuse.classify(frame(0, 0, 0), ctx);
    await reuse.classify(frame(1, 500, 0), ctx);
    await reuse.classify(frame(2, 1000, 4), ctx);
    expect(model.calls).toEqual([0, 2]);
  });

  it('flat frames (low hash quality) are always classified, and streams do not share scores', async () => {
    const model = new CountingModel();
    const reuse = new ReuseUnchanged(model, { maxDistance: 8, maxAgeMs: 2000 });
    await reuse.classify(frame(0, 0, 0, 'str_a', true), ctx);
    await reuse.classify(frame(1, 500, 0, 'str_a', true), ctx);
    await reuse.classify(frame(2, 0, 0, 'str_b'), ctx);
    await reuse.classify(frame(3, 0, 0, 'str_c'), ctx);
    expect(model.calls).toEqual([0, 1, 2, 3]);
  });
});
