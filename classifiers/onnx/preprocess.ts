/**
 * Frame RGB24 (any size) → one sample of a model's float input tensor, written in place into a batch
 * buffer. Runs once per frame per model on the hot path, so: the bilinear sample positions for a given
 * source size are computed once and cached (streams keep their size), and the per-pixel loop allocates
 * nothing and does only integer indexing plus a few multiply-adds.
 */
import type { Manifest } from './manifest.ts';

export interface PreprocessSpec {
  width: number;
  height: number;
  layout: 'NCHW' | 'NHWC';
  resize: 'stretch' | 'letterbox' | 'center-crop';
  sampling: 'half-pixel' | 'align-corners';
  colorOrder: 'RGB' | 'BGR';
  scale: number;
  /** Per model channel (i.e. already in the model's colour order). */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  padValue: number;
}

export function specFromManifest(m: Manifest): PreprocessSpec {
  return {
    width: m.input.width,
    height: m.input.height,
    layout: m.input.layout,
    resize: m.preprocess.resize,
    sampling: m.preprocess.sampling,
    colorOrder: m.preprocess.colorOrder,
    scale: m.preprocess.scale,
    mean: m.preprocess.mean,
    std: m.preprocess.std,
    padValue: m.preprocess.padValue,
  };
}

/** Precomputed sampling for one source size: where each output column/row reads from, and with what weight. */
interface Plan {
  /** Destination rectangle that receives image content (the rest is padding, letterbox only). */
  rx: number;
  ry: number;
  rw: number;
  rh: number;
  /** Byte offsets within a source row of the left/right neighbours, per destination column. */
  x0: Int32Array;
  x1: Int32Array;
  fx: Float32Array;
  /** Byte offsets of the upper/lower source rows, per destination row. */
  y0: Int32Array;
  y1: Int32Array;
  fy: Float32Array;
}

/**
 * Maps destination samples 0..dstLen-1 onto the source window [start, start+len) of an axis with srcLen
 * pixels. Positions are clamped to the valid pixel range, so edges replicate rather than read out of bounds.
 */
function axisPlan(dstLen: number, start: number, len: number, srcLen: number, sampling: PreprocessSpec['sampling'], stride: number) {
  const i0 = new Int32Array(dstLen);
  const i1 = new Int32Array(dstLen);
  const f = new Float32Array(dstLen);
  for (let d = 0; d < dstLen; d++) {
    let s: number;
    if (sampling === 'align-corners') {
      // tf.image.resizeBilinear(alignCorners=true): corners map to corners.
      s = dstLen > 1 ? start + (d * (len - 1)) / (dstLen - 1) : start;
    } else {
      s = start + ((d + 0.5) * len) / dstLen - 0.5;
    }
    s = Math.min(Math.max(s, 0), srcLen - 1);
    const lo = Math.floor(s);
    const hi = Math.min(lo + 1, srcLen - 1);
    i0[d] = lo * stride;
    i1[d] = hi * stride;
    f[d] = s - lo;
  }
  return { i0, i1, f };
}

function makePlan(spec: PreprocessSpec, srcW: number, srcH: number): Plan {
  const W = spec.width;
  const H = spec.height;
  let rx = 0;
  let ry = 0;
  let rw = W;
  let rh = H;
  let sx = 0;
  let sy = 0;
  let sw = srcW;
  let sh = srcH;
  if (spec.resize === 'letterbox') {
    const k = Math.min(W / srcW, H / srcH);
    rw = Math.max(1, Math.min(W, Math.round(srcW * k)));
    rh = Math.max(1, Math.min(H, Math.round(srcH * k)));
    rx = Math.floor((W - rw) / 2);
    ry = Math.floor((H - rh) / 2);
  } else if (spec.resize === 'center-crop') {
    const k = Math.max(W / srcW, H / srcH);
    sw = W / k;
    sh = H / k;
    sx = (srcW - sw) / 2;
    sy = (srcH - sh) / 2;
  }
  const xs = axisPlan(rw, sx, sw, srcW, spec.sampling, 3);
  const ys = axisPlan(rh, sy, sh, srcH, spec.sampling, srcW * 3);
  return { rx, ry, rw, rh, x0: xs.i0, x1: xs.i1, fx: xs.f, y0: ys.i0, y1: ys.i1, fy: ys.f };
}

const PLAN_CACHE_SIZE = 8;

export class Preprocessor {
  /** Floats per sample: 3 × width × height. */
  readonly sampleLength: number;
  private readonly plans = new Map<string, Plan>();
  /** value = pixel * a[c] + b[c], per model channel. */
  private readonly a: readonly [number, number, number];
  private readonly b: readonly [number, number, number];
  /** Source (RGB) channel feeding each model channel. */
  private readonly srcChannel: readonly [number, number, number];

  constructor(readonly spec: PreprocessSpec) {
    this.sampleLength = 3 * spec.width * spec.height;
    const [m0, m1, m2] = spec.mean;
    const [s0, s1, s2] = spec.std;
    this.a = [spec.scale / s0, spec.scale / s1, spec.scale / s2];
    this.b = [-m0 / s0, -m1 / s1, -m2 / s2];
    this.srcChannel = spec.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  }

  private plan(srcW: number, srcH: number): Plan {
    const key = `${srcW}x${srcH}`;
    let p = this.plans.get(key);
    if (!p) {
      if (this.plans.size >= PLAN_CACHE_SIZE) this.plans.delete(this.plans.keys().next().value as string);
      p = makePlan(this.spec, srcW, srcH);
      this.plans.set(key, p);
    }
    return p;
  }

  /**
   * Writes the frame into `out` as sample number `index` (offset index × sampleLength).
   * `rgb` is packed RGB24 of srcW × srcH.
   */
  run(rgb: Uint8Array, srcW: number, srcH: number, out: Float32Array, index: number): void {
    if (!Number.isInteger(srcW) || !Number.isInteger(srcH) || srcW < 1 || srcH < 1) throw new RangeError(`bad frame size ${srcW}x${srcH}`);
    if (rgb.length < srcW * srcH * 3) throw new RangeError(`frame buffer holds ${rgb.length} bytes, ${srcW}x${srcH} RGB24 needs ${srcW * srcH * 3}`);
    const base = index * this.sampleLength;
    if (base + this.sampleLength > out.length) throw new RangeError(`sample ${index} does not fit in a tensor of ${out.length} floats`);
    const { width: W, height: H, layout } = this.spec;
    const plan = this.plan(srcW, srcH);
    const [a0, a1, a2] = this.a;
    const [b0, b1, b2] = this.b;
    const [c0, c1, c2] = this.srcChannel;

    if (this.spec.resize === 'letterbox' && (plan.rw !== W || plan.rh !== H)) {
      const pv = this.spec.padValue;
      const pads = [pv * a0 + b0, pv * a1 + b1, pv * a2 + b2] as const;
      if (layout === 'NCHW') {
        const plane = W * H;
        for (let c = 0; c < 3; c++) out.fill(pads[c] as number, base + c * plane, base + (c + 1) * plane);
      } else {
        for (let i = base, end = base + this.sampleLength; i < end; i += 3) {
          out[i] = pads[0];
          out[i + 1] = pads[1];
          out[i + 2] = pads[2];
        }
      }
    }

    const { rx, ry, rw, rh, x0, x1, fx, y0, y1, fy } = plan;
    const plane = W * H;
    // Output strides: NCHW writes three planes, NHWC interleaves channels.
    const pixStride = layout === 'NCHW' ? 1 : 3;
    const chStride = layout === 'NCHW' ? plane : 1;
    for (let y = 0; y < rh; y++) {
      const r0 = y0[y] as number;
      const r1 = y1[y] as number;
      const wy = fy[y] as number;
      let o = base + ((ry + y) * W + rx) * pixStride;
      for (let x = 0; x < rw; x++, o += pixStride) {
        const p00 = r0 + (x0[x] as number);
        const p01 = r0 + (x1[x] as number);
        const p10 = r1 + (x0[x] as number);
        const p11 = r1 + (x1[x] as number);
        const wx = fx[x] as number;
        // Same operation order as tf.image.resizeBilinear (lerp across, then down) to keep parity tight.
        let t = (rgb[p00 + c0] as number) + ((rgb[p01 + c0] as number) - (rgb[p00 + c0] as number)) * wx;
        let u = (rgb[p10 + c0] as number) + ((rgb[p11 + c0] as number) - (rgb[p10 + c0] as number)) * wx;
        out[o] = (t + (u - t) * wy) * a0 + b0;
        t = (rgb[p00 + c1] as number) + ((rgb[p01 + c1] as number) - (rgb[p00 + c1] as number)) * wx;
        u = (rgb[p10 + c1] as number) + ((rgb[p11 + c1] as number) - (rgb[p10 + c1] as number)) * wx;
        out[o + chStride] = (t + (u - t) * wy) * a1 + b1;
        t = (rgb[p00 + c2] as number) + ((rgb[p01 + c2] as number) - (rgb[p00 + c2] as number)) * wx;
        u = (rgb[p10 + c2] as number) + ((rgb[p11 + c2] as number) - (rgb[p10 + c2] as number)) * wx;
        out[o + 2 * chStride] = (t + (u - t) * wy) * a2 + b2;
      }
    }
  }
}
