/**
 * Just enough H.264 bitstream handling for the keyframe decoder (gateway/sampler/keyframe-decoder.ts):
 * the avcC decoder configuration record that RTMP/FLV carries, NAL unit framing, and one SPS rewrite.
 *
 * Why rewrite the SPS: a stream encoded with B-frames (OBS and x264 default to 2) declares
 * `max_num_reorder_frames` = 1–2 in its SPS, and libavcodec then holds every decoded picture back until
 * that many later pictures have arrived. Fed keyframes only, that is one to two whole GOPs (2–4 s at the
 * usual 2 s keyframe interval) before a keyframe's picture comes out. An IDR picture is never reordered
 * against another IDR picture, so for a keyframes-only stream `max_num_reorder_frames = 0` is simply
 * true, and declaring it makes the decoder release each picture at once (measured: 2.0 s → 5 ms).
 *
 * Everything here works on untrusted bytes from a publisher: malformed input throws H264Error, never
 * reads out of bounds, and never loops unboundedly.
 */

export class H264Error extends Error {
  override name = 'H264Error';
}

/** NAL unit types used here. */
export const NAL = { SLICE: 1, IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9 } as const;

export function nalType(nal: Uint8Array): number {
  if (nal.length < 1) throw new H264Error('empty NAL unit');
  return nal[0]! & 0x1f;
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 0x03) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

/** Inserts emulation-prevention bytes where 00 00 is followed by 00–03. */
export function escapeRbsp(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

export class BitReader {
  pos = 0;
  constructor(private readonly data: Uint8Array) {}

  get bitLength(): number {
    return this.data.length * 8;
  }

  bit(): number {
    if (this.pos >= this.data.length * 8) throw new H264Error('SPS truncated');
    const b = (this.data[this.pos >> 3]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** Unsigned Exp-Golomb. Values above 2^32 are not valid anywhere in an SPS. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 32) throw new H264Error('invalid Exp-Golomb code in SPS');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

export class BitWriter {
  private readonly bytes: number[] = [];
  private cur = 0;
  private n = 0;

  bit(b: number): void {
    this.cur = (this.cur << 1) | (b & 1);
    if (++this.n === 8) {
      this.bytes.push(this.cur);
      this.cur = 0;
      this.n = 0;
    }
  }

  bits(v: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) this.bit(Math.floor(v / 2 ** i) % 2);
  }

  ue(v: number): void {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    for (let i = 0; i < len; i++) this.bit(0);
    this.bits(x, len + 1);
  }

  se(v: number): void {
    this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** Copies bits [from, to) of `src`. */
  copy(src: Uint8Array, from: number, to: number): void {
    for (let p = from; p < to; p++) this.bit((src[p >> 3]! >> (7 - (p & 7))) & 1);
  }

  /** rbsp_trailing_bits: a stop bit, then zeros to the byte boundary. */
  trailing(): Uint8Array {
    this.bit(1);
    while (this.n !== 0) this.bit(0);
    return Uint8Array.from(this.bytes);
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

export interface SpsInfo {
  profileIdc: number;
  levelIdc: number;
  spsId: number;
  width: number;
  height: number;
  maxNumRefFrames: number;
  /** max_num_reorder_frames when the SPS states it (bitstream_restriction), else null. */
  maxNumReorderFrames: number | null;
}

interface SpsLayout extends SpsInfo {
  /** Bit offset of vui_parameters_present_flag. */
  vuiFlagPos: number;
  vuiPresent: boolean;
  /** Bit offset of bitstream_restriction_flag (VUI present only). */
  restrictionFlagPos: number | null;
  restriction: {
    mvOverBoundaries: number;
    maxBytesPerPicDenom: number;
    maxBitsPerMbDenom: number;
    log2MvH: number;
    log2MvV: number;
    reorder: number;
    decBuffering: number;
  } | null;
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) throw new H264Error('invalid scaling list in SPS');
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

function skipHrd(r: BitReader): void {
  const cpbCnt = r.ue() + 1;
  if (cpbCnt > 32) throw new H264Error('invalid HRD parameters in SPS');
  r.bits(8);
  for (let i = 0; i < cpbCnt; i++) {
    r.ue();
    r.ue();
    r.bit();
  }
  r.bits(20);
}

/** Parses an SPS NAL unit (header byte included, emulation prevention still in). */
function layout(nal: Uint8Array): { rbsp: Uint8Array; l: SpsLayout } {
  if (nalType(nal) !== NAL.SPS) throw new H264Error(`not an SPS (NAL type ${nalType(nal)})`);
  const rbsp = unescapeRbsp(nal.subarray(1));
  const r = new BitReader(rbsp);
  const profileIdc = r.bits(8);
  r.bits(8);
  const levelIdc = r.bits(8);
  const spsId = r.ue();
  if (spsId > 31) throw new H264Error(`invalid seq_parameter_set_id ${spsId}`);
  let chromaFormatIdc = 1;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) throw new H264Error(`invalid chroma_format_idc ${chromaFormatIdc}`);
    if (chromaFormatIdc === 3) r.bit();
    r.ue();
    r.ue();
    r.bit();
    if (r.bit()) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const n = r.ue();
    if (n > 255) throw new H264Error('invalid num_ref_frames_in_pic_order_cnt_cycle');
    for (let i = 0; i < n; i++) r.se();
  } else if (pocType !== 2) throw new H264Error(`invalid pic_order_cnt_type ${pocType}`);
  const maxNumRefFrames = r.ue();
  if (maxNumRefFrames > 16) throw new H264Error(`invalid max_num_ref_frames ${maxNumRefFrames}`);
  r.bit();
  const wMbs = r.ue() + 1;
  const hUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit();
  r.bit();
  let crop = [0, 0, 0, 0];
  if (r.bit()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const vuiFlagPos = r.pos;
  const vuiPresent = r.bit() === 1;
  let restrictionFlagPos: number | null = null;
  let restriction: SpsLayout['restriction'] = null;
  if (vuiPresent) {
    if (r.bit() && r.bits(8) === 255) r.bits(32);
    if (r.bit()) r.bit();
    if (r.bit()) {
      r.bits(4);
      if (r.bit()) r.bits(24);
    }
    if (r.bit()) {
      r.ue();
      r.ue();
    }
    if (r.bit()) r.bits(65);
    const nalHrd = r.bit();
    if (nalHrd) skipHrd(r);
    const vclHrd = r.bit();
    if (vclHrd) skipHrd(r);
    if (nalHrd || vclHrd) r.bit();
    r.bit();
    restrictionFlagPos = r.pos;
    if (r.bit()) {
      restriction = {
        mvOverBoundaries: r.bit(),
        maxBytesPerPicDenom: r.ue(),
        maxBitsPerMbDenom: r.ue(),
        log2MvH: r.ue(),
        log2MvV: r.ue(),
        reorder: r.ue(),
        decBuffering: r.ue(),
      };
    }
  }
  const cropUnitX = chromaFormatIdc === 0 || chromaFormatIdc === 3 ? 1 : 2;
  const cropUnitY = (chromaFormatIdc === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = wMbs * 16 - cropUnitX * (crop[0]! + crop[1]!);
  const height = hUnits * 16 * (2 - frameMbsOnly) - cropUnitY * (crop[2]! + crop[3]!);
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) throw new H264Error(`implausible picture size ${width}x${height}`);
  return {
    rbsp,
    l: {
      profileIdc,
      levelIdc,
      spsId,
      width,
      height,
      maxNumRefFrames,
      maxNumReorderFrames: restriction?.reorder ?? null,
      vuiFlagPos,
      vuiPresent,
      restrictionFlagPos,
      restriction,
    },
  };
}

export function parseSps(nal: Uint8Array): SpsInfo {
  const { l } = layout(nal);
  return {
    profileIdc: l.profileIdc,
    levelIdc: l.levelIdc,
    spsId: l.spsId,
    width: l.width,
    height: l.height,
    maxNumRefFrames: l.maxNumRefFrames,
    maxNumReorderFrames: l.maxNumReorderFrames,
  };
}

/**
 * The same SPS declaring `max_num_reorder_frames = 0` (bitstream_restriction added or amended; every
 * other field copied bit for bit). Only valid for a decoder that is fed IDR pictures alone.
 */
export function spsWithoutReorder(nal: Uint8Array): Uint8Array {
  const { rbsp, l } = layout(nal);
  const w = new BitWriter();
  const rest = l.restriction;
  const writeRestriction = (): void => {
    w.bit(1);
    w.bit(rest?.mvOverBoundaries ?? 1);
    w.ue(rest?.maxBytesPerPicDenom ?? 2);
    w.ue(rest?.maxBitsPerMbDenom ?? 1);
    w.ue(rest?.log2MvH ?? 15);
    w.ue(rest?.log2MvV ?? 15);
    w.ue(0);
    w.ue(Math.max(rest?.decBuffering ?? l.maxNumRefFrames, 1));
  };
  if (l.vuiPresent && l.restrictionFlagPos !== null) {
    w.copy(rbsp, 0, l.restrictionFlagPos);
  } else {
    w.copy(rbsp, 0, l.vuiFlagPos);
    w.bit(1); // vui_parameters_present_flag
    for (let i = 0; i < 8; i++) w.bit(0); // aspect, overscan, signal type, chroma loc, timing, nal/vcl HRD, pic_struct
  }
  writeRestriction();
  const body = escapeRbsp(w.trailing());
  const out = new Uint8Array(1 + body.length);
  out[0] = nal[0]!;
  out.set(body, 1);
  return out;
}

/** AVCDecoderConfigurationRecord (ISO 14496-15), the body of an RTMP/FLV AVC sequence header. */
export interface AvcConfig {
  profile: number;
  compatibility: number;
  level: number;
  lengthSize: 1 | 2 | 4;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

export function parseAvcC(data: Uint8Array): AvcConfig {
  if (data.length < 7) throw new H264Error('AVC sequence header too short');
  if (data[0] !== 1) throw new H264Error(`unsupported avcC version ${data[0]}`);
  const lengthSize = ((data[4]! & 3) + 1) as 1 | 2 | 3 | 4;
  if (lengthSize === 3) throw new H264Error('invalid NAL length size 3 in avcC');
  let p = 5;
  const read = (count: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (p + 2 > data.length) throw new H264Error('avcC truncated');
      const len = (data[p]! << 8) | data[p + 1]!;
      p += 2;
      if (len === 0 || p + len > data.length) throw new H264Error('avcC parameter set length out of range');
      out.push(data.subarray(p, p + len));
      p += len;
    }
    return out;
  };
  const sps = read(data[p++]! & 0x1f);
  if (p >= data.length) throw new H264Error('avcC truncated before its PPS count');
  const pps = read(data[p++]!);
  if (sps.length === 0 || pps.length === 0) throw new H264Error('avcC without SPS or PPS');
  for (const s of sps) if (nalType(s) !== NAL.SPS) throw new H264Error('avcC SPS entry is not an SPS');
  for (const s of pps) if (nalType(s) !== NAL.PPS) throw new H264Error('avcC PPS entry is not a PPS');
  return { profile: data[1]!, compatibility: data[2]!, level: data[3]!, lengthSize, sps, pps };
}

export function buildAvcC(c: Omit<AvcConfig, 'lengthSize'> & { lengthSize?: 1 | 2 | 4 }): Buffer {
  const parts: Buffer[] = [Buffer.from([1, c.profile, c.compatibility, c.level, 0xfc | ((c.lengthSize ?? 4) - 1), 0xe0 | c.sps.length])];
  const add = (nal: Uint8Array): void => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(nal.length);
    parts.push(h, Buffer.from(nal));
  };
  c.sps.forEach(add);
  parts.push(Buffer.from([c.pps.length]));
  c.pps.forEach(add);
  return Buffer.concat(parts);
}

/** Splits length-prefixed (AVCC) NAL units. */
export function splitLengthPrefixed(data: Uint8Array, lengthSize: 1 | 2 | 4): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < data.length) {
    if (p + lengthSize > data.length) throw new H264Error('NAL length prefix truncated');
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[p + i]!;
    p += lengthSize;
    if (len === 0 || p + len > data.length) throw new H264Error('NAL unit length out of range');
    out.push(data.subarray(p, p + len));
    p += len;
  }
  return out;
}

/** Joins NAL units with 4-byte length prefixes. */
export function joinLengthPrefixed(nals: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const n of nals) size += 4 + n.length;
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const n of nals) {
    out.writeUInt32BE(n.length, p);
    out.set(n, p + 4);
    p += 4 + n.length;
  }
  return out;
}
