import { PdqHasher, type PdqResult } from './pdq.ts';
import { CENTRE_REGIONS, cropImage, findInnerRect, fitInside, isWhole, LIVE_REGIONS, regionRect, resizeImage, TILE_REGIONS, trimBorders, type Rect, type RegionSpec, type RgbImage } from './regions.ts';

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

export class RegionHasher {
  private readonly pool = new HasherPool();

  hash(img: RgbImage, r: Rect, dihedral: boolean, region: string): RegionHash | null {
    if (r.w < MIN_REGION_SIDE || r.h < MIN_REGION_SIDE) return null;
    const part = isWhole(r, img) ? img : cropImage(img, r);
    const result = this.pool.get(part.width, part.height).fromRgb(part.rgb, part.width, part.height, { dihedral });
    return { region, rect: r, result };
  }

  private regions(img: RgbImage, within: Rect, specs: readonly RegionSpec[], dihedral: boolean): RegionHash[] {
    const out: RegionHash[] = [];
    for (const spec of specs) {
      const h = this.hash(img, regionRect(spec, within), dihedral, spec.name);
      if (h) out.push(h);
    }
    return out;
  }

  /** A live frame: whole, trimmed (when it has borders), tiles of the trimmed frame, the inner rectangle. */
  live(img: RgbImage, o: LiveRegionOptions): RegionHash[] {
    const whole: Rect = { x: 0, y: 0, w: img.width, h: img.height };
    const out: RegionHash[] = [this.hash(img, whole, o.dihedral, 'full') ?? this.forced(img, o.dihedral)];
    const trim = trimBorders(img);
    const trimmed = !isWhole(trim, img);
    if (trimmed) {
      const t = this.hash(img, trim, o.dihedral, 'trimmed');
      if (t) out.push(t);
    }
    if (o.tiles) out.push(...this.regions(img, trim, LIVE_REGIONS, o.dihedral));
    if (o.inner) {
      const view = trimmed ? cropImage(img, trim) : img;
      const inner = findInnerRect(view);
      if (inner) {
        const h = this.hash(img, { x: inner.x + trim.x, y: inner.y + trim.y, w: inner.w, h: inner.h }, o.dihedral, 'inner');
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
    out.push(...this.regions(norm, trim, TILE_REGIONS, false));
    return out;
  }

  /** Tiny frames still get their whole-frame hash (PDQ handles them; quality decides). */
  private forced(img: RgbImage, dihedral: boolean): RegionHash {
    const result = this.pool.get(img.width, img.height).fromRgb(img.rgb, img.width, img.height, { dihedral });
    return { region: 'full', rect: { x: 0, y: 0, w: img.width, h: img.height }, result };
  }
}
