import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalHead, formatEvalReport } from '../../classifiers/onnx/eval-head.ts';
import { fitHead, type FitHeadReport } from '../../classifiers/onnx/fit-head.ts';
import { decodePng } from '../../classifiers/onnx/image-io.ts';
import { fitLogistic, predict } from '../../classifiers/onnx/logistic.ts';
import { OnnxClassifier } from '../../classifiers/onnx/classifier.ts';
import { convertNsfwjs } from '../../scripts/convert-nsfwjs.ts';

/** A "scene": a dominant-colour background with pixel noise and two small grey/green rectangles. */
function scene(dominant: 'red' | 'blue', seed: number, width = 160, height = 120): Uint8Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296;
  const base = dominant === 'red' ? [170 + rnd() * 80, 20 + rnd() * 50, 20 + rnd() * 50] : [20 + rnd() * 50, 30 + rnd() * 60, 170 + rnd() * 80];
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, Math.min(255, (base[c] as number) + (rnd() - 0.5) * 40));
  for (let r = 0; r < 2; r++) {
    const x0 = Math.floor(rnd() * width),
      y0 = Math.floor(rnd() * height);
    const w = 6 + Math.floor(rnd() * 14),
      h = 6 + Math.floor(rnd() * 8);
    // Class-neutral clutter (greys and greens): a red patch in a blue scene is a different question.
    const v = rnd() * 200;
    const col = [v, v + rnd() * 55, v];
    for (let y = y0; y < Math.min(height, y0 + h); y++)
      for (let x = x0; x < Math.min(width, x0 + w); x++) for (let c = 0; c < 3; c++) rgb[(y * width + x) * 3 + c] = col[c] as number;
  }
  return rgb;
}

function ppm(rgb: Uint8Array, w: number, h: number): Buffer {
  return Buffer.concat([Buffer.from(`P6\n# synthetic\n${w} ${h}\n255\n`), Buffer.from(rgb)]);
}

/** Minimal PNG writer (RGB, 8-bit) cycling through all five row filters, to exercise the decoder. */
function png(rgb: Uint8Array, w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const v of b) c = (crcTable[(c ^ v) & 0xff] as number) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type), body]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(tb));
    return Buffer.concat([len, tb, c]);
  };
  const stride = w * 3;
  const raw = Buffer.alloc(h * (stride + 1));
  const px = (y: number, x: number) => (x < 0 || y < 0 ? 0 : (rgb[y * stride + x] as number));
  for (let y = 0; y < h; y++) {
    const f = y % 5;
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const a = px(y, x - 3),
        b = px(y - 1, x),
        c = px(y - 1, x - 3);
      const p = a + b - c;
      const pa = Math.abs(p - a),
        pb = Math.abs(p - b),
        pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f] as number;
      raw[y * (stride + 1) + 1 + x] = (px(y, x) - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

let dir: string;
let report: FitHeadReport;

beforeAll(async () => {
  await convertNsfwjs(); // the backbone (idempotent; usually already built at install)
  dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-fit-head-'));
  const W = 160,
    H = 120;
  for (const [cls, colour] of [
    ['pos', 'red'],
    ['neg', 'blue'],
  ] as const) {
    const d = path.join(dir, cls);
    await mkdir(d);
    for (let i = 0; i < 24; i++) {
      const rgb = scene(colour, i + (colour === 'red' ? 0 : 1000));
      if (i % 5 === 0) {
        const rgba = new Uint8Array(W * H * 4);
        for (let p = 0; p < W * H; p++) rgba.set([rgb[p * 3] as number, rgb[p * 3 + 1] as number, rgb[p * 3 + 2] as number, 255], p * 4);
        await writeFile(path.join(d, `${i}.jpg`), jpeg.encode({ data: rgba, width: W, height: H }, 90).data);
      } else if (i % 5 === 1) await writeFile(path.join(d, `${i}.png`), png(rgb, W, H));
      else await writeFile(path.join(d, `${i}.ppm`), ppm(rgb, W, H));
    }
  }
  await writeFile(path.join(dir, 'pos', 'notes.txt'), 'not an image');
  report = await fitHead({ positiveDir: path.join(dir, 'pos'), negativeDir: path.join(dir, 'neg'), outDir: path.join(dir, 'models', 'red-violence'), seed: 3 });
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('fit-head', () => {
  it('separates the two folders on held-out images and reports honest counts', () => {
    expect(report.counts).toEqual({ positive: 24, negative: 24, train: 36, heldOut: 12 });
    expect(report.skipped.map((f) => path.basename(f))).toEqual(['notes.txt']);
    expect(report.heldOutAt05.accuracy).toBe(1);
    expect(report.heldOut.accuracy).toBe(1);
    expect(report.train.accuracy).toBe(1);
    expect(report.suggestedThreshold).toBeGreaterThan(0);
    expect(report.suggestedThreshold).toBeLessThan(1);
    expect(report.version).toMatch(/^red-violence@[0-9a-f]{12} \(head on nsfwjs/);
  });

  it('writes a standalone model: probs [N,1] and the embedding, without the nsfw head', async () => {
    const s = await ort.InferenceSession.create(report.modelPath);
    expect([...s.outputNames].sort()).toEqual(['embedding', 'probs']);
    const m = s.outputMetadata.find((o) => o.name === 'probs');
    expect(m?.isTensor && m.shape).toEqual(['N', 1]);
    await s.release();
  });

  it('loads as a violence classifier via its manifest and scores new frames correctly', async () => {
    const clf = await OnnxClassifier.open({ manifest: path.dirname(report.manifestPath), maxWaitMs: 0 });
    try {
      const W = 160,
        H = 120;
      for (let i = 0; i < 6; i++) {
        for (const colour of ['red', 'blue'] as const) {
          const frame = {
            streamId: 'fit',
            seq: i,
            mediaTimeMs: i * 100,
            receivedAt: Date.now(),
            width: W,
            height: H,
            rgb: Buffer.from(scene(colour, 5000 + i * 7 + (colour === 'red' ? 0 : 1))),
          };
          const { signals } = await clf.classify(frame, { observedAt: Date.now() });
          expect(signals).toHaveLength(1);
          expect(signals[0]).toMatchObject({ source: 'violence', label: 'violence' });
          const score = signals[0]?.score as number;
          if (colour === 'red') expect(score).toBeGreaterThan(report.suggestedThreshold);
          else expect(score).toBeLessThan(report.suggestedThreshold);
        }
      }
    } finally {
      await clf.close();
    }
  });

  it('model eval: the deployed head measured on held-out frames it never saw, at its suggested threshold', async () => {
    // "Held-out videos": new scenes of both classes, plus two blue scenes filed as positives (labelling
    // mistakes an operator's set will have), so the printed counts are checked, not just a perfect score.
    const held = path.join(dir, 'held');
    for (const [cls, colour, n] of [
      ['pos', 'red', 8],
      ['neg', 'blue', 10],
    ] as const) {
      await mkdir(path.join(held, cls), { recursive: true });
      for (let i = 0; i < n; i++) await writeFile(path.join(held, cls, `${i}.ppm`), ppm(scene(colour, 9000 + i * 13 + (colour === 'red' ? 0 : 1)), 160, 120));
    }
    for (let i = 0; i < 2; i++) await writeFile(path.join(held, 'pos', `mislabelled-${i}.ppm`), ppm(scene('blue', 9500 + i), 160, 120));
    const r = await evalHead({ manifest: report.manifestPath, positiveDir: path.join(held, 'pos'), negativeDir: path.join(held, 'neg') });
    expect(r.thresholdFrom).toBe('fit-report');
    expect(r.threshold).toBeCloseTo(report.suggestedThreshold, 6);
    expect(r.counts).toEqual({ positive: 10, negative: 10 });
    expect(r.atThreshold).toMatchObject({ tp: 8, fn: 2, fp: 0, tn: 10, precision: 1, recall: 0.8 });
    expect(r.falseNegatives.map((f) => path.basename(f)).sort()).toEqual(['mislabelled-0.ppm', 'mislabelled-1.ppm']);
    expect(formatEvalReport(r)).toMatch(/precision 100\.0%, recall 80\.0%/);
    await expect(
      evalHead({ manifest: report.manifestPath, positiveDir: path.join(held, 'pos'), negativeDir: path.join(held, 'neg'), threshold: Number('x') }),
    ).rejects.toMatchObject({ code: 'invalid_threshold' });
  }, 120_000);

  it('refuses a folder with fewer than two images', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    await expect(fitHead({ positiveDir: path.join(dir, 'pos'), negativeDir: empty, outDir: path.join(dir, 'x') })).rejects.toThrow(
      /need at least 2 negative images, found 0/,
    );
  });
});

describe('logistic regression and image decoding', () => {
  it('fits a linearly separable problem and folds standardisation into the weights', () => {
    // y = 1 iff 3*x0 - x1 > 50, features on very different scales.
    const n = 200,
      d = 3;
    const x = new Float32Array(n * d);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const a = (i * 37) % 100,
        b = ((i * 91) % 100) * 1,
        c = 1000 + ((i * 13) % 7);
      x.set([a, b, c], i * d);
      y[i] = 3 * a - b > 50 ? 1 : 0;
    }
    const m = fitLogistic(x, n, d, y, { l2: 1e-4 });
    const p = predict(m, x, n, d);
    let correct = 0;
    for (let i = 0; i < n; i++) if ((p[i] as number) >= 0.5 === (y[i] === 1)) correct++;
    expect(correct / n).toBeGreaterThan(0.97);
    expect(fitLogistic(x, n, d, y, { l2: 1e-4 }).weights).toEqual(m.weights); // deterministic
  });

  it('decodes PNG rows under every filter type', () => {
    const rgb = scene('red', 9, 23, 11);
    const img = decodePng(png(rgb, 23, 11));
    expect(img.width).toBe(23);
    expect(Buffer.from(img.rgb).equals(Buffer.from(rgb))).toBe(true);
  });
});
