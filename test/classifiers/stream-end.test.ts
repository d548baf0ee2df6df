import { describe, expect, it } from 'vitest';
import type { BankLookup } from '../../classifiers/bank-index.ts';
import type { Frame } from '../../classifiers/frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings } from '../../classifiers/frame-classifier.ts';
import { HashMatcher } from '../../classifiers/hash-matcher.ts';
import { OnnxClassifier } from '../../classifiers/onnx/classifier.ts';
import type { ClassifyResult, OnnxPool } from '../../classifiers/onnx/pool.ts';
import { SharedInference } from '../../classifiers/onnx/shared-inference.ts';
import { RateLimited } from '../../classifiers/rate-limited.ts';
import { ReuseUnchanged } from '../../classifiers/reuse-unchanged.ts';
import { ClassifierStage } from '../../classifiers/stage.ts';
import type { VideoLookup } from '../../classifiers/vpdq/bank-index.ts';
import { VideoMatcher } from '../../classifiers/vpdq/matcher.ts';

/**
 * What the classifiers keep per stream (the last frame of the shared forward pass, the last findings of a
 * model, its rate slot, the hash matcher's region slot, the video window) is dropped when the stream ends,
 * not when thousands of later streams push it out: with the default classifiers every ended stream kept a
 * whole RGB frame in SharedInference until 10,000 others had ended (issue 11's soak, BENCHMARKS.md "Soak").
 */

/** A textured 64×36 frame (PDQ quality well above the floor). */
function frame(streamId: string, seq: number, mediaTimeMs: number): Frame {
  const w = 64;
  const h = 36;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      rgb.fill(Math.round(128 + 100 * Math.sin((x + seq * 7) / 5) * Math.cos((y - seq * 3) / 4)), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { streamId, seq, mediaTimeMs, receivedAt: 0, width: w, height: h, rgb };
}

const result: ClassifyResult = {
  scores: { unsafe: 0.1 },
  signals: [{ source: 'nsfw', label: 'unsafe', score: 0.1 }],
  version: 'stub@1',
  inferenceMs: 1,
  batchSize: 1,
  latencyMs: 1,
} as ClassifyResult;

/** The model's pool as the classifiers see it: a result per frame, released when `gate` says so. */
function stubPool(gate: () => Promise<void> = async () => {}): OnnxPool {
  return { manifest: { name: 'stub', version: 'stub@1' }, classify: async () => (await gate(), result) } as unknown as OnnxPool;
}

const noBanks: BankLookup = { revision: 0, match: () => [] };
const oneVideo: VideoLookup = { revision: 0, entries: 1, match: () => [], entry: () => undefined };

/** The classifiers as gateway/server.ts assembles them for the default config. */
function defaultChain(pool: OnnxPool) {
  // Whole frames only (the region slot is kept all the same): 1,000 streams on a loaded machine stay quick.
  const hash = new HashMatcher(noBanks, { dihedral: false, minQuality: 50, regions: { tiles: false, inner: false }, regionsFps: 2 });
  const video = new VideoMatcher(hash, oneVideo);
  const shared = new SharedInference(pool);
  const reuse = new ReuseUnchanged(OnnxClassifier.fromPool(pool, shared), { maxDistance: 8, maxAgeMs: 2_000 });
  const limited = new RateLimited(reuse, 2);
  const stage = new ClassifierStage([video, limited], null, { evidenceFloor: 0.5 });
  const sizes = () => ({
    shared: shared.size,
    reuse: reuse.size,
    limited: limited.size,
    regionSlots: hash.trackedStreams,
    videoFrames: video.windows.size(),
    stage: stage.tracked,
  });
  return { stage, sizes };
}

const empty = { shared: 0, reuse: 0, limited: 0, regionSlots: 0, videoFrames: 0, stage: { inFlight: 0, ending: 0 } };

describe("a stream's end releases what the classifiers keep for it", () => {
  it('after 1,000 streams start and end, every per-stream map is empty', async () => {
    const { stage, sizes } = defaultChain(stubPool());
    for (let s = 0; s < 1_000; s++) {
      const id = `str_${s}`;
      for (let i = 0; i < 2; i++) await stage.process(frame(id, i, i * 600));
      stage.end(id);
    }
    expect(sizes()).toEqual(empty);
  });

  it('without the end each of them would still be held (what the test above pins)', async () => {
    const { stage, sizes } = defaultChain(stubPool());
    for (let s = 0; s < 50; s++) for (let i = 0; i < 3; i++) await stage.process(frame(`str_${s}`, i, i * 600));
    const held = sizes();
    expect(held).toMatchObject({ shared: 50, reuse: 50, limited: 50, regionSlots: 50 });
    expect(held.videoFrames).toBeGreaterThanOrEqual(50);
    expect(held.stage).toEqual({ inFlight: 0, ending: 0 });
  });

  it('a frame still being classified when the stream ends does not put its state back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { stage, sizes } = defaultChain(stubPool(() => gate));
    const pending = stage.process(frame('str_late', 0, 0));
    stage.end('str_late');
    expect(sizes().stage).toEqual({ inFlight: 1, ending: 1 });
    release();
    await pending;
    expect(sizes()).toEqual(empty);
  });

  it('streams that did not end keep theirs', async () => {
    const { stage, sizes } = defaultChain(stubPool());
    await stage.process(frame('str_live', 0, 0));
    await stage.process(frame('str_gone', 0, 0));
    stage.end('str_gone');
    expect(sizes()).toMatchObject({ shared: 1, reuse: 1, limited: 1, regionSlots: 1 });
  });
});

/** A classifier without `end` (a plug-in written before it) is simply not told. */
class Plain implements FrameClassifier {
  readonly name = 'plain';
  classify(_frame: Frame, _ctx: ClassifyContext): FrameFindings {
    return { signals: [] };
  }
}

describe('classifiers without an end hook', () => {
  it('are left alone, and the stage tracks nothing for ended streams', async () => {
    const stage = new ClassifierStage([new Plain(), new RateLimited(new Plain(), 1)], null, { evidenceFloor: 0.5 });
    await stage.process(frame('str_x', 0, 0));
    stage.end('str_x');
    expect(stage.tracked).toEqual({ inFlight: 0, ending: 0 });
  });
});
