import { MediaError, NotInProcess, checkSize, type Raster } from './raster.ts';

/**
 * PGM/PPM (P2, P3, P5, P6) as CImg's load_pnm reads them: samples as stored, *not* rescaled to 0..255
 * when maxval is below 255 (PDQ's bits do not depend on the scale; its quality figure does, and matches
 * the reference this way). Samples of maxval > 255 are 16-bit: CImg<uint8_t> keeps their low byte (noise);
 * the high byte is used here, as for 16-bit PNG. Bitmaps (P1, P4) go to ffmpeg.
 */
export function decodePnm(bytes: Uint8Array): Raster {
  const kind = bytes[1]! - 0x30;
  if (kind === 1 || kind === 4) throw new NotInProcess('PBM bitmap');
  const reader = new HeaderReader(bytes);
  const width = reader.int('width');
  const height = reader.int('height');
  const maxval = reader.int('maxval');
  if (maxval < 1 || maxval > 65535) throw new MediaError('corrupt', `PNM maxval ${maxval} out of range`);
  checkSize(width, height, 'PNM');
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  const count = width * height * channels;
  const data = new Uint8Array(count);
  const wide = maxval > 255;
  if (kind === 5 || kind === 6) {
    // Exactly one whitespace byte separates maxval from the samples.
    const start = reader.pos + 1;
    const need = count * (wide ? 2 : 1);
    if (bytes.length < start + need) throw new MediaError('corrupt', `PNM has ${bytes.length - start} bytes of samples, needs ${need}`);
    if (wide) for (let i = 0; i < count; i++) data[i] = bytes[start + 2 * i]!;
    else data.set(bytes.subarray(start, start + count));
  } else {
    for (let i = 0; i < count; i++) {
      const v = reader.int('sample');
      data[i] = wide ? v >>> 8 : v;
    }
  }
  const raster: Raster = { width, height, channels: channels as 1 | 3, data, decoder: 'pnm' };
  if (wide) raster.from16Bit = true;
  return raster;
}

/** Header tokens (and ASCII samples): decimal integers separated by whitespace, `#` comments to end of line. */
class HeaderReader {
  pos = 2;
  constructor(private readonly bytes: Uint8Array) {}

  int(what: string): number {
    const b = this.bytes;
    for (;;) {
      while (this.pos < b.length && isSpace(b[this.pos]!)) this.pos++;
      if (b[this.pos] !== 0x23) break;
      while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
    }
    let value = 0;
    let digits = 0;
    while (this.pos < b.length && b[this.pos]! >= 0x30 && b[this.pos]! <= 0x39 && digits < 10) {
      value = value * 10 + (b[this.pos]! - 0x30);
      this.pos++;
      digits++;
    }
    if (digits === 0) throw new MediaError('corrupt', `PNM: expected the ${what} at byte ${this.pos}`);
    return value;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}
