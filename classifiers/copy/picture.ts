/**
 * Picture geometry for the copy descriptor: an area downscale to frame size (a banked 4000-px photo must
 * reach the model as a sampled frame of it would, not bilinear-aliased from full size) and crops.
 */
export interface Picture {
  width: number;
  height: number;
  /** Packed RGB24. */
  rgb: Uint8Array;
}

/** Box-filter downscale (each output pixel averages the input pixels its box covers); never upscales. */
export function areaScale(img: Picture, maxWidth = 512): Picture {
  if (img.width <= maxWidth) return img;
  const w = maxWidth;
  const h = Math.max(1, Math.round((img.height * w) / img.width));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * img.height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * img.height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * img.width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * img.width) / w));
      let r = 0,
        g = 0,
        b = 0;
      for (let yy = y0; yy < y1; yy++) {
        let o = (yy * img.width + x0) * 3;
        for (let xx = x0; xx < x1; xx++, o += 3) {
          r += img.rgb[o]!;
          g += img.rgb[o + 1]!;
          b += img.rgb[o + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const p = (y * w + x) * 3;
      out[p] = Math.round(r / n);
      out[p + 1] = Math.round(g / n);
      out[p + 2] = Math.round(b / n);
    }
  }
  return { width: w, height: h, rgb: out };
}

/** A sub-rectangle (fractions of the image) as its own image. */
export function cropFraction(img: Picture, fx: number, fy: number, fw: number, fh: number): Picture {
  const x0 = Math.round(img.width * fx);
  const y0 = Math.round(img.height * fy);
  const w = Math.max(1, Math.round(img.width * fw));
  const h = Math.max(1, Math.round(img.height * fh));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(img.rgb.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, rgb: out };
}

/** The centre crop of the image at the given aspect ratio (as a 16:9 stream would show a 4:3 photo). */
export function centreAspect(img: Picture, aspect = 16 / 9): Picture {
  const a = img.width / img.height;
  if (Math.abs(a - aspect) < 0.01) return img;
  return a > aspect ? cropFraction(img, (1 - aspect / a) / 2, 0, aspect / a, 1) : cropFraction(img, 0, (1 - a / aspect) / 2, 1, a / aspect);
}

/** The picture flipped left to right. */
export function mirrored(img: Picture): Picture {
  const out = new Uint8Array(img.rgb.length);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0, s = y * row, d = y * row + row - 3; x < img.width; x++, s += 3, d -= 3) {
      out[d] = img.rgb[s]!;
      out[d + 1] = img.rgb[s + 1]!;
      out[d + 2] = img.rgb[s + 2]!;
    }
  }
  return { width: img.width, height: img.height, rgb: out };
}
