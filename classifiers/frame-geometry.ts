import { cropImage, findInnerRect, isWhole, trimBorders, type Rect, type RgbImage } from './regions.ts';

/**
 * Where the picture is in a live frame — inside its uniform borders, and the picture-in-picture / screen
 * region inside that — worked out once per frame for every classifier that asks: PDQ's region hashing
 * (classifiers/region-hashes.ts) and the copy descriptor's views (classifiers/copy/matcher.ts) run on the
 * same frame, and the PiP search is the largest part of region hashing's cost (BENCHMARKS.md, "Evasions").
 * Remembered by the frame's pixel buffer (the sampler allocates one per frame), so it goes with the frame.
 */
interface Geometry {
  trim: Rect;
  /** undefined: not searched yet; null: searched, none. In the frame's pixels. */
  inner?: Rect | null;
}

const byPixels = new WeakMap<Uint8Array, Geometry>();

function geometry(img: RgbImage): Geometry {
  let g = byPixels.get(img.rgb);
  if (!g) {
    g = { trim: trimBorders(img) };
    byPixels.set(img.rgb, g);
  }
  return g;
}

/** The rectangle inside the frame's uniform borders (the whole frame when it has none). */
export function frameTrim(img: RgbImage): Rect {
  return geometry(img).trim;
}

/** The picture-in-picture / screen region of the frame, searched inside its borders; null when there is none. */
export function frameInner(img: RgbImage): Rect | null {
  const g = geometry(img);
  if (g.inner === undefined) {
    const trimmed = !isWhole(g.trim, img);
    const r = findInnerRect(trimmed ? cropImage(img, g.trim) : img);
    g.inner = r ? { x: r.x + g.trim.x, y: r.y + g.trim.y, w: r.w, h: r.h } : null;
  }
  return g.inner;
}
