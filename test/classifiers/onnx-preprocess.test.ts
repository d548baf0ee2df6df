import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Preprocessor, type PreprocessSpec } from '../../classifiers/onnx/preprocess.ts';

const base: PreprocessSpec = {
  width: 8,
  height: 6,
  layout: 'NCHW',
  resize: 'stretch',
  sampling: 'half-pixel',
  colorOrder: 'RGB',
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  padValue: 0,
};

function randomImage(w: number, h: number, seed: number): Uint8Array {
  const a = new Uint8Array(w * h * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) % 256;
  }
  return a;
}

/** Straightforward reference: per output pixel, per channel, no precomputation. */
function reference(spec: PreprocessSpec, rgb: Uint8Array, sw: number, sh: number): Float32Array {
  const { width: W, height: H } = spec;
  const out = new Float32Array(3 * W * H);
  let rx = 0,
    ry = 0,
    rw = W,
    rh = H,
    x0 = 0,
    y0 = 0,
    cw = sw,
    ch = sh;
  if (spec.resize === 'letterbox') {
    const k = Math.min(W / sw, H / sh);
    rw = Math.max(1, Math.min(W, Math.round(sw * k)));
    rh = Math.max(1, Math.min(H, Math.round(sh * k)));
    rx = Math.floor((W - rw) / 2);
    ry = Math.floor((H - rh) / 2);
  } else if (spec.resize === 'center-crop') {
    const k = Math.max(W / sw, H / sh);
    cw = W / k;
    ch = H / k;
    x0 = (sw - cw) / 2;
    y0 = (sh - ch) / 2;
  }
  const src = (d: number, start: number, len: number, dst: number, n: number) => {
    const s = spec.sampling === 'align-corners' ? (dst > 1 ? start + (d * (len - 1)) / (dst - 1) : start) : start + ((d + 0.5) * len) / dst - 0.5;
    return Math.min(Math.max(s, 0), n - 1);
  };
  const px = (x: number, y: number, c: number) => rgb[(y * sw + x) * 3 + c] as number;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let k = 0; k < 3; k++) {
        const c = spec.colorOrder === 'BGR' ? 2 - k : k;
        let v: number;
        if (x < rx || x >= rx + rw || y < ry || y >= ry + rh) v = spec.padValue;
        else {
          const fx = src(x - rx, x0, cw, rw, sw);
          const fy = src(y - ry, y0, ch, rh, sh);
          const xa = Math.floor(fx),
            ya = Math.floor(fy);
          const xb = Math.min(xa + 1, sw - 1),
            yb = Math.min(ya + 1, sh - 1);
          const wx = fx - xa,
            wy = fy - ya;
          v = (px(xa, ya, c) * (1 - wx) + px(xb, ya, c) * wx) * (1 - wy) + (px(xa, yb, c) * (1 - wx) + px(xb, yb, c) * wx) * wy;
        }
        const val = (v * spec.scale - (spec.mean[k] as number)) / (spec.std[k] as number);
        const idx = spec.layout === 'NCHW' ? k * W * H + y * W + x : (y * W + x) * 3 + k;
        out[idx] = val;
      }
    }
  }
  return out;
}

describe('Preprocessor', () => {
  it('matches a naive reference for every resize mode, sampling, layout and colour order', () => {
    fc.assert(
      fc.property(
        fc.record({
          sw: fc.integer({ min: 1, max: 40 }),
          sh: fc.integer({ min: 1, max: 40 }),
          W: fc.integer({ min: 1, max: 24 }),
          H: fc.integer({ min: 1, max: 24 }),
          layout: fc.constantFrom('NCHW' as const, 'NHWC' as const),
          resize: fc.constantFrom('stretch' as const, 'letterbox' as const, 'center-crop' as const),
          sampling: fc.constantFrom('half-pixel' as const, 'align-corners' as const),
          colorOrder: fc.constantFrom('RGB' as const, 'BGR' as const),
          seed: fc.integer({ min: 1, max: 1e9 }),
        }),
        ({ sw, sh, W, H, layout, resize, sampling, colorOrder, seed }) => {
          const spec: PreprocessSpec = {
            ...base,
            width: W,
            height: H,
            layout,
            resize,
            sampling,
            colorOrder,
            scale: 1 / 255,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            padValue: 114,
          };
          const img = randomImage(sw, sh, seed);
          const p = new Preprocessor(spec);
          const out = new Float32Array(p.sampleLength * 3).fill(NaN);
          p.run(img, sw, sh, out, 1); // middle slot: must not touch its neighbours
          const want = reference(spec, img, sw, sh);
          const got = out.subarray(p.sampleLength, 2 * p.sampleLength);
          for (let i = 0; i < want.length; i++) expect(Math.abs((got[i] as number) - (want[i] as number))).toBeLessThan(1e-4);
          expect(out.subarray(0, p.sampleLength).every(Number.isNaN)).toBe(true);
          expect(out.subarray(2 * p.sampleLength).every(Number.isNaN)).toBe(true);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it('is the identity (up to scale) when the source already has the model size', () => {
    for (const sampling of ['half-pixel', 'align-corners'] as const) {
      const spec: PreprocessSpec = { ...base, width: 5, height: 3, layout: 'NHWC', sampling };
      const img = randomImage(5, 3, 3);
      const out = new Float32Array(45);
      new Preprocessor(spec).run(img, 5, 3, out, 0);
      expect(Array.from(out)).toEqual(Array.from(img));
    }
  });

  it('letterboxes a wide frame with padding rows above and below', () => {
    const spec: PreprocessSpec = { ...base, width: 4, height: 4, layout: 'NCHW', resize: 'letterbox', padValue: 7 };
    const img = new Uint8Array(8 * 4 * 3).fill(200); // 8x4 → 4x2 content, rows 1..2
    const out = new Float32Array(48);
    new Preprocessor(spec).run(img, 8, 4, out, 0);
    const plane0 = Array.from(out.subarray(0, 16));
    expect(plane0).toEqual([7, 7, 7, 7, 200, 200, 200, 200, 200, 200, 200, 200, 7, 7, 7, 7]);
  });

  it('swaps channels for BGR models and applies per-channel mean/std in model order', () => {
    const spec: PreprocessSpec = { ...base, width: 1, height: 1, colorOrder: 'BGR', mean: [10, 20, 30], std: [2, 4, 5] };
    const out = new Float32Array(3);
    new Preprocessor(spec).run(Uint8Array.from([100, 150, 230]), 1, 1, out, 0);
    expect(Array.from(out)).toEqual([(230 - 10) / 2, (150 - 20) / 4, (100 - 30) / 5]);
  });

  it('rejects a short buffer and a slot outside the tensor', () => {
    const p = new Preprocessor(base);
    expect(() => p.run(new Uint8Array(10), 4, 4, new Float32Array(p.sampleLength), 0)).toThrow(/needs 48/);
    expect(() => p.run(new Uint8Array(48), 4, 4, new Float32Array(p.sampleLength), 1)).toThrow(/does not fit/);
  });
});
