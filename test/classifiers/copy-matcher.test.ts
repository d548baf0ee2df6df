import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyBankIndex } from '../../classifiers/copy/bank-index.ts';
import { OfflineEmbedder } from '../../classifiers/copy/embedder.ts';
import { CopyMatcher, COPY_MATCH_SOURCE, NO_COPY_MATCH } from '../../classifiers/copy/matcher.ts';
import { areaScale } from '../../classifiers/copy/picture.ts';
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
});
