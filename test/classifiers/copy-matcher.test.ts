import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyBankIndex } from '../../classifiers/copy/bank-index.ts';
import { OfflineEmbedder } from '../../classifiers/copy/embedder.ts';
import { ModelCopyDescriber } from '../../classifiers/copy/describer.ts';
import { CopyMatcher, COPY_MATCH_SOURCE, DEFAULT_COPY_MATCHER, NO_COPY_MATCH } from '../../classifiers/copy/matcher.ts';
import { resizeImage, type RgbImage } from '../../classifiers/regions.ts';
import { areaScale, mirrored } from '../../classifiers/copy/picture.ts';
import { descriptorText, Whitening } from '../../classifiers/copy/whitening.ts';
import { OnnxClassifier } from '../../classifiers/onnx/classifier.ts';
import { readImage } from '../../classifiers/onnx/image-io.ts';
import { loadManifest, type ResolvedManifest } from '../../classifiers/onnx/manifest.ts';
import { OnnxPool } from '../../classifiers/onnx/pool.ts';
import { SharedInference } from '../../classifiers/onnx/shared-inference.ts';
import { ClassifierStage } from '../../classifiers/stage.ts';
import type { Frame } from '../../classifiers/frame.ts';
import { BUILTIN_WHITENING } from '../../gateway/pipeline/copy-descriptor.ts';
import { packagePath } from '../../package/root.ts';
import { bankedPictures, benignPictures } from '../fixtures/evasion/transforms.ts';
import { MemoryBankStore } from '../helpers/memory-bank-store.ts';

/**
 * The copy descriptor on the shipped nsfw MobileNetV2 (built by `npm install`) and the shipped whitening:
 * one forward pass feeds both the nsfw scores and the descriptor, and a banked picture is found in a frame
 * of it while a benign photo is not.
 */
const MODEL_DIR = packagePath('models', 'nsfw');
const present = existsSync(path.join(MODEL_DIR, 'nsfw-mobilenet-v2.onnx')) && existsSync(BUILTIN_WHITENING);
if (!present) console.log(`[copy-matcher] skipped: ${MODEL_DIR}/nsfw-mobilenet-v2.onnx (npm install builds it) or ${BUILTIN_WHITENING} missing`);

const frameOf = (streamId: string, seq: number, p: { width: number; height: number; rgb: Uint8Array }): Frame => ({
  streamId,
  seq,
  mediaTimeMs: seq * 500,
  receivedAt: 0,
  width: p.width,
  height: p.height,
  rgb: Buffer.from(p.rgb),
});

describe.runIf(present)('the copy descriptor on the shipped model', () => {
  let manifest: ResolvedManifest;
  let whitening: Whitening;
  let pool: OnnxPool;
  beforeAll(async () => {
    manifest = await loadManifest(MODEL_DIR);
    whitening = await Whitening.load(BUILTIN_WHITENING);
    whitening.checkModel(manifest.version, manifest.embedding!.dim);
    pool = await OnnxPool.create({ manifest, embeddings: true, maxWaitMs: 0 });
  }, 120_000);
  afterAll(async () => {
    await pool?.close();
  });

  it('the pool returns the embedding of the same pass as the scores, equal to an in-thread run', async () => {
    const img = areaScale(await readImage(bankedPictures()[0]!));
    const r = await pool.classify(img);
    expect(r.embedding?.length).toBe(manifest.embedding!.dim);
    const local = await OfflineEmbedder.open(manifest);
    try {
      const [e] = await local.embed([img]);
      for (let i = 0; i < e!.length; i += 97) expect(r.embedding![i]).toBeCloseTo(e![i]!, 4);
    } finally {
      await local.release();
    }
  }, 120_000);

  it('one forward pass per frame for the nsfw scores and the descriptor; a banked picture matches, a benign one reports none', async () => {
    const banked = areaScale(await readImage(bankedPictures()[1]!));
    const benign = areaScale(await readImage(benignPictures()[2]!));
    const local = await OfflineEmbedder.open(manifest);
    const [e] = await local.embed([banked]);
    await local.release();
    const store = new MemoryBankStore();
    store.putBank({ name: 'tve', enabled: true, radius: 31 });
    store.putEntry({
      id: 'c1',
      bank: 'tve',
      signalType: 'copy',
      hash: descriptorText(whitening.id, whitening.apply(e!)),
      category: 'terrorist-violent-extremism',
      severity: 'critical',
      derivedFrom: 'p1',
      region: 'copy',
    });
    const index = new CopyBankIndex(store, whitening.id, whitening.outputDim);
    await index.loadAll();
    const shared = new SharedInference(pool);
    const stage = new ClassifierStage([OnnxClassifier.fromPool(pool, shared), new CopyMatcher(shared, whitening, index)], null, { evidenceFloor: 0.5 });

    const hit = await stage.process(frameOf('s1', 0, banked));
    expect(shared.stats).toEqual({ runs: 1, shared: 1 });
    expect(hit.filter((s) => s.source === 'nsfw').length).toBeGreaterThan(0);
    const copy = hit.filter((s) => s.source === COPY_MATCH_SOURCE);
    expect(copy).toHaveLength(1);
    expect(copy[0]).toMatchObject({
      label: 'terrorist-violent-extremism',
      detail: { bank: 'tve', entryId: 'p1', descriptorEntryId: 'c1', entryRegion: 'copy' },
    });
    expect(copy[0]!.score).toBeGreaterThan(0.99);

    const miss = await stage.process(frameOf('s1', 1, benign));
    expect(shared.stats).toEqual({ runs: 2, shared: 2 });
    expect(miss.filter((s) => s.source === COPY_MATCH_SOURCE)).toEqual([expect.objectContaining({ label: NO_COPY_MATCH, score: 0 })]);
  }, 120_000);

  it('describes a boxed picture inside its borders and a picture-in-picture inside its frame, and says which view matched', async () => {
    const picture = await readImage(bankedPictures()[3]!);
    const background = resizeImage(await readImage(benignPictures()[0]!), 512, 288);
    const local = await OfflineEmbedder.open(manifest);
    const store = new MemoryBankStore();
    store.putBank({ name: 'tve', enabled: true, radius: 31 });
    const describer = new ModelCopyDescriber(async (p) => (await local.embed([p]))[0]!, whitening);
    for (const [i, v] of (await describer.describe(picture)).entries())
      store.putEntry({
        id: `c${i}`,
        bank: 'tve',
        signalType: 'copy',
        hash: v.text,
        category: 'terrorist-violent-extremism',
        severity: 'critical',
        derivedFrom: 'p1',
        region: v.region,
      });
    await local.release();
    const index = new CopyBankIndex(store, whitening.id, whitening.outputDim);
    await index.loadAll();
    const embedView = async (p: { width: number; height: number; rgb: Uint8Array }) => (await pool.classify(p)).embedding!;
    const shared = new SharedInference(pool);
    const withViews = new CopyMatcher(shared, whitening, index, { ...DEFAULT_COPY_MATCHER, reportFloor: -1 }, embedView);
    const wholeOnly = new CopyMatcher(shared, whitening, index, { ...DEFAULT_COPY_MATCHER, reportFloor: -1 });

    // The picture at 60 % in black borders (a small capture window), and at 60 % over a real photo (a PiP).
    const small = resizeImage(picture, 307, 173);
    const boxed = paste({ rgb: new Uint8Array(512 * 288 * 3), width: 512, height: 288 }, small, 102, 57);
    const pip = paste(background, small, 181, 24);
    for (const [name, img, view] of [
      ['boxed', boxed, 'trimmed'],
      ['pip', pip, 'inner'],
    ] as const) {
      const frame = frameOf(`s-${name}`, 0, img);
      const best = (await withViews.classify(frame, { observedAt: 0 })).signals.find((s) => s.source === COPY_MATCH_SOURCE && s.label !== NO_COPY_MATCH);
      const whole = (await wholeOnly.classify(frame, { observedAt: 0 })).signals.find((s) => s.source === COPY_MATCH_SOURCE && s.label !== NO_COPY_MATCH);
      expect(best?.detail, name).toMatchObject({ entryId: 'p1', region: view });
      expect(best!.score, `${name}: the ${view} view is closer than the whole frame`).toBeGreaterThan(whole?.score ?? 0);
      expect(best!.score, name).toBeGreaterThanOrEqual(0.7);
    }
    expect(withViews.stats.views).toBeGreaterThanOrEqual(2);

    // A mirrored re-stream: the banked mirrored view is the one that matches it.
    const flipped = (await withViews.classify(frameOf('s-mirror', 0, resizeImage(mirrored(picture), 512, 288)), { observedAt: 0 })).signals[0];
    expect(flipped?.detail).toMatchObject({ entryId: 'p1', entryRegion: 'copy-mirror' });
  }, 120_000);
});

/** `top` pasted into a copy of `base` at (x, y). */
function paste(base: RgbImage, top: RgbImage, x: number, y: number): RgbImage {
  const out = Uint8Array.from(base.rgb);
  for (let r = 0; r < top.height; r++) out.set(top.rgb.subarray(r * top.width * 3, (r + 1) * top.width * 3), ((y + r) * base.width + x) * 3);
  return { rgb: out, width: base.width, height: base.height };
}
