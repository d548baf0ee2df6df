import { readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { PpmStreamParser, type RgbFrame } from '../../gateway/media/ffmpeg-frames.ts';
import { decodeJpeg } from '../../gateway/media/image/jpeg.ts';
import { decodePng } from '../../gateway/media/image/png.ts';
import { decodePnm } from '../../gateway/media/image/pnm.ts';
import { MediaError, NotInProcess } from '../../gateway/media/image/raster.ts';
import { sniffFormat } from '../../gateway/media/image/sniff.ts';
import { FIXTURE_IMAGES } from './cli-process.ts';

const fixture = (name: string) => readFileSync(path.join(FIXTURE_IMAGES, name));
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof MediaError ? err.code : err instanceof NotInProcess ? 'not_in_process' : String(err);
  }
  return undefined;
};

describe('image format sniffing', () => {
  it('goes by the first bytes, not the name', () => {
    expect(sniffFormat(fixture('rgb-256x192.png'))).toBe('png');
    expect(sniffFormat(fixture('progressive-320x240.jpg'))).toBe('jpeg');
    expect(sniffFormat(fixture('grey-160x120.pgm'))).toBe('pnm');
    expect(sniffFormat(fixture('rgb-128x96.bmp'))).toBe('bmp');
    expect(sniffFormat(fixture('rgb-320x180.webp'))).toBe('webp');
    expect(sniffFormat(Buffer.from('\x00\x00\x00\x18ftypmp42'))).toBeNull();
    expect(sniffFormat(new Uint8Array(0))).toBeNull();
  });
});

describe('JPEG through libjpeg-turbo', () => {
  it('decodes greyscale files to one channel and colour files to RGB', () => {
    expect(decodeJpeg(fixture('grey-320x240.jpg'))).toMatchObject({ width: 320, height: 240, channels: 1 });
    const rgb = decodeJpeg(fixture('progressive-320x240.jpg'));
    expect(rgb).toMatchObject({ width: 320, height: 240, channels: 3, decoder: 'libjpeg-turbo' });
    expect(rgb.data.length).toBe(320 * 240 * 3);
  });

  it('keeps decoding correctly after a file that made libjpeg give up', () => {
    const before = decodeJpeg(fixture('rgb-444-300x200.jpg')).data;
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00]), Buffer.alloc(200, 0xaa), Buffer.from([0xff, 0xd9])]);
    for (let i = 0; i < 3; i++) expect(codeOf(() => decodeJpeg(garbage))).toBe('corrupt');
    expect(Buffer.compare(Buffer.from(decodeJpeg(fixture('rgb-444-300x200.jpg')).data), Buffer.from(before))).toBe(0);
  });

  it('refuses a file cut off before its end-of-image marker, and one whose header claims too many pixels', () => {
    const jpeg = fixture('rgb-444-300x200.jpg');
    expect(codeOf(() => decodeJpeg(jpeg.subarray(0, 5000)))).toBe('truncated');
    const huge = Buffer.from(jpeg);
    const sof = huge.indexOf(Buffer.from([0xff, 0xc0]));
    huge.writeUInt16BE(60_000, sof + 5);
    huge.writeUInt16BE(60_000, sof + 7);
    expect(codeOf(() => decodeJpeg(huge))).toBe('too_large');
  });
});

/** A PNG from raw samples, with extra chunks inserted after IHDR. */
function png(opts: { width: number; height: number; colorType: 0 | 2; data: Buffer }, extra: Array<[string, Buffer]> = []): Buffer {
  const p = new pngjs.PNG({
    width: opts.width,
    height: opts.height,
    colorType: opts.colorType,
    inputColorType: opts.colorType,
    inputHasAlpha: false,
    bitDepth: 8,
  });
  p.data = opts.data;
  const plain = pngjs.PNG.sync.write(p, { colorType: opts.colorType, inputColorType: opts.colorType, inputHasAlpha: false, bitDepth: 8 });
  const chunks = extra.map(([type, body]) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0);
    return Buffer.concat([head, body, crc]);
  });
  return Buffer.concat([plain.subarray(0, 33), ...chunks, plain.subarray(33)]);
}

describe('PNG as libpng gives it to the reference', () => {
  it('keeps the stored colour of pixels made transparent by tRNS, and says the alpha was set aside', () => {
    const data = Buffer.from([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const trns = Buffer.alloc(2);
    trns.writeUInt16BE(50);
    const r = decodePng(png({ width: 3, height: 3, colorType: 0, data }, [['tRNS', trns]]));
    expect(r).toMatchObject({ channels: 1, alphaIgnored: true });
    expect([...r.data]).toEqual([...data]);
    expect(decodePng(png({ width: 3, height: 3, colorType: 0, data })).alphaIgnored).toBeUndefined();
  });

  it('expands 1-bit grey to 0/255 and takes the high byte of 16-bit samples', () => {
    const bw = decodePng(fixture('bw-1bit-256x192.png'));
    expect(bw.channels).toBe(1);
    expect(new Set(bw.data)).toEqual(new Set([0, 255]));
    const deep = decodePng(fixture('grey16-128x96.png'));
    const raw = pngjs.PNG.sync.read(fixture('grey16-128x96.png'), { skipRescale: true }).data as unknown as Uint16Array;
    expect(deep).toMatchObject({ channels: 1, from16Bit: true });
    for (const i of [0, 1, 500, 128 * 96 - 1]) expect(deep.data[i]).toBe(raw[i * 4]! >>> 8);
  });

  it('reports a PNG whose data is damaged as corrupt', () => {
    const bytes = Buffer.from(fixture('rgb-256x192.png'));
    const at = bytes.indexOf('IDAT') + 30;
    bytes[at] = bytes[at]! ^ 0xff;
    expect(codeOf(() => decodePng(bytes))).toBe('corrupt');
    expect(codeOf(() => decodePng(bytes.subarray(0, 20)))).toBe('corrupt');
  });
});

describe('PGM/PPM as CImg reads them', () => {
  it('keeps samples as stored below maxval 255, reads ASCII and comments, and sends bitmaps to ffmpeg', () => {
    const low = decodePnm(Buffer.concat([Buffer.from('P5 # a comment\n2 1\n15\n'), Buffer.from([3, 15])]));
    expect([...low.data]).toEqual([3, 15]);
    const ascii = decodePnm(Buffer.from('P3\n# rgb\n2 1 255\n1 2 3  4 5 6\n'));
    expect(ascii).toMatchObject({ channels: 3, width: 2, height: 1 });
    expect([...ascii.data]).toEqual([1, 2, 3, 4, 5, 6]);
    const wide = decodePnm(Buffer.concat([Buffer.from('P5\n1 1\n65535\n'), Buffer.from([0xab, 0xcd])]));
    expect([...wide.data]).toEqual([0xab]);
    expect(codeOf(() => decodePnm(Buffer.from('P4\n8 1\n\xff')))).toBe('not_in_process');
    expect(codeOf(() => decodePnm(Buffer.from('P6\n10 10\n255\n\x00')))).toBe('corrupt');
  });
});

describe('PPM frame stream from ffmpeg', () => {
  it('splits frames wherever the chunks break, byte by byte included', () => {
    const frame = (w: number, h: number, fill: number) => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.alloc(w * h * 3, fill)]);
    const stream = Buffer.concat([frame(3, 2, 7), frame(1, 1, 9), frame(4, 4, 0x0a)]);
    for (const step of [1, 5, 17, stream.length]) {
      const frames: RgbFrame[] = [];
      const parser = new PpmStreamParser((f) => frames.push(f));
      for (let at = 0; at < stream.length; at += step) parser.push(stream.subarray(at, at + step));
      expect(frames.map((f) => [f.width, f.height, f.rgb.length, f.rgb[0]])).toEqual([
        [3, 2, 18, 7],
        [1, 1, 3, 9],
        [4, 4, 48, 0x0a],
      ]);
    }
    expect(() => new PpmStreamParser(() => {}).push(Buffer.from('GIF89a'))).toThrow();
  });
});
