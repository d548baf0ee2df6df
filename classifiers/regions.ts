/**
 * Where in a picture to hash: the pure geometry behind shape-true and region-aware matching.
 *
 * PDQ hashes a whole picture, so anything that changes what "the whole picture" is defeats it: padding
 * (a portrait stream letterboxed into the sampler's 16:9 frame costs ~114 bits), a crop (10 % per side:
 * ~110 bits), a caption over part of it, the picture inside other video. Three answers, all here:
 *  - `trimBorders`: the rectangle left once uniform borders (letterbox, pillarbox, solid frames) are cut
 *    away, applied to live frames and banked images alike;
 *  - `bankRegions` / `liveRegions`: a fixed set of crops (centre crops at several scales, overlapping tiles)
 *    hashed when content is banked, and tiles hashed per live frame, so a crop matches a banked centre crop
 *    and a partly covered frame still matches on its uncovered tiles;
 *  - `findInnerRect`: a picture-in-picture / screen region, found from strong straight edges.
 */

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
  /**
   * Bytes per pixel: 3 (packed RGB, the default) or 1 (a luma plane in `rgb`: a live frame's Y plane,
   * classifiers/yuv-frame.ts). Trimming and cropping take either; the other functions here want RGB.
   */
  channels?: 1 | 3;
}

export interface TrimOptions {
  /** Largest per-channel difference from the border colour that still counts as border. */
  tolerance?: number;
  /** Share of a line's pixels that may differ (noise, a logo's edge) and still call the line border. */
  outliers?: number;
  /** Never trim below this share of the original side (a mostly uniform picture is not a border). */
  minKeep?: number;
}

const TRIM_DEFAULTS: Required<TrimOptions> = { tolerance: 20, outliers: 0.02, minKeep: 0.2 };

/** Is row y (or column x when `vertical`) within tolerance of colour c, but for `outliers` of its pixels? */
function lineIsUniform(img: RgbImage, index: number, vertical: boolean, c: readonly [number, number, number], o: Required<TrimOptions>): boolean {
  const { rgb, width, height } = img;
  const n = vertical ? height : width;
  const allowed = Math.floor(n * o.outliers);
  let off = 0;
  if (img.channels === 1) {
    const step = vertical ? width : 1;
    for (let i = 0, p = vertical ? index : index * width; i < n; i++, p += step) {
      if (Math.abs(rgb[p]! - c[0]) > o.tolerance && ++off > allowed) return false;
    }
    return true;
  }
  const step = vertical ? width * 3 : 3;
  let p = vertical ? index * 3 : index * width * 3;
  for (let i = 0; i < n; i++, p += step) {
    if (Math.abs(rgb[p]! - c[0]) > o.tolerance || Math.abs(rgb[p + 1]! - c[1]) > o.tolerance || Math.abs(rgb[p + 2]! - c[2]) > o.tolerance) {
      if (++off > allowed) return false;
    }
  }
  return true;
}

/** Per-channel median of one line: the border colour candidate (robust to a few odd pixels). */
function lineMedian(img: RgbImage, index: number, vertical: boolean): [number, number, number] {
  const { rgb, width, height } = img;
  const k = img.channels ?? 3;
  const n = vertical ? height : width;
  const step = vertical ? width * k : k;
  const start = vertical ? index * k : index * width * k;
  const out: [number, number, number] = [0, 0, 0];
  for (let ch = 0; ch < k; ch++) {
    const hist = new Uint32Array(256);
    for (let i = 0, p = start + ch; i < n; i++, p += step) hist[rgb[p]!]!++;
    let acc = 0;
    let v = 0;
    while (v < 255 && (acc += hist[v]!) * 2 < n) v++;
    out[ch] = v;
  }
  return out;
}

/**
 * The picture inside uniform borders: from each side, lines are cut while they are uniform and of the same
 * colour as that side's outermost line. Returns the whole frame when there is no border, and also when
 * the "border" would leave less than `minKeep` of a side (a uniform picture, a frame of solid colour).
 * Sides are trimmed independently, so a letterbox and a pillarbox are removed together.
 */
export function trimBorders(img: RgbImage, opts: TrimOptions = {}): Rect {
  const o = { ...TRIM_DEFAULTS, ...opts };
  const { width: w, height: h } = img;
  const full: Rect = { x: 0, y: 0, w, h };
  if (w < 8 || h < 8) return full;
  const top = borderDepth(img, false, 0, 1, o);
  const bottom = borderDepth(img, false, h - 1, -1, o);
  if (h - top - bottom < Math.ceil(h * o.minKeep)) return full;
  // Columns are judged on the rows that remain, so a letterbox's bars do not hide a pillarbox's (or the reverse).
  const inner = top + bottom > 0 ? cropImage(img, { x: 0, y: top, w, h: h - top - bottom }) : img;
  const left = borderDepth(inner, true, 0, 1, o);
  const right = borderDepth(inner, true, w - 1, -1, o);
  if (w - left - right < Math.ceil(w * o.minKeep)) return full;
  return { x: left, y: top, w: w - left - right, h: h - top - bottom };
}

/** How many lines from `from` inwards are uniform and of the outermost line's colour. */
function borderDepth(img: RgbImage, vertical: boolean, from: number, dir: 1 | -1, o: Required<TrimOptions>): number {
  const n = vertical ? img.width : img.height;
  const c = lineMedian(img, from, vertical);
  let cut = 0;
  for (let i = from; cut < n && lineIsUniform(img, i, vertical, c, o); i += dir) cut++;
  return cut;
}

export const isWhole = (r: Rect, img: { width: number; height: number }) => r.x === 0 && r.y === 0 && r.w === img.width && r.h === img.height;

/** A copy of the rectangle's pixels (clamped to the image). */
export function cropImage(img: RgbImage, r: Rect): RgbImage {
  const x0 = Math.max(0, Math.min(img.width, Math.round(r.x)));
  const y0 = Math.max(0, Math.min(img.height, Math.round(r.y)));
  const w = Math.max(0, Math.min(img.width - x0, Math.round(r.w)));
  const h = Math.max(0, Math.min(img.height - y0, Math.round(r.h)));
  const k = img.channels ?? 3;
  const out = new Uint8Array(w * h * k);
  const rowBytes = w * k;
  for (let y = 0; y < h; y++) {
    const src = ((y0 + y) * img.width + x0) * k;
    out.set(img.rgb.subarray(src, src + rowBytes), y * rowBytes);
  }
  return k === 1 ? { rgb: out, width: w, height: h, channels: 1 } : { rgb: out, width: w, height: h };
}

// ---------------------------------------------------------------- fixed crop sets

/** A named crop, in fractions of the picture it is taken from (after trimming). */
export interface RegionSpec {
  name: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Centre crops: a re-stream cropped by 5–20 % per side matches one of these (PDQ itself allows ~5 %). */
export const CENTRE_SCALES = [0.9, 0.8, 0.7] as const;
/** Overlapping tiles: 60 % of each side at the four corners, and the four 60 % bands. */
const TILE = 0.6;

export const TILE_REGIONS: readonly RegionSpec[] = [
  { name: 'tile-tl', x: 0, y: 0, w: TILE, h: TILE },
  { name: 'tile-tr', x: 1 - TILE, y: 0, w: TILE, h: TILE },
  { name: 'tile-bl', x: 0, y: 1 - TILE, w: TILE, h: TILE },
  { name: 'tile-br', x: 1 - TILE, y: 1 - TILE, w: TILE, h: TILE },
  { name: 'band-top', x: 0, y: 0, w: 1, h: TILE },
  { name: 'band-bottom', x: 0, y: 1 - TILE, w: 1, h: TILE },
  { name: 'band-left', x: 0, y: 0, w: TILE, h: 1 },
  { name: 'band-right', x: 1 - TILE, y: 0, w: TILE, h: 1 },
];

export const CENTRE_REGIONS: readonly RegionSpec[] = CENTRE_SCALES.map((s) => ({
  name: `centre-${Math.round(s * 100)}`,
  x: (1 - s) / 2,
  y: (1 - s) / 2,
  w: s,
  h: s,
}));

/** What is hashed when content is banked, besides the whole (and trimmed) picture. */
export const BANK_REGIONS: readonly RegionSpec[] = [...CENTRE_REGIONS, ...TILE_REGIONS];
/** What is hashed per live frame besides the whole (and trimmed) frame: the same tiles, matched tile to tile. */
export const LIVE_REGIONS: readonly RegionSpec[] = TILE_REGIONS;

/** A region spec in pixels of a rectangle `within`. */
export function regionRect(spec: RegionSpec, within: Rect): Rect {
  const x = within.x + Math.round(spec.x * within.w);
  const y = within.y + Math.round(spec.y * within.h);
  return { x, y, w: Math.round(spec.w * within.w), h: Math.round(spec.h * within.h) };
}

// ---------------------------------------------------------------- inner rectangle

export interface InnerRectOptions {
  /** Luma step that counts as an edge pixel. */
  edge?: number;
  /** Share of each side's pixels that must be edges. */
  coverage?: number;
  /** How much more of a side than of its parallels a few pixels away must be edges. */
  contrast?: number;
  /** The rectangle must cover at least / at most this share of the frame's area. */
  minArea?: number;
  maxArea?: number;
  /** Candidate lines per axis kept from the edge profile. */
  candidates?: number;
}

const INNER_DEFAULTS: Required<InnerRectOptions> = { edge: 20, coverage: 0.55, contrast: 0.3, minArea: 0.12, maxArea: 0.8, candidates: 10 };

/**
 * A picture-in-picture or screen region: the axis-aligned rectangle whose four sides lie on strong straight
 * edges (a luma step across the side along most of its length). Cheap: one pass for the edge maps, the
 * strongest lines of each axis from their profiles, then every pair of rows × pair of columns among those
 * scored by how much of its perimeter is edge. Returns null when no rectangle's sides are edges enough.
 * The rectangle returned is the inside (the side lines excluded).
 */
export function findInnerRect(img: RgbImage, opts: InnerRectOptions = {}): Rect | null {
  const o = { ...INNER_DEFAULTS, ...opts };
  const { rgb, width: w, height: h } = img;
  if (w < 32 || h < 32) return null;
  const luma = new Float32Array(w * h);
  for (let i = 0, p = 0; i < w * h; i++, p += 3) luma[i] = 0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!;
  // hEdge[y*w+x]: a step across row y (a horizontal line at y); vEdge: across column x. The step is taken
  // over 2 px (y-1 vs y+1) so an edge softened by scaling or compression still counts.
  const hEdge = new Uint8Array(w * h);
  const vEdge = new Uint8Array(w * h);
  const rowProfile = new Uint32Array(h);
  // colPrefix[y*w+x]: vertical-edge pixels of column x in rows < y, so any row span's column profile is O(w).
  const colPrefix = new Uint32Array((h + 1) * w);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      if (Math.abs(luma[i + w]! - luma[i - w]!) >= o.edge) {
        hEdge[i] = 1;
        rowProfile[y]!++;
      }
      if (Math.abs(luma[i + 1]! - luma[i - 1]!) >= o.edge) vEdge[i] = 1;
    }
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) colPrefix[(y + 1) * w + x] = colPrefix[y * w + x]! + vEdge[y * w + x]!;
  const rows = peaks(rowProfile, o.candidates, Math.round(h * 0.02));
  // An edge may sit one line either side of where the profile peaked.
  const hit = (map: Uint8Array, i: number, stride: number) => map[i] === 1 || map[i - stride] === 1 || map[i + stride] === 1;
  const area = w * h;
  const span = new Uint32Array(w);
  // How much of a side is edge: along the line itself, and along the parallels `off` px either side. A
  // real frame edge stands out from both of its sides' surroundings at least on one side; a textured area
  // (foliage, fur) is edges everywhere and does not.
  const OFF = 4;
  const sideH = (y: number, x0: number, x1: number) => {
    let on = 0;
    let above = 0;
    let below = 0;
    let n = 0;
    for (let x = x0 + 1; x < x1; x += 2, n++) {
      on += hit(hEdge, y * w + x, w) ? 1 : 0;
      above += y - OFF > 0 && hit(hEdge, (y - OFF) * w + x, w) ? 1 : 0;
      below += y + OFF < h - 1 && hit(hEdge, (y + OFF) * w + x, w) ? 1 : 0;
    }
    return { on: on / n, contrast: (on - Math.min(above, below)) / n };
  };
  const sideV = (x: number, y0: number, y1: number) => {
    let on = 0;
    let left = 0;
    let right = 0;
    let n = 0;
    for (let y = y0 + 1; y < y1; y += 2, n++) {
      on += hit(vEdge, y * w + x, 1) ? 1 : 0;
      left += x - OFF > 0 && hit(vEdge, y * w + x - OFF, 1) ? 1 : 0;
      right += x + OFF < w - 1 && hit(vEdge, y * w + x + OFF, 1) ? 1 : 0;
    }
    return { on: on / n, contrast: (on - Math.min(left, right)) / n };
  };
  const good = (side: { on: number; contrast: number }) => side.on >= o.coverage && side.contrast >= o.contrast;
  let best: { r: Rect; score: number } | null = null;
  for (let a = 0; a < rows.length; a++) {
    for (let b = a + 1; b < rows.length; b++) {
      const top = rows[a]!;
      const bottom = rows[b]!;
      if (bottom - top < h * 0.2) continue;
      // Columns that are edges over this row span: the candidates for the left and right sides.
      for (let x = 0; x < w; x++) span[x] = colPrefix[bottom * w + x]! - colPrefix[(top + 1) * w + x]!;
      const cols = peaks(span, o.candidates, Math.round(w * 0.02)).filter((x) => span[x]! >= (bottom - top) * o.coverage * 0.5);
      for (let c = 0; c < cols.length; c++) {
        for (let d = c + 1; d < cols.length; d++) {
          const left = cols[c]!;
          const right = cols[d]!;
          const rArea = (right - left) * (bottom - top);
          if (right - left < w * 0.2 || rArea < area * o.minArea || rArea > area * o.maxArea) continue;
          const l = sideV(left, top, bottom);
          if (!good(l)) continue;
          const r = sideV(right, top, bottom);
          if (!good(r)) continue;
          const t = sideH(top, left, right);
          if (!good(t)) continue;
          const btm = sideH(bottom, left, right);
          if (!good(btm)) continue;
          // The clearest frame wins; among equally clear ones the larger (a PiP is the outermost rectangle,
          // the ones inside its picture are smaller).
          const score = Math.min(l.contrast, r.contrast, t.contrast, btm.contrast) + (0.1 * rArea) / area;
          if (!best || score > best.score) best = { r: { x: left + 2, y: top + 2, w: right - left - 3, h: bottom - top - 3 }, score };
        }
      }
    }
  }
  return best?.r ?? null;
}

/** Indices of the `k` highest values, at least `gap` apart, ignoring the outermost line of each side. */
function peaks(profile: Uint32Array, k: number, gap: number): number[] {
  const idx = [...profile.keys()].filter((i) => i > 1 && i < profile.length - 2 && profile[i]! > 0).sort((a, b) => profile[b]! - profile[a]!);
  const out: number[] = [];
  for (const i of idx) {
    if (out.length >= k) break;
    if (out.every((j) => Math.abs(j - i) > gap)) out.push(i);
  }
  return out.sort((a, b) => a - b);
}

// ---------------------------------------------------------------- resampling

/** The size of `w`×`h` fitted inside `boxW`×`boxH`, keeping the aspect ratio (as the sampler's scale does). */
export function fitInside(w: number, h: number, boxW: number, boxH: number): { width: number; height: number } {
  const s = Math.min(boxW / w, boxH / h);
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) };
}

/**
 * Resampled copy: box average when shrinking (each output pixel averages the source pixels it covers, like
 * swscale's `area`, the sampler's scaler), bilinear when enlarging. Used to bring banked content to the
 * scale live frames are hashed at, so a banked crop and a live frame showing that crop are the same pixels.
 */
export function resizeImage(img: RgbImage, width: number, height: number): RgbImage {
  const { rgb, width: sw, height: sh } = img;
  const out = new Uint8Array(width * height * 3);
  if (width === sw && height === sh) {
    out.set(rgb.subarray(0, out.length));
    return { rgb: out, width, height };
  }
  const fx = sw / width;
  const fy = sh / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (fx >= 1 && fy >= 1) {
        const x0 = Math.floor(x * fx);
        const x1 = Math.max(x0 + 1, Math.floor((x + 1) * fx));
        const y0 = Math.floor(y * fy);
        const y1 = Math.max(y0 + 1, Math.floor((y + 1) * fy));
        let r = 0;
        let g = 0;
        let b = 0;
        for (let yy = y0; yy < y1; yy++) {
          for (let xx = x0; xx < x1; xx++) {
            const p = (yy * sw + xx) * 3;
            r += rgb[p]!;
            g += rgb[p + 1]!;
            b += rgb[p + 2]!;
          }
        }
        const n = (x1 - x0) * (y1 - y0);
        out[o] = Math.round(r / n);
        out[o + 1] = Math.round(g / n);
        out[o + 2] = Math.round(b / n);
      } else {
        const sx = Math.min(sw - 1, Math.max(0, (x + 0.5) * fx - 0.5));
        const sy = Math.min(sh - 1, Math.max(0, (y + 0.5) * fy - 0.5));
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(sw - 1, x0 + 1);
        const y1 = Math.min(sh - 1, y0 + 1);
        const ax = sx - x0;
        const ay = sy - y0;
        for (let c = 0; c < 3; c++) {
          const top = rgb[(y0 * sw + x0) * 3 + c]! * (1 - ax) + rgb[(y0 * sw + x1) * 3 + c]! * ax;
          const bot = rgb[(y1 * sw + x0) * 3 + c]! * (1 - ax) + rgb[(y1 * sw + x1) * 3 + c]! * ax;
          out[o + c] = Math.round(top * (1 - ay) + bot * ay);
        }
      }
    }
  }
  return { rgb: out, width, height };
}
