import { frameInner, frameTrim } from './frame-geometry.ts';
import { PdqHasher, type PdqResult } from './pdq.ts';
import {
  CENTRE_REGIONS,
  cropImage,
  fitInside,
  isWhole,
  LIVE_REGIONS,
  regionRect,
  resizeImage,
  TILE_REGIONS,
  trimBorders,
  type Rect,
  type RegionSpec,
  type RgbImage,
} from './regions.ts';

/** The sampler's analysis frame (gateway/sampler/args.ts fits every stream into it): banked regions are hashed at this scale. */
export const ANALYSIS_BOX = { width: 512, height: 288 } as const;

/**
 * PDQ hashes of the regions of a picture (classifiers/regions.ts says which and why), for live frames and
 * for content being banked. Region names are stable strings stored with derived bank entries and reported
 * in matches: `full` (the frame as sampled), `trimmed` (inside uniform borders), `centre-80`, `tile-tl`,
 * `band-top`…, `inner` (a picture-in-picture found by its edges).
 */

export interface RegionHash {
  region: string;
  rect: Rect;
  result: PdqResult;
}

/** A live frame as region hashing reads it: `rgb` may be made on first read (a YUV frame's), `luma` is read first. */
export interface LivePicture {
  width: number;
  height: number;
  readonly rgb: Uint8Array;
  luma?: Uint8Array;
}

export interface LiveRegionOptions {
  /** Tiles of the trimmed frame (LIVE_REGIONS); off: only the whole and the trimmed frame. */
  tiles: boolean;
  /** Look for a picture-in-picture / screen region and hash its inside. */
  inner: boolean;
  dihedral: boolean;
}

/** Hashers by picture size: PdqHasher caches its kernels for one size, and regions come in a few sizes per stream. */
class HasherPool {
  private readonly bySize = new Map<string, PdqHasher>();
  constructor(private readonly max = 48) {}
  get(w: number, h: number): PdqHasher {
    const key = `${w}x${h}`;
    let hasher = this.bySize.get(key);
    if (hasher) {
      // Most recently used last: Map keeps insertion order.
      this.bySize.delete(key);
    } else {
      hasher = new PdqHasher();
      if (this.bySize.size >= this.max) this.bySize.delete(this.bySize.keys().next().value!);
    }
    this.bySize.set(key, hasher);
    return hasher;
  }
}

/** Smallest side a region may have to be worth a hash (PDQ decimates to 64×64). */
const MIN_REGION_SIDE = 48;

/**
 * Tiles are hashed on the picture at half size when it is large (on both sides, live and bank, by the same
 * rule): PDQ decimates every region to 64×64 anyway, so a 0.6 tile of a 256×144 picture (154×86) loses
 * little, at about a quarter of the cost (`npm run bench -- evasion`, hash per frame). The PiP search stays
 * at full size: its rectangle must be exact to a pixel or two, or the inset's hash takes in the background.
 */
function tileSource(img: RgbImage): { img: RgbImage; scale: number } {
  if (img.width < 320 || img.height < 180) return { img, scale: 1 };
  return { img: resizeImage(img, Math.floor(img.width / 2), Math.floor(img.height / 2)), scale: 2 };
}

export class RegionHasher {
  private readonly pool = new HasherPool();

  hash(img: RgbImage, r: Rect, dihedral: boolean, region: string): RegionHash | null {
    if (r.w < MIN_REGION_SIDE || r.h < MIN_REGION_SIDE) return null;
    const part = isWhole(r, img) ? img : cropImage(img, r);
    return { region, rect: r, result: pdqOf(this.pool.get(part.width, part.height), part, dihedral) };
  }

  private regions(img: RgbImage, within: Rect, specs: readonly RegionSpec[], dihedral: boolean): RegionHash[] {
    const out: RegionHash[] = [];
    for (const spec of specs) {
      const h = this.hash(img, regionRect(spec, within), dihedral, spec.name);
      if (h) out.push(h);
    }
    return out;
  }

  /**
   * A live frame: whole, trimmed (when it has borders), tiles of the trimmed frame, the inner rectangle. With a
   * luma plane (a YUV frame, classifiers/yuv-frame.ts) the whole and trimmed frame are hashed and the borders
   * found on it, so a frame hashed without tiles or inner never needs its RGB: PDQ sees luma only, and a border
   * uniform in luma is uniform to PDQ. Tiles and the inner rectangle read the RGB (at their lower rate).
   */
  live(pic: LivePicture, o: LiveRegionOptions): RegionHash[] {
    const { width, height } = pic;
    const whole: Rect = { x: 0, y: 0, w: width, h: height };
    const luma = pic.luma && pic.luma.length >= width * height ? ({ rgb: pic.luma, width, height, channels: 1 } as const) : null;
    const base: RgbImage = luma ?? { rgb: pic.rgb, width, height };
    const out: RegionHash[] = [this.hash(base, whole, o.dihedral, 'full') ?? this.forced(base, o.dihedral)];
    const trim = frameTrim(base);
    const trimmed = !isWhole(trim, base);
    if (trimmed) {
      const t = this.hash(base, trim, o.dihedral, 'trimmed');
      if (t) out.push(t);
    }
    if (!o.tiles && !o.inner) return out;
    const img: RgbImage = { rgb: pic.rgb, width, height };
    if (o.tiles) {
      const src = tileSource(trimmed ? cropImage(img, trim) : img);
      out.push(
        ...this.regions(src.img, { x: 0, y: 0, w: src.img.width, h: src.img.height }, LIVE_REGIONS, o.dihedral).map((r) => ({
          ...r,
          rect: scaled(r.rect, src.scale, trim),
        })),
      );
    }
    if (o.inner) {
      const inner = frameInner(img);
      if (inner) {
        const h = this.hash(img, inner, o.dihedral, 'inner');
        if (h) out.push(h);
      }
    }
    return out;
  }

  /**
   * Content being banked, as the live side will see it: brought to the analysis size first (fitted inside
   * `box`, the sampler's frame), then trimmed (when it has borders), centre crops (each enlarged back to the
   * box, as a cropped re-stream is) and tiles of the trimmed picture. The whole picture is the entry itself.
   */
  bank(img: RgbImage, box: { width: number; height: number } = ANALYSIS_BOX): RegionHash[] {
    const fit = fitInside(img.width, img.height, box.width, box.height);
    const norm = resizeImage(img, fit.width, fit.height);
    const trim = trimBorders(norm);
    const out: RegionHash[] = [];
    if (!isWhole(trim, norm)) {
      const t = this.hash(norm, trim, false, 'trimmed');
      if (t) out.push(t);
    }
    for (const spec of CENTRE_REGIONS) {
      const r = regionRect(spec, trim);
      if (r.w < MIN_REGION_SIDE || r.h < MIN_REGION_SIDE) continue;
      const crop = cropImage(norm, r);
      const up = fitInside(crop.width, crop.height, box.width, box.height);
      const h = this.hash(resizeImage(crop, up.width, up.height), { x: 0, y: 0, w: up.width, h: up.height }, false, spec.name);
      if (h) out.push({ ...h, rect: r });
    }
    const src = tileSource(cropImage(norm, trim));
    out.push(
      ...this.regions(src.img, { x: 0, y: 0, w: src.img.width, h: src.img.height }, TILE_REGIONS, false).map((r) => ({
        ...r,
        rect: scaled(r.rect, src.scale, trim),
      })),
    );
    return out;
  }

  /** Tiny frames still get their whole-frame hash (PDQ handles them; quality decides). */
  private forced(img: RgbImage, dihedral: boolean): RegionHash {
    const result = pdqOf(this.pool.get(img.width, img.height), img, dihedral);
    return { region: 'full', rect: { x: 0, y: 0, w: img.width, h: img.height }, result };
  }
}

/** PDQ of an RGB picture or a luma plane (`channels: 1`). */
function pdqOf(hasher: PdqHasher, img: RgbImage, dihedral: boolean): PdqResult {
  return img.channels === 1 ? hasher.fromLuma(img.rgb, img.width, img.height, { dihedral }) : hasher.fromRgb(img.rgb, img.width, img.height, { dihedral });
}

/** A rectangle of a (scaled-down) crop `within` the picture, in the picture's pixels. */
function scaled(r: Rect, scale: number, within: Rect): Rect {
  return { x: within.x + r.x * scale, y: within.y + r.y * scale, w: r.w * scale, h: r.h * scale };
}
