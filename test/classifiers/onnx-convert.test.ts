/**
 * The install-time nsfwjs → ONNX conversion must reproduce nsfwjs itself. nsfwjs runs here on
 * @tensorflow/tfjs's pure-JS CPU backend, loading its model from the files inside the npm package (its
 * bundled-model registry imports them from disk; no network), with its own preprocessing (÷255, bilinear
 * align-corners resize to 224). Our side is the full modgate path: manifest → Preprocessor → ORT.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as nsfwjs from 'nsfwjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage, type RgbImage } from '../../classifiers/onnx/image-io.ts';
import { loadManifest, type ResolvedManifest } from '../../classifiers/onnx/manifest.ts';
import { OnnxModel } from '../../classifiers/onnx/model.ts';
import { OnnxPool } from '../../classifiers/onnx/pool.ts';
import { Preprocessor, specFromManifest } from '../../classifiers/onnx/preprocess.ts';
import { decodeWeights, KerasTopologySchema, kerasToOnnx, WeightSpecSchema } from '../../models/keras-to-onnx.ts';
import { serializeModel } from '../../models/onnx-builder.ts';
import { convertNsfwjs, DEFAULT_NSFW_OUT, NSFW_LABELS } from '../../scripts/convert-nsfwjs.ts';

// ../shared next to the checkout (see shared/README.md); MODGATE_SHARED_DIR overrides, e.g. to test the skip path.
const SHARED = process.env.MODGATE_SHARED_DIR ?? path.resolve(import.meta.dirname, '../../../shared');
const SHARED_MODEL = path.join(SHARED, 'models', 'nsfwjs_mobilenet_v2_224.onnx');
const SHARED_IMAGES = path.join(SHARED, 'pdq-vectors', 'images');
const MANIFEST = path.resolve(import.meta.dirname, '../../models/nsfw/manifest.json');

/** Deterministic patterned test images: gradients, stripes and blobs at sizes needing a resize or not. */
function synthetic(width: number, height: number, seed: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const u = x / width,
        v = y / height;
      rgb[i] = Math.round(127.5 + 127.5 * Math.sin(6.3 * u * (seed + 1) + v * 3));
      rgb[i + 1] = ((x >> 3) + (y >> 3) + seed) % 2 ? 220 : 30;
      rgb[i + 2] = Math.round(255 * Math.exp(-((u - 0.5) ** 2 + (v - 0.4) ** 2) * 8 * seed));
    }
  }
  return { width, height, rgb };
}

let manifest: ResolvedManifest;
let model: OnnxModel;
let net: nsfwjs.NSFWJS;

async function setup(): Promise<void> {
  const first = await convertNsfwjs();
  expect(first.path).toBe(DEFAULT_NSFW_OUT);
  manifest = await loadManifest(MANIFEST);
  model = await OnnxModel.load(manifest);
  await tf.setBackend('cpu');
  net = await nsfwjs.load('MobileNetV2');
}

afterAll(async () => {
  await model?.release();
});

async function images(): Promise<{ name: string; img: RgbImage }[]> {
  const list = [
    { name: 'synthetic 224x224', img: synthetic(224, 224, 1) },
    { name: 'synthetic 320x180', img: synthetic(320, 180, 2) },
    { name: 'synthetic 97x131', img: synthetic(97, 131, 3) },
  ];
  if (existsSync(SHARED_IMAGES)) {
    for (const f of ['wee.jpg', 'small.jpg']) {
      const p = path.join(SHARED_IMAGES, f);
      if (existsSync(p)) list.push({ name: f, img: await readImage(p) });
    }
  } else {
    console.log(`[onnx-convert] ${SHARED_IMAGES} absent: parity runs on synthetic images only`);
  }
  return list;
}

describe('nsfwjs → ONNX conversion', () => {
  beforeAll(setup, 120_000);
  it('is idempotent: a second run skips because the source hash matches', async () => {
    const again = await convertNsfwjs();
    expect(again.skipped).toBe(true);
  });

  it('declares the documented I/O contract', async () => {
    expect(manifest.output.labels).toEqual([...NSFW_LABELS]);
    const s = await ort.InferenceSession.create(DEFAULT_NSFW_OUT);
    expect(s.inputNames).toEqual(['input']);
    expect([...s.outputNames].sort()).toEqual(['embedding', 'probs']);
    const meta = s.inputMetadata[0];
    expect(meta?.isTensor && meta.shape).toEqual(['N', 3, 224, 224]);
    await s.release();
  });

  it('matches nsfwjs (tfjs CPU) probabilities within 1e-4 and embeddings closely, image by image', async () => {
    const pre = new Preprocessor(specFromManifest(manifest));
    const all = await images();
    for (const [k, { name, img }] of all.entries()) {
      // Embeddings on two images only: each nsfwjs call costs seconds on the pure-JS backend.
      const withEmb = k === 1 || name.endsWith('.jpg');
      const t = tf.tensor3d(img.rgb, [img.height, img.width, 3], 'int32');
      const wantProbs = await (net.infer(t) as tf.Tensor).data();
      const wantEmb = withEmb ? await (net.infer(t, 'flatten_1') as tf.Tensor).data() : null;
      t.dispose();
      const x = new Float32Array(pre.sampleLength);
      pre.run(img.rgb, img.width, img.height, x, 0);
      const got = await model.run(x, 1, true);
      let dp = 0,
        de = 0,
        scale = 0;
      for (let i = 0; i < 5; i++) dp = Math.max(dp, Math.abs((got.scores[i] as number) - (wantProbs[i] as number)));
      if (wantEmb) {
        for (let i = 0; i < 1280; i++) {
          de = Math.max(de, Math.abs((got.embedding?.[i] as number) - (wantEmb[i] as number)));
          scale = Math.max(scale, Math.abs(wantEmb[i] as number));
        }
      }
      const embNote = wantEmb ? `, max|Δembedding| = ${de.toExponential(2)} (embedding max ${scale.toFixed(2)})` : '';
      console.log(
        `[onnx-convert] ${name}: max|Δprob| = ${dp.toExponential(2)}${embNote}; nsfwjs top = ${NSFW_LABELS[wantProbs.indexOf(Math.max(...wantProbs))]}`,
      );
      expect(dp, name).toBeLessThan(1e-4);
      expect(de / Math.max(1, scale), name).toBeLessThan(1e-4);
    }
  }, 300_000);

  it('gives the same scores through the worker pool as in-process', async () => {
    const img = synthetic(320, 180, 2);
    const pool = await OnnxPool.create({ manifest, maxWaitMs: 0 });
    try {
      const r = await pool.classify(img);
      const pre = new Preprocessor(specFromManifest(manifest));
      const x = new Float32Array(pre.sampleLength);
      pre.run(img.rgb, img.width, img.height, x, 0);
      const direct = await model.run(x, 1);
      NSFW_LABELS.forEach((l, i) => expect(r.scores[l]).toBeCloseTo(direct.scores[i] as number, 6));
      const unsafe = r.signals.find((s) => s.label === 'unsafe');
      expect(unsafe?.score).toBeCloseTo((r.scores.Porn as number) + (r.scores.Hentai as number), 6);
    } finally {
      await pool.close();
    }
  });

  it('agrees with the independent conversion in /work/shared (skips when absent)', async (ctx) => {
    if (!existsSync(SHARED_MODEL)) {
      console.log(`[onnx-convert] skipped cross-check: ${SHARED_MODEL} not present`);
      ctx.skip();
    }
    const ref = await ort.InferenceSession.create(SHARED_MODEL);
    const ours = await ort.InferenceSession.create(DEFAULT_NSFW_OUT);
    const n = 3;
    const x = new Float32Array(n * 3 * 224 * 224);
    for (let i = 0; i < x.length; i++) x[i] = (Math.sin(i * 0.0007) + 1) / 2;
    const feeds = { input: new ort.Tensor('float32', x, [n, 3, 224, 224]) };
    const a = await ours.run(feeds);
    const b = await ref.run(feeds);
    for (const out of ['probs', 'embedding']) {
      const pa = a[out]?.data as Float32Array,
        pb = b[out]?.data as Float32Array;
      expect(pa.length).toBe(pb.length);
      let d = 0;
      for (let i = 0; i < pa.length; i++) d = Math.max(d, Math.abs((pa[i] as number) - (pb[i] as number)));
      console.log(`[onnx-convert] vs shared conversion: max|Δ${out}| = ${d.toExponential(2)}`);
      expect(d).toBeLessThan(1e-5);
    }
    await ref.release();
    await ours.release();
    // Also: every PPM frame in shared/ decodes and classifies without error.
    const ppmDir = path.join(SHARED_IMAGES, 'ppm');
    if (existsSync(ppmDir)) {
      const pre = new Preprocessor(specFromManifest(manifest));
      for (const f of readdirSync(ppmDir).filter((f) => f.endsWith('.ppm'))) {
        const img = await readImage(path.join(ppmDir, f));
        const xx = new Float32Array(pre.sampleLength);
        pre.run(img.rgb, img.width, img.height, xx, 0);
        const r = await model.run(xx, 1);
        expect(r.scores.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
      }
    }
  });
});

describe('Keras → ONNX layer semantics (against tfjs on a small random model)', () => {
  it('matches TF for same/valid padding with stride 2 on odd and even sizes, depthwise, BN, ReLU6, Add, pooling and NHWC flatten', async () => {
    await tf.setBackend('cpu');
    for (const [h, w] of [
      [17, 12],
      [16, 15],
    ] as const) {
      const inp = tf.input({ shape: [h, w, 3], name: 'in' });
      let x = tf.layers
        .zeroPadding2d({
          padding: [
            [0, 1],
            [1, 0],
          ],
          name: 'zp',
        })
        .apply(inp) as tf.SymbolicTensor;
      x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: true, name: 'c1' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.batchNormalization({ epsilon: 1e-3, name: 'bn1' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU({ maxValue: 6, name: 'r1' }).apply(x) as tf.SymbolicTensor;
      const d = tf.layers
        .depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, useBias: false, name: 'dw' })
        .apply(x) as tf.SymbolicTensor;
      const e = tf.layers.conv2d({ filters: 12, kernelSize: [1, 2], strides: 2, padding: 'same', useBias: false, name: 'c2' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.add({ name: 'sum' }).apply([d, e]) as tf.SymbolicTensor;
      x = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid', name: 'pool' }).apply(x) as tf.SymbolicTensor;
      const flat = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
      const y = tf.layers.dense({ units: 4, activation: 'softmax', name: 'head' }).apply(flat) as tf.SymbolicTensor;
      const km = tf.model({ inputs: inp, outputs: y });
      // Non-trivial BN statistics (defaults are 0/1, which would hide an axis mistake).
      const bn = km.getLayer('bn1');
      bn.setWeights(bn.getWeights().map((t, i) => tf.randomUniform(t.shape, i === 3 ? 0.5 : -0.5, i === 3 ? 2 : 1.5, 'float32', 10 + i)));

      let artifacts: tf.io.ModelArtifacts | undefined;
      await km.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
      const topo = KerasTopologySchema.parse(artifacts?.modelTopology);
      const specs = WeightSpecSchema.array().parse(artifacts?.weightSpecs);
      const data = artifacts?.weightData;
      const bytes = new Uint8Array(data instanceof ArrayBuffer ? data : ((data as ArrayBuffer[])[0] as ArrayBuffer));
      const onnxModel = kerasToOnnx(topo, decodeWeights(specs, bytes), { inputName: 'input', outputs: { probs: 'head', features: 'flat' } });
      const sess = await ort.InferenceSession.create(serializeModel(onnxModel));

      const nhwc = tf.randomUniform([2, h, w, 3], 0, 1, 'float32', h * w);
      const want = (await (km.predict(nhwc) as tf.Tensor).data()) as Float32Array;
      const wantFeat = (await (tf.model({ inputs: inp, outputs: flat }).predict(nhwc) as tf.Tensor).data()) as Float32Array;
      const nchw = (await nhwc.transpose([0, 3, 1, 2]).data()) as Float32Array;
      const got = await sess.run({ input: new ort.Tensor('float32', nchw, [2, 3, h, w]) });
      const gp = got.probs?.data as Float32Array,
        gf = got.features?.data as Float32Array;
      expect(gf.length).toBe(wantFeat.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs((gp[i] as number) - (want[i] as number))).toBeLessThan(1e-5);
      for (let i = 0; i < wantFeat.length; i++) expect(Math.abs((gf[i] as number) - (wantFeat[i] as number))).toBeLessThan(1e-4);
      await sess.release();
    }
  });

  it('refuses unsupported layers by name', () => {
    const topo = KerasTopologySchema.parse({
      model_config: {
        class_name: 'Model',
        config: {
          layers: [
            { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 4, 3] }, inbound_nodes: [] },
            { name: 'lstm', class_name: 'LSTM', config: {}, inbound_nodes: [[['in', 0, 0, {}]]] },
          ],
          input_layers: [['in', 0, 0]],
          output_layers: [['lstm', 0, 0]],
        },
      },
    });
    expect(() => kerasToOnnx(topo, new Map(), { inputName: 'input', outputs: { y: 'lstm' } })).toThrow(/layer lstm: Keras layer type LSTM is not supported/);
  });
});
