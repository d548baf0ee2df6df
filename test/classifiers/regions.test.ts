import { describe, expect, it } from 'vitest';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import {
  BANK_REGIONS,
  cropImage,
  findInnerRect,
  fitInside,
  LIVE_REGIONS,
  regionRect,
  resizeImage,
  trimBorders,
  type Rect,
  type RgbImage,
} from '../../classifiers/regions.ts';
import { hamming } from '../../classifiers/pdq.ts';

/** A deterministic "photo": smooth gradients plus blobs and a little noise, so no line of it is uniform. */
function picture(w: number, h: number, seed = 1): RgbImage {
  const rgb = new Uint8Array(w * h * 3);
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const blobs = Array.from({ length: 6 }, () => ({ x: rand() * w, y: rand() * h, r: 0.1 + rand() * 0.3, c: [rand() * 255, rand() * 255, rand() * 255] }));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      let v = [60 + (120 * x) / w, 40 + (150 * y) / h, 90 + 60 * Math.sin((x + y) / 17)];
      for (const b of blobs) {
        const d = Math.hypot((x - b.x) / w, (y - b.y) / h);
        if (d < b.r) v = v.map((c, i) => c * 0.4 + b.c[i]! * 0.6);
      }
      for (let c = 0; c < 3; c++) rgb[p + c] = Math.max(0, Math.min(255, Math.round(v[c]! + (rand() - 0.5) * 30)));
    }
  }
  return { rgb, width: w, height: h };
}

/** `inner` placed at (x, y) on a canvas of one colour (or of another picture). */
function compose(w: number, h: number, inner: RgbImage, x: number, y: number, fill: [number, number, number] | RgbImage = [0, 0, 0]): RgbImage {
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    if (Array.isArray(fill)) rgb.set(fill, i * 3);
  }
  if (!Array.isArray(fill)) rgb.set(fill.rgb.subarray(0, rgb.length));
  for (let r = 0; r < inner.height; r++) rgb.set(inner.rgb.subarray(r * inner.width * 3, (r + 1) * inner.width * 3), ((y + r) * w + x) * 3);
  return { rgb, width: w, height: h };
}

describe('border trimmer', () => {
  it('a picture without borders is returned whole', () => {
    const img = picture(200, 120);
    expect(trimBorders(img)).toEqual({ x: 0, y: 0, w: 200, h: 120 });
  });

  it('a portrait frame letterboxed into 512×288 trims to the picture (pillarbox bars left and right)', () => {
    const img = compose(512, 288, picture(162, 288), 175, 0);
    expect(trimBorders(img)).toEqual({ x: 175, y: 0, w: 162, h: 288 });
  });

  it('a letterbox and a pillarbox together, of any uniform colour, are trimmed on all four sides', () => {
    const img = compose(512, 288, picture(384, 216), 64, 36, [200, 30, 40]);
    expect(trimBorders(img)).toEqual({ x: 64, y: 36, w: 384, h: 216 });
  });

  it('noisy bars (compression) still count as border within the tolerance', () => {
    const img = compose(320, 180, picture(240, 180), 40, 0);
    for (let y = 0; y < 180; y++) for (let x = 0; x < 40; x++) img.rgb[(y * 320 + x) * 3] = (x * 7 + y * 3) % 12;
    expect(trimBorders(img)).toEqual({ x: 40, y: 0, w: 240, h: 180 });
  });

  it('a uniform frame, or one that would leave almost nothing, is not trimmed', () => {
    const solid = compose(100, 100, picture(1, 1), 0, 0, [10, 10, 10]);
    expect(trimBorders(solid)).toEqual({ x: 0, y: 0, w: 100, h: 100 });
    const sliver = compose(200, 100, picture(10, 100), 95, 0);
    expect(trimBorders(sliver)).toEqual({ x: 0, y: 0, w: 200, h: 100 });
  });

  it("the trimmed hash of a padded picture is the picture's own hash, the untrimmed one is not", () => {
    const p = picture(162, 288, 7);
    const padded = compose(512, 288, p, 175, 0);
    const rh = new RegionHasher();
    const regions = rh.live(padded, { tiles: false, inner: false, dihedral: false });
    expect(regions.map((r) => r.region)).toEqual(['full', 'trimmed']);
    const own = rh.hash(p, { x: 0, y: 0, w: 162, h: 288 }, false, 'own')!;
    expect(hamming(regions[1]!.result.hash, own.result.hash)).toBe(0);
    expect(hamming(regions[0]!.result.hash, own.result.hash)).toBeGreaterThan(40);
  });
});

describe('crop sets', () => {
  it('bank regions are centre crops at 90/80/70 % and eight overlapping 60 % tiles and bands; live regions are the tiles', () => {
    expect(BANK_REGIONS.map((r) => r.name)).toEqual([
      'centre-90',
      'centre-80',
      'centre-70',
      'tile-tl',
      'tile-tr',
      'tile-bl',
      'tile-br',
      'band-top',
      'band-bottom',
      'band-left',
      'band-right',
    ]);
    expect(LIVE_REGIONS.every((r) => r.name.startsWith('tile-') || r.name.startsWith('band-'))).toBe(true);
    const within: Rect = { x: 10, y: 20, w: 400, h: 200 };
    expect(regionRect(BANK_REGIONS[1]!, within)).toEqual({ x: 50, y: 40, w: 320, h: 160 });
    expect(
      regionRect(
        BANK_REGIONS.find((r) => r.name === 'tile-br')!,
        within,
      ),
    ).toEqual({ x: 170, y: 100, w: 240, h: 120 });
  });

  it('a picture cropped 10 % per side and scaled back matches its banked centre-80 crop closely', () => {
    const p = picture(512, 288, 3);
    const rh = new RegionHasher();
    const banked = rh.bank(p);
    const centre80 = banked.find((r) => r.region === 'centre-80')!;
    const cropped = resizeImage(cropImage(p, { x: 51, y: 29, w: 410, h: 230 }), 512, 288);
    const live = rh.live(cropped, { tiles: false, inner: false, dihedral: false })[0]!;
    const whole = rh.hash(p, { x: 0, y: 0, w: 512, h: 288 }, false, 'whole')!;
    expect(hamming(live.result.hash, centre80.result.hash)).toBeLessThanOrEqual(16);
    expect(hamming(live.result.hash, whole.result.hash)).toBeGreaterThan(31);
  });

  it("a banked image is brought to the analysis size first, so its tiles line up with a live frame's tiles", () => {
    const p = picture(1024, 576, 5);
    const rh = new RegionHasher();
    const banked = rh.bank(p);
    const live = rh.live(resizeImage(p, 512, 288), { tiles: true, inner: false, dihedral: false });
    for (const name of ['tile-tl', 'band-bottom']) {
      const b = banked.find((r) => r.region === name)!;
      const l = live.find((r) => r.region === name)!;
      expect(b.rect).toEqual(l.rect);
      expect(hamming(b.result.hash, l.result.hash)).toBeLessThanOrEqual(8);
    }
  });

  it('fitInside keeps the aspect ratio inside the box', () => {
    expect(fitInside(720, 1280, 512, 288)).toEqual({ width: 162, height: 288 });
    expect(fitInside(384, 216, 512, 288)).toEqual({ width: 512, height: 288 });
  });
});

describe('inner rectangle (picture-in-picture) detector', () => {
  it('finds a picture inset on another picture, to within a few pixels', () => {
    const bg = picture(512, 288, 11);
    const inset = picture(300, 170, 12);
    const img = compose(512, 288, inset, 180, 20, bg);
    const r = findInnerRect(img)!;
    expect(r).not.toBeNull();
    expect(Math.abs(r.x - 180)).toBeLessThanOrEqual(4);
    expect(Math.abs(r.y - 20)).toBeLessThanOrEqual(4);
    expect(Math.abs(r.x + r.w - 480)).toBeLessThanOrEqual(4);
    expect(Math.abs(r.y + r.h - 190)).toBeLessThanOrEqual(4);
  });

  it('finds a screen region on a plain surround', () => {
    const img = compose(512, 288, picture(256, 144, 4), 128, 72, [40, 40, 45]);
    const r = findInnerRect(img)!;
    expect(Math.abs(r.x - 128)).toBeLessThanOrEqual(4);
    expect(Math.abs(r.w - 256)).toBeLessThanOrEqual(6);
  });

  it('finds nothing in a picture without an inset', () => {
    expect(findInnerRect(picture(512, 288, 9))).toBeNull();
  });

  it("the live regions of a PiP frame include the inset, whose hash is the inset picture's", () => {
    const inset = picture(300, 170, 12);
    const img = compose(512, 288, inset, 180, 20, picture(512, 288, 11));
    const rh = new RegionHasher();
    const inner = rh.live(img, { tiles: false, inner: true, dihedral: false }).find((r) => r.region === 'inner');
    expect(inner).toBeDefined();
    const own = rh.hash(inset, { x: 0, y: 0, w: 300, h: 170 }, false, 'own')!;
    expect(hamming(inner!.result.hash, own.result.hash)).toBeLessThanOrEqual(20);
  });
});
