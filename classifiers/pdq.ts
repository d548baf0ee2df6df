/**
 * PDQ, Meta's 256-bit perceptual image hash, in TypeScript.
 *
 * Follows the reference C++ (facebook/ThreatExchange `pdq/cpp`) step by step: float luminance
 * 0.299/0.587/0.114, two rounds of Jarosz box filters (window ceil(dim/128) per axis, edge-normalised),
 * 64×64 decimation at pixel centres, a 16×16 DCT (rows/cols 1..16 of the 64-point DCT-II), Torben's
 * (lower) median threshold, bit k = i*16 + j, hex printed from row 15 down to row 0.
 *
 * Speed: the reference blurs the whole image four times and then keeps only 64×64 samples. Box filters
 * are linear and separable, so the two rounds evaluated at the 64 sample positions of an axis are one
 * fixed kernel per sample (a tent of ~2·window taps). `PdqHasher` precomputes those kernels per frame
 * size and applies them straight to the luma rows: the same numbers as the reference up to float
 * rounding (arithmetic here is double, like the reference Python port), at a fraction of the work.
 * `pdqReferenceFromLuma` keeps the straight full-buffer pipeline as an oracle and benchmark baseline.
 */

/** 256-bit hash as 8 little-endian 32-bit words: word m holds DCT row 2m in its low 16 bits and row 2m+1 in its high 16 bits. */
export type PdqHash = Uint32Array;

export const PDQ_WORDS = 8;
export const PDQ_HEX_LENGTH = 64;
/** Meta's recommended "confident match" threshold. */
export const PDQ_MATCH_DISTANCE = 31;
/** Below this quality the hash carries too little structure to match on. */
export const PDQ_MIN_QUALITY = 50;

const MIN_HASHABLE_DIM = 5;
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;
/** The reference tool resizes any image with a side over this to exactly this square. */
const PRE_RESIZE_DIM = 512;

/**
 * The reference's `pdqDihedralHash256es` outputs: the hash the image would have after
 * rotate90 = 90° counter-clockwise, rotate180, rotate270 = 90° clockwise, flipX = upside down (mirror
 * across the horizontal axis), flipY = left-right mirror, flipPlus1 = transpose (main diagonal),
 * flipMinus1 = anti-diagonal transpose. Exact when the geometry is symmetric (odd box windows, e.g. sides
 * of 320 or 576 px); otherwise the half-pixel asymmetry of even windows and centre sampling costs a few bits.
 */
export const DIHEDRAL_VARIANTS = ['original', 'rotate90', 'rotate180', 'rotate270', 'flipX', 'flipY', 'flipPlus1', 'flipMinus1'] as const;
export type DihedralVariant = (typeof DIHEDRAL_VARIANTS)[number];

export interface PdqResult {
  hash: PdqHash;
  /** 0..100; below 50 the hash should not be matched on. */
  quality: number;
  /** The hashes the 8 rotations/flips of the image would have, from the same DCT. */
  dihedral?: Record<DihedralVariant, PdqHash>;
}

export interface PdqOptions {
  /** Also derive the 8 dihedral hashes (nearly free: 7 extra medians of 256 values). */
  dihedral?: boolean;
  /**
   * Resize inputs with a side over 512 to exactly 512×512 by nearest neighbour first, as the reference
   * *tool* does. Matches hashes made by that tool a bit or two more closely and is ~3× faster on HD
   * frames, but drops pixels (aliasing) where the full-resolution tent filter averages them. Default off.
   */
  preResize512?: boolean;
}

// ---------------------------------------------------------------- hash values

export function zeroHash(): PdqHash {
  return new Uint32Array(PDQ_WORDS);
}

/** 16-bit row word i (DCT row i) of a hash. */
export function hashRow(hash: PdqHash, row: number): number {
  return ((hash[row >> 1] ?? 0) >>> ((row & 1) << 4)) & 0xffff;
}

const HEX_RE = /^[0-9a-fA-F]{64}$/;

export function isPdqHex(text: string): boolean {
  return HEX_RE.test(text);
}

/** 64 lowercase hex characters, row 15 first (the reference `%04x` × 16 from w[15] to w[0]). */
export function toHex(hash: PdqHash): string {
  let out = '';
  for (let row = 15; row >= 0; row--) out += hashRow(hash, row).toString(16).padStart(4, '0');
  return out;
}

/** Parses 64 hex characters (either case); throws on anything else. */
export function fromHex(text: string): PdqHash {
  if (!HEX_RE.test(text)) {
    throw new Error(`not a 64-hex PDQ hash: '${text.length > 80 ? `${text.slice(0, 80)}…` : text}'`);
  }
  const hash = zeroHash();
  for (let row = 15; row >= 0; row--) {
    const start = (15 - row) * 4;
    const value = Number.parseInt(text.slice(start, start + 4), 16);
    hash[row >> 1] = (hash[row >> 1] ?? 0) | (value << ((row & 1) << 4));
  }
  return hash;
}

/** Bits set in a 32-bit word (SWAR; Math.imul keeps the multiply in 32 bits). */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

export function hamming(a: PdqHash, b: PdqHash): number {
  let d = 0;
  // XOR yields int32, which keeps popcount32 on V8's integer fast path (no >>> 0 to doubles).
  for (let w = 0; w < PDQ_WORDS; w++) d += popcount32((a[w] ?? 0) ^ (b[w] ?? 0));
  return d;
}

export function hashEquals(a: PdqHash, b: PdqHash): boolean {
  for (let w = 0; w < PDQ_WORDS; w++) if (a[w] !== b[w]) return false;
  return true;
}

// ---------------------------------------------------------------- DCT, median, bits (shared by both paths)

/** D[i][j] = sqrt(2/64) · cos(π/128 · (i+1) · (2j+1)), 16×64 row-major: DCT rows 1..16 (DC skipped). */
const DCT_16x64: Float64Array = (() => {
  const d = new Float64Array(16 * 64);
  const scale = Math.sqrt(2 / 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) d[i * 64 + j] = scale * Math.cos((Math.PI / 128) * (i + 1) * (2 * j + 1));
  }
  return d;
})();

/** B = D · A · Dᵀ for the 64×64 sample buffer A; t is 16×64 scratch, out 16×16. */
function dct64To16(a: Float64Array, t: Float64Array, out: Float64Array): void {
  const d = DCT_16x64;
  t.fill(0);
  for (let i = 0; i < 16; i++) {
    const tRow = i * 64;
    for (let k = 0; k < 64; k++) {
      const dik = d[i * 64 + k]!;
      const aRow = k * 64;
      for (let j = 0; j < 64; j++) t[tRow + j]! += dik * a[aRow + j]!;
    }
  }
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum += t[i * 64 + k]! * d[j * 64 + k]!;
      out[i * 16 + j] = sum;
    }
  }
}

/** Torben Mogensen's median without sorting: the lower median ((n+1)/2-th smallest), as the reference. */
export function torbenMedian(m: ArrayLike<number>): number {
  const n = m.length;
  let min = m[0]!;
  let max = min;
  for (let i = 1; i < n; i++) {
    const v = m[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const half = (n + 1) >> 1;
  for (;;) {
    const guess = (min + max) / 2;
    let less = 0;
    let greater = 0;
    let equal = 0;
    let maxLtGuess = min;
    let minGtGuess = max;
    for (let i = 0; i < n; i++) {
      const v = m[i]!;
      if (v < guess) {
        less++;
        if (v > maxLtGuess) maxLtGuess = v;
      } else if (v > guess) {
        greater++;
        if (v < minGtGuess) minGtGuess = v;
      } else {
        equal++;
      }
    }
    if (less <= half && greater <= half) {
      if (less >= half) return maxLtGuess;
      if (less + equal >= half) return guess;
      return minGtGuess;
    }
    if (less > greater) max = maxLtGuess;
    else min = minGtGuess;
  }
}

/** Bit i*16+j is set when B[i][j] exceeds the median. */
function bitsFromDct(b: Float64Array): PdqHash {
  const median = torbenMedian(b);
  const hash = zeroHash();
  for (let k = 0; k < 256; k++) {
    if (b[k]! > median) hash[k >> 5] = (hash[k >> 5]! | (1 << (k & 31))) >>> 0;
  }
  return hash;
}

/**
 * Dihedral variants as maps on the 16×16 DCT: a flip along an axis negates the odd frequencies of that
 * axis (index i = frequency i+1, so even indices), a diagonal flip transposes. Semantics follow the
 * reference's dct16OriginalTo* functions exactly.
 */
interface DihedralMap {
  transpose: boolean;
  negate: (i: number, j: number) => boolean;
}
const DIHEDRAL_MAPS: Record<DihedralVariant, DihedralMap> = {
  original: { transpose: false, negate: () => false },
  rotate90: { transpose: true, negate: (_i, j) => (j & 1) === 0 },
  rotate180: { transpose: false, negate: (i, j) => ((i + j) & 1) === 1 },
  rotate270: { transpose: true, negate: (i) => (i & 1) === 0 },
  flipX: { transpose: false, negate: (i) => (i & 1) === 0 },
  flipY: { transpose: false, negate: (_i, j) => (j & 1) === 0 },
  flipPlus1: { transpose: true, negate: () => false },
  flipMinus1: { transpose: true, negate: (i, j) => ((i + j) & 1) === 1 },
};

/** Per variant: destination index and sign for each source coefficient, computed once. */
const DIHEDRAL_TABLES = DIHEDRAL_VARIANTS.map((variant) => {
  const map = DIHEDRAL_MAPS[variant];
  const dest = new Uint8Array(256);
  const sign = new Float64Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      dest[i * 16 + j] = map.transpose ? j * 16 + i : i * 16 + j;
      sign[i * 16 + j] = map.negate(i, j) ? -1 : 1;
    }
  }
  return { variant, dest, sign };
});

function dihedralHashes(dct: Float64Array, scratch: Float64Array): Record<DihedralVariant, PdqHash> {
  const out = {} as Record<DihedralVariant, PdqHash>;
  for (const { variant, dest, sign } of DIHEDRAL_TABLES) {
    for (let k = 0; k < 256; k++) scratch[dest[k]!] = dct[k]! * sign[k]!;
    out[variant] = bitsFromDct(scratch);
  }
  return out;
}

/** Sum of quantised neighbour gradients of the 64×64 buffer, /90, capped at 100 (reference heuristic). */
function qualityOf(a: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) sum += Math.abs(Math.trunc(((a[i * 64 + j]! - a[(i + 1) * 64 + j]!) * 100) / 255));
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) sum += Math.abs(Math.trunc(((a[i * 64 + j]! - a[i * 64 + j + 1]!) * 100) / 255));
  }
  return Math.min(100, Math.trunc(sum / 90));
}

function emptyResult(opts: PdqOptions | undefined): PdqResult {
  const result: PdqResult = { hash: zeroHash(), quality: 0 };
  if (opts?.dihedral) {
    const dihedral = {} as Record<DihedralVariant, PdqHash>;
    for (const v of DIHEDRAL_VARIANTS) dihedral[v] = zeroHash();
    result.dihedral = dihedral;
  }
  return result;
}

// ---------------------------------------------------------------- Jarosz geometry

/** Per-pass box window along an axis: ceil(dim / 128), as `(dim + 2*64 - 1) / (2*64)`. */
export function jaroszWindow(dim: number): number {
  return Math.floor((dim + 127) / 128);
}

/** Input range [lo, hi] averaged into output k by the reference box1DFloat (edge windows shrink). */
function boxRange(k: number, n: number, window: number): [number, number] {
  const half = Math.floor((window + 2) / 2);
  return [Math.max(0, k - window + half), Math.min(n - 1, k + half - 1)];
}

/** Sample index of output k of 64 along an axis of n pixels: the pixel centre `(int)((k + 0.5) * n / 64)`. */
function sampleIndex(k: number, n: number): number {
  return Math.floor(((k + 0.5) * n) / 64);
}

/**
 * The two box passes along one axis, evaluated at the 64 sample positions: tap weights per sample.
 * weights[k*maxTaps + t] applies to input index start[k] + t.
 */
interface AxisKernel {
  n: number;
  start: Int32Array;
  taps: Int32Array;
  maxTaps: number;
  weights: Float64Array;
}

function buildAxisKernel(n: number): AxisKernel {
  const window = jaroszWindow(n);
  const start = new Int32Array(64);
  const taps = new Int32Array(64);
  const rows: Float64Array[] = [];
  let maxTaps = 0;
  for (let k = 0; k < 64; k++) {
    const s = sampleIndex(k, n);
    const [lo2, hi2] = boxRange(s, n, window);
    const first = boxRange(lo2, n, window)[0];
    const last = boxRange(hi2, n, window)[1];
    const w = new Float64Array(last - first + 1);
    const outer = 1 / (hi2 - lo2 + 1);
    for (let c = lo2; c <= hi2; c++) {
      const [lo1, hi1] = boxRange(c, n, window);
      const inner = outer / (hi1 - lo1 + 1);
      for (let x = lo1; x <= hi1; x++) w[x - first]! += inner;
    }
    start[k] = first;
    taps[k] = w.length;
    maxTaps = Math.max(maxTaps, w.length);
    rows.push(w);
  }
  const weights = new Float64Array(64 * maxTaps);
  rows.forEach((w, k) => weights.set(w, k * maxTaps));
  return { n, start, taps, maxTaps, weights };
}

// ---------------------------------------------------------------- fast hasher

type LumaInput = Float32Array | Float64Array | Uint8Array;

/**
 * Reusable hasher: caches the axis kernels for the last frame size and keeps its scratch buffers, so a
 * stream of same-sized frames allocates only the result hashes. Not re-entrant; use one per worker.
 */
export class PdqHasher {
  private colKernel: AxisKernel | null = null;
  private rowKernel: AxisKernel | null = null;
  /** Rows any vertical kernel reads; others are skipped entirely. */
  private neededRows = new Uint8Array(0);
  private lumaRow = new Float64Array(0);
  private srcCols = new Int32Array(0);
  private srcColsWidth = -1;
  /** H × 64: each luma row filtered horizontally at the 64 sample columns. */
  private rowSamples = new Float64Array(0);
  private readonly buf64 = new Float64Array(64 * 64);
  private readonly buf16x64 = new Float64Array(16 * 64);
  private readonly dct = new Float64Array(256);
  private readonly aux = new Float64Array(256);

  fromRgb(rgb: Uint8Array, width: number, height: number, opts?: PdqOptions): PdqResult {
    checkBuffer(rgb.length, width, height, 3);
    return this.run(width, height, opts, (srcRow, outOffset, srcCols) => {
      const base = srcRow * width * 3;
      if (srcCols === null) {
        // Full resolution: luma computed inside the tap loop, no intermediate row buffer.
        filterRgbRow(rgb, base, this.colKernel!, this.rowSamples, outOffset);
        return;
      }
      const row = this.lumaRow;
      for (let x = 0; x < row.length; x++) {
        const p = base + srcCols[x]! * 3;
        row[x] = LUMA_R * rgb[p]! + LUMA_G * rgb[p + 1]! + LUMA_B * rgb[p + 2]!;
      }
      filterRow(row, 0, this.colKernel!, this.rowSamples, outOffset);
    });
  }

  fromLuma(luma: LumaInput, width: number, height: number, opts?: PdqOptions): PdqResult {
    checkBuffer(luma.length, width, height, 1);
    return this.run(width, height, opts, (srcRow, outOffset, srcCols) => {
      const base = srcRow * width;
      if (srcCols === null) {
        filterRow(luma, base, this.colKernel!, this.rowSamples, outOffset);
        return;
      }
      const row = this.lumaRow;
      for (let x = 0; x < row.length; x++) row[x] = luma[base + srcCols[x]!]!;
      filterRow(row, 0, this.colKernel!, this.rowSamples, outOffset);
    });
  }

  /**
   * Blur+decimate into buf64 through the kernels, then the shared tail (quality, DCT, bits).
   * `filterSourceRow` writes the 64 horizontal samples of one (possibly resized) row; srcCols is the
   * nearest-neighbour column map when pre-resizing, else null.
   */
  private run(
    width: number,
    height: number,
    opts: PdqOptions | undefined,
    filterSourceRow: (srcRow: number, outOffset: number, srcCols: Int32Array | null) => void,
  ): PdqResult {
    if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) return emptyResult(opts);
    const resize = opts?.preResize512 === true && (width > PRE_RESIZE_DIM || height > PRE_RESIZE_DIM);
    const w = resize ? PRE_RESIZE_DIM : width;
    const h = resize ? PRE_RESIZE_DIM : height;
    this.prepare(w, h, width);
    for (let y = 0; y < h; y++) {
      if (this.neededRows[y] === 0) continue;
      // Nearest neighbour like CImg's resize: source index floor(dst * src / dst_dim).
      if (resize) filterSourceRow(Math.floor((y * height) / PRE_RESIZE_DIM), y * 64, this.srcCols);
      else filterSourceRow(y, y * 64, null);
    }
    filterColumns(this.rowSamples, this.rowKernel!, this.buf64);
    return this.finish(opts);
  }

  private prepare(w: number, h: number, srcWidth: number): void {
    if (this.colKernel?.n !== w) {
      this.colKernel = buildAxisKernel(w);
      this.lumaRow = new Float64Array(w);
    }
    if (this.rowKernel?.n !== h) {
      this.rowKernel = buildAxisKernel(h);
      this.rowSamples = new Float64Array(h * 64);
      this.neededRows = new Uint8Array(h);
      const k = this.rowKernel;
      for (let i = 0; i < 64; i++) this.neededRows.fill(1, k.start[i]!, k.start[i]! + k.taps[i]!);
    }
    if (this.srcCols.length !== w || this.srcColsWidth !== srcWidth) {
      this.srcCols = new Int32Array(w);
      this.srcColsWidth = srcWidth;
      for (let x = 0; x < w; x++) this.srcCols[x] = Math.floor((x * srcWidth) / w);
    }
  }

  private finish(opts: PdqOptions | undefined): PdqResult {
    const quality = qualityOf(this.buf64);
    dct64To16(this.buf64, this.buf16x64, this.dct);
    const result: PdqResult = { hash: bitsFromDct(this.dct), quality };
    if (opts?.dihedral) result.dihedral = dihedralHashes(this.dct, this.aux);
    return result;
  }
}

function checkBuffer(length: number, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`bad image size ${width}x${height}`);
  }
  if (length < width * height * channels) {
    throw new RangeError(`buffer of ${length} bytes is too small for ${width}x${height}x${channels}`);
  }
}

/** The 64 horizontal kernel outputs of one luma row starting at row[base], written to out[offset..offset+63]. */
function filterRow(row: LumaInput, base: number, k: AxisKernel, out: Float64Array, offset: number): void {
  const { start, taps, weights, maxTaps } = k;
  for (let s = 0; s < 64; s++) {
    const x0 = base + start[s]!;
    const n = taps[s]!;
    const wBase = s * maxTaps;
    let sum = 0;
    for (let t = 0; t < n; t++) sum += weights[wBase + t]! * row[x0 + t]!;
    out[offset + s] = sum;
  }
}

/** As filterRow on an RGB24 row, computing each tap's luma on the fly (same expression as the reference). */
function filterRgbRow(rgb: Uint8Array, base: number, k: AxisKernel, out: Float64Array, offset: number): void {
  const { start, taps, weights, maxTaps } = k;
  for (let s = 0; s < 64; s++) {
    let p = base + start[s]! * 3;
    const n = taps[s]!;
    const wBase = s * maxTaps;
    let sum = 0;
    for (let t = 0; t < n; t++, p += 3) sum += weights[wBase + t]! * (LUMA_R * rgb[p]! + LUMA_G * rgb[p + 1]! + LUMA_B * rgb[p + 2]!);
    out[offset + s] = sum;
  }
}

/** The vertical kernels over the H × 64 row samples: the final 64×64 buffer. */
function filterColumns(samples: Float64Array, k: AxisKernel, out: Float64Array): void {
  const { start, taps, weights, maxTaps } = k;
  out.fill(0);
  for (let i = 0; i < 64; i++) {
    const y0 = start[i]!;
    const n = taps[i]!;
    const outBase = i * 64;
    for (let t = 0; t < n; t++) {
      const wt = weights[i * maxTaps + t]!;
      const inBase = (y0 + t) * 64;
      for (let j = 0; j < 64; j++) out[outBase + j]! += wt * samples[inBase + j]!;
    }
  }
}

const defaultHasher = new PdqHasher();

/** PDQ of packed RGB24 (width*height*3 bytes, row-major). Uses a shared module-level hasher. */
export function pdqFromRgb(rgb: Uint8Array, width: number, height: number, opts?: PdqOptions): PdqResult {
  return defaultHasher.fromRgb(rgb, width, height, opts);
}

/** PDQ of a luminance plane (0..255 scale), row-major. */
export function pdqFromLuma(luma: LumaInput, width: number, height: number, opts?: PdqOptions): PdqResult {
  return defaultHasher.fromLuma(luma, width, height, opts);
}

// ---------------------------------------------------------------- straight reference pipeline

/**
 * The reference pipeline as written: full-size float buffers, box filters along rows then columns,
 * twice, then decimation. Allocates per call and does ~4 full passes; kept as the oracle the fast path
 * is tested against and as the benchmark baseline.
 */
export function pdqReferenceFromLuma(luma: LumaInput, width: number, height: number, opts?: PdqOptions): PdqResult {
  checkBuffer(luma.length, width, height, 1);
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) return emptyResult(opts);
  const n = width * height;
  const buf1 = new Float32Array(n);
  buf1.set(luma.subarray(0, n));
  const buf2 = new Float32Array(n);
  const winAlongRows = jaroszWindow(width);
  const winAlongCols = jaroszWindow(height);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < height; i++) box1D(buf1, buf2, i * width, 1, width, winAlongRows);
    for (let j = 0; j < width; j++) box1D(buf2, buf1, j, width, height, winAlongCols);
  }
  const a = new Float64Array(64 * 64);
  for (let i = 0; i < 64; i++) {
    const si = sampleIndex(i, height);
    for (let j = 0; j < 64; j++) a[i * 64 + j] = buf1[si * width + sampleIndex(j, width)]!;
  }
  const dct = new Float64Array(256);
  dct64To16(a, new Float64Array(16 * 64), dct);
  const result: PdqResult = { hash: bitsFromDct(dct), quality: qualityOf(a) };
  if (opts?.dihedral) result.dihedral = dihedralHashes(dct, new Float64Array(256));
  return result;
}

/** Reference box1DFloat: running mean over a window that shrinks at both ends. */
function box1D(input: Float32Array, output: Float32Array, offset: number, stride: number, length: number, window: number): void {
  const half = Math.floor((window + 2) / 2);
  let sum = 0;
  let count = 0;
  let ri = offset;
  let li = offset;
  let oi = offset;
  for (let i = 0; i < half - 1; i++, ri += stride, count++) sum += input[ri]!;
  for (let i = 0; i < window - half + 1; i++, ri += stride, oi += stride) {
    sum += input[ri]!;
    count++;
    output[oi] = sum / count;
  }
  for (let i = 0; i < length - window; i++, ri += stride, li += stride, oi += stride) {
    sum += input[ri]!;
    sum -= input[li]!;
    output[oi] = sum / count;
  }
  for (let i = 0; i < half - 1; i++, li += stride, oi += stride) {
    sum -= input[li]!;
    count--;
    output[oi] = sum / count;
  }
}

/** Luma plane of packed RGB24, as the reference fills it. */
export function lumaFromRgb(rgb: Uint8Array, width: number, height: number): Float32Array {
  checkBuffer(rgb.length, width, height, 3);
  const luma = new Float32Array(width * height);
  for (let p = 0, q = 0; p < luma.length; p++, q += 3) luma[p] = LUMA_R * rgb[q]! + LUMA_G * rgb[q + 1]! + LUMA_B * rgb[q + 2]!;
  return luma;
}
