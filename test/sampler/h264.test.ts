import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BitWriter,
  buildAvcC,
  escapeRbsp,
  H264Error,
  joinLengthPrefixed,
  NAL,
  nalType,
  parseAvcC,
  parseSps,
  spsWithoutReorder,
  splitLengthPrefixed,
  unescapeRbsp,
  type AvcConfig,
  type SpsInfo,
} from '../../gateway/media/h264.ts';
import { ffmpegForTests, sleep } from './helpers.ts';

/*
 * gateway/media/h264.ts: avcC and SPS parsing, and the SPS rewrite to max_num_reorder_frames = 0 that lets
 * the shared keyframe decoder get a keyframe's picture out at once instead of one to two GOPs later.
 *
 * Independent oracle: libavcodec's own bitstream reader (`-bsf:v trace_headers`) prints every SPS syntax
 * element with its bit position, so "everything before bitstream_restriction is copied bit for bit" is
 * checked against ffmpeg's parser, not against the module's idea of where the restriction starts.
 */

const run = promisify(execFile);
const ff = await ffmpegForTests({ libx264: true });
const traceHeaders = ff ? await hasTraceHeaders(ff.path) : false;
if (ff && !traceHeaders) console.warn(`[h264 tests] bit-level comparisons skipped: ${ff.path} has no trace_headers bitstream filter`);

// ---------------------------------------------------------------------------------------------------------
// FLV in and out (just what the tests need)

interface FlvTag {
  type: number;
  timestamp: number;
  body: Buffer;
}

/** Tags of an FLV file: 9-byte header + PreviousTagSize0, then type u8, size u24, ts u24 + ext u8, stream id u24, body, prev size u32. */
function flvTags(file: Buffer): FlvTag[] {
  const tags: FlvTag[] = [];
  let p = file.readUInt32BE(5) + 4;
  while (p + 11 <= file.length) {
    const size = file.readUIntBE(p + 1, 3);
    const timestamp = file.readUIntBE(p + 4, 3) + file[p + 7]! * 2 ** 24;
    tags.push({ type: file[p]!, timestamp, body: file.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}

const isVideo = (t: FlvTag): boolean => t.type === 9 && (t.body[0]! & 0x0f) === 7;
/** avcC of the AVC sequence header (video tag with AVCPacketType 0). */
const sequenceHeader = (tags: FlvTag[]): Buffer => tags.find((t) => isVideo(t) && t.body[1] === 0)!.body.subarray(5);
/** Keyframe NALU packets (frame type 1, AVCPacketType 1). */
const keyframeTags = (tags: FlvTag[]): FlvTag[] => tags.filter((t) => isVideo(t) && t.body[0]! >> 4 === 1 && t.body[1] === 1);

function flvTag(timestamp: number, body: Buffer): Buffer {
  const t = Buffer.alloc(11 + body.length + 4);
  t[0] = 9;
  t.writeUIntBE(body.length, 1, 3);
  t.writeUIntBE(timestamp & 0xffffff, 4, 3);
  t.writeUInt32BE(11 + body.length, 11 + body.length);
  body.copy(t, 11);
  return t;
}

/** FLV header (video only), an AVC sequence header with this avcC, then keyframe NALU packets. */
function flvFile(avcC: Buffer, keyframePayloads: Buffer[] = []): Buffer {
  return Buffer.concat([
    Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]),
    flvTag(0, Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), avcC])),
    ...keyframePayloads.map((p, i) => flvTag(i * 1000, Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), p]))),
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// libavcodec's reading of an SPS (trace_headers)

interface Syntax {
  /** Bit offset in the NAL unit, header byte included, emulation prevention removed. */
  pos: number;
  name: string;
  bits: string;
  value: number;
}

async function hasTraceHeaders(ffmpegPath: string): Promise<boolean> {
  const { stdout } = await run(ffmpegPath, ['-hide_banner', '-bsfs']).catch(() => ({ stdout: '' }));
  return /^trace_headers$/m.test(stdout);
}

/** Each SPS of the avcC (in order) as libavcodec reads it. */
async function traceSps(spsList: Uint8Array[], pps: Uint8Array): Promise<Syntax[][]> {
  const avcC = buildAvcC({ profile: spsList[0]![1]!, compatibility: spsList[0]![2]!, level: spsList[0]![3]!, sps: spsList, pps: [pps] });
  const stderr = await new Promise<string>((resolve, reject) => {
    const p = spawn(ff!.path, [
      '-hide_banner',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'flv',
      '-i',
      'pipe:0',
      '-map',
      '0:v',
      '-c',
      'copy',
      '-bsf:v',
      'trace_headers',
      '-f',
      'null',
      '-',
    ]);
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.stdin.on('error', () => {});
    p.on('error', reject);
    // Only the extradata is traced here; ffmpeg then gives up on the picture-less stream (exit status 1).
    p.on('close', () => resolve(err));
    p.stdin.end(flvFile(avcC));
  });
  const out: Syntax[][] = [];
  let cur: Syntax[] | null = null;
  for (const line of stderr.split('\n')) {
    // The filter logs as `[trace_headers @ 0x…]` (ffmpeg 5) or `[AVBSFContext @ 0x…]` (4.x).
    const text = /^\[(?:trace_headers|AVBSFContext) @ [^\]]+\] (.*)$/.exec(line.trimEnd())?.[1];
    if (text === undefined) continue;
    const m = /^(\d+)\s+(\S+)\s+([01]+) = (-?\d+)$/.exec(text);
    if (m) cur?.push({ pos: Number(m[1]), name: m[2]!, bits: m[3]!, value: Number(m[4]) });
    else if (text === 'Sequence Parameter Set') out.push((cur = []));
    else cur = null;
  }
  expect(out, `trace_headers read ${out.length} of ${spsList.length} SPS:\n${stderr}`).toHaveLength(spsList.length);
  return out;
}

const upTo = (trace: Syntax[], name: string): Syntax[] => {
  const i = trace.findIndex((e) => e.name === name);
  expect(i, `${name} in the trace`).toBeGreaterThanOrEqual(0);
  return trace.slice(0, i);
};
/** `name=value` from the element `name` on, alignment bits left out. */
const from = (trace: Syntax[], name: string): string[] =>
  trace
    .slice(upTo(trace, name).length)
    .filter((e) => e.name !== 'rbsp_alignment_zero_bit')
    .map((e) => `${e.name}=${e.value}`);
const valueOf = (trace: Syntax[], name: string): number | undefined => trace.find((e) => e.name === name)?.value;

const rbspBits = (nal: Uint8Array): string => [...unescapeRbsp(nal)].map((b) => b.toString(2).padStart(8, '0')).join('');

/** What the rewrite writes when the SPS had no bitstream_restriction (values as the spec infers them). */
const addedRestriction = (maxDecFrameBuffering: number): string[] => [
  'bitstream_restriction_flag=1',
  'motion_vectors_over_pic_boundaries_flag=1',
  'max_bytes_per_pic_denom=2',
  'max_bits_per_mb_denom=1',
  'log2_max_mv_length_horizontal=15',
  'log2_max_mv_length_vertical=15',
  'max_num_reorder_frames=0',
  `max_dec_frame_buffering=${maxDecFrameBuffering}`,
  'rbsp_stop_one_bit=1',
];

// ---------------------------------------------------------------------------------------------------------
// Synthetic SPSes, for what x264 never writes (no VUI, SPS scaling lists, POC type 1, every VUI field)

interface SpsSpec {
  profile: number;
  level: number;
  spsId?: number;
  /** High profiles only. */
  chromaFormat?: number;
  /** Per scaling list: the delta_scale values as coded (a decoder stops reading at nextScale 0), or null for absent. */
  scalingLists?: Array<number[] | null>;
  pocType: 0 | 1 | 2;
  pocCycle?: number[];
  refFrames: number;
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly?: boolean;
  crop?: [number, number, number, number];
  /** Writes vui_parameters() (the present flag is written from whether this is given). */
  vui?: (w: BitWriter) => void;
}

function buildSps(s: SpsSpec): Uint8Array {
  const w = new BitWriter();
  w.bits(s.profile, 8);
  w.bits(0, 8); // constraint flags
  w.bits(s.level, 8);
  w.ue(s.spsId ?? 0);
  if (s.chromaFormat !== undefined) {
    w.ue(s.chromaFormat);
    if (s.chromaFormat === 3) w.bit(0); // separate_colour_plane_flag
    w.ue(0); // bit_depth_luma_minus8
    w.ue(0); // bit_depth_chroma_minus8
    w.bit(0); // qpprime_y_zero_transform_bypass_flag
    w.bit(s.scalingLists ? 1 : 0);
    for (const list of s.scalingLists ?? []) {
      w.bit(list ? 1 : 0);
      for (const delta of list ?? []) w.se(delta);
    }
  }
  w.ue(0); // log2_max_frame_num_minus4
  w.ue(s.pocType);
  if (s.pocType === 0) w.ue(2);
  if (s.pocType === 1) {
    w.bit(0);
    w.se(-2);
    w.se(1);
    w.ue(s.pocCycle!.length);
    for (const o of s.pocCycle!) w.se(o);
  }
  w.ue(s.refFrames);
  w.bit(0); // gaps_in_frame_num_value_allowed_flag
  w.ue(s.widthMbs - 1);
  w.ue(s.heightMapUnits - 1);
  w.bit(s.frameMbsOnly === false ? 0 : 1);
  if (s.frameMbsOnly === false) w.bit(0);
  w.bit(1); // direct_8x8_inference_flag
  w.bit(s.crop ? 1 : 0);
  for (const c of s.crop ?? []) w.ue(c);
  w.bit(s.vui ? 1 : 0);
  s.vui?.(w);
  return Uint8Array.from([0x67, ...escapeRbsp(w.trailing())]);
}

/** A minimal PPS for trace_headers (which wants the SPS it refers to). */
function buildPps(spsId: number): Uint8Array {
  const w = new BitWriter();
  w.ue(0); // pic_parameter_set_id
  w.ue(spsId);
  w.bit(0); // entropy_coding_mode_flag
  w.bit(0); // bottom_field_pic_order_in_frame_present_flag
  w.ue(0); // num_slice_groups_minus1
  w.ue(0);
  w.ue(0);
  w.bit(0);
  w.bits(0, 2);
  w.se(0);
  w.se(0);
  w.se(0);
  w.bit(1);
  w.bit(0);
  w.bit(0);
  return Uint8Array.from([0x68, ...escapeRbsp(w.trailing())]);
}

function writeHrd(w: BitWriter, cpbs: number): void {
  w.ue(cpbs - 1);
  w.bits(4, 4); // bit_rate_scale
  w.bits(6, 4); // cpb_size_scale
  for (let i = 0; i < cpbs; i++) {
    w.ue(3000 + i); // bit_rate_value_minus1
    w.ue(9000 + i); // cpb_size_value_minus1
    w.bit(i & 1); // cbr_flag
  }
  w.bits(23, 5);
  w.bits(23, 5);
  w.bits(5, 5);
  w.bits(24, 5);
}

const SYNTHETIC = {
  /** The brief's SPS: Baseline, level 3.0, POC type 2, one reference frame, 20x15 MBs, no cropping, no VUI. */
  baselineNoVui: { profile: 66, level: 30, pocType: 2, refFrames: 1, widthMbs: 20, heightMapUnits: 15 },
  /** High 4:2:0 with SPS scaling lists (one full, one "use default", one ending early, one 8x8), POC type 1, VUI with timing only. */
  highScalingListsVuiWithoutRestriction: {
    profile: 100,
    level: 31,
    spsId: 3,
    chromaFormat: 1,
    scalingLists: [Array(16).fill(1), null, [-8], [4, 4, -16], null, Array(16).fill(3), Array(64).fill(0), [5, -13]],
    pocType: 1,
    pocCycle: [2, -1, 4],
    refFrames: 3,
    widthMbs: 80,
    heightMapUnits: 45,
    vui: (w) => {
      for (let i = 0; i < 4; i++) w.bit(0); // aspect, overscan, video signal, chroma location
      w.bit(1); // timing_info_present_flag
      w.bits(1001, 32);
      w.bits(60000, 32);
      w.bit(1);
      w.bit(0); // nal_hrd
      w.bit(0); // vcl_hrd
      w.bit(0); // pic_struct_present_flag
      w.bit(0); // bitstream_restriction_flag
    },
  },
  /** High 4:4:4 with 12 scaling lists, cropping in luma samples, and every VUI field including NAL and VCL HRD; reorder 3. */
  high444EveryVuiField: {
    profile: 244,
    level: 40,
    spsId: 1,
    chromaFormat: 3,
    scalingLists: [null, [3, -11], null, null, null, null, null, [-8], null, null, [7, -7, -8], Array(64).fill(2)],
    pocType: 0,
    refFrames: 4,
    widthMbs: 22,
    heightMapUnits: 18,
    crop: [0, 3, 0, 2],
    vui: (w) => {
      w.bit(1); // aspect_ratio_info_present_flag
      w.bits(255, 8); // Extended_SAR
      w.bits(4, 16);
      w.bits(3, 16);
      w.bit(1); // overscan_info_present_flag
      w.bit(1);
      w.bit(1); // video_signal_type_present_flag
      w.bits(5, 3);
      w.bit(0);
      w.bit(1); // colour_description_present_flag
      w.bits(1, 8);
      w.bits(1, 8);
      w.bits(1, 8);
      w.bit(1); // chroma_loc_info_present_flag
      w.ue(1);
      w.ue(2);
      w.bit(1); // timing_info_present_flag
      w.bits(1, 32);
      w.bits(50, 32);
      w.bit(0);
      w.bit(1); // nal_hrd_parameters_present_flag
      writeHrd(w, 3);
      w.bit(1); // vcl_hrd_parameters_present_flag
      writeHrd(w, 1);
      w.bit(0); // low_delay_hrd_flag
      w.bit(1); // pic_struct_present_flag
      w.bit(1); // bitstream_restriction_flag
      w.bit(0);
      w.ue(0);
      w.ue(0);
      w.ue(11);
      w.ue(10);
      w.ue(3); // max_num_reorder_frames
      w.ue(4); // max_dec_frame_buffering
    },
  },
} satisfies Record<string, SpsSpec>;

// ---------------------------------------------------------------------------------------------------------
// Real SPSes from x264

interface X264Case {
  name: string;
  size: string;
  args: string[];
  expected: Pick<SpsInfo, 'profileIdc' | 'width' | 'height' | 'maxNumReorderFrames'>;
}

const X264_CASES: X264Case[] = [
  {
    name: 'High, 2 B-frames (the x264/OBS default)',
    size: '320x240',
    args: ['-bf', '2', '-g', '30'],
    expected: { profileIdc: 100, width: 320, height: 240, maxNumReorderFrames: 2 },
  },
  { name: 'High, no B-frames', size: '320x240', args: ['-bf', '0'], expected: { profileIdc: 100, width: 320, height: 240, maxNumReorderFrames: 0 } },
  {
    name: 'Constrained Baseline',
    size: '320x240',
    args: ['-profile:v', 'baseline'],
    expected: { profileIdc: 66, width: 320, height: 240, maxNumReorderFrames: 0 },
  },
  {
    name: 'High with NAL HRD parameters in the VUI',
    size: '320x240',
    args: ['-profile:v', 'high', '-b:v', '500k', '-maxrate', '500k', '-bufsize', '1000k', '-x264-params', 'nal-hrd=vbr'],
    expected: { profileIdc: 100, width: 320, height: 240, maxNumReorderFrames: 2 },
  },
  { name: '1920x1080 (coded 1088, cropped)', size: '1920x1080', args: [], expected: { profileIdc: 100, width: 1920, height: 1080, maxNumReorderFrames: 2 } },
  {
    name: 'High 4:4:4, odd size cropped in single luma samples',
    size: '330x250',
    args: ['-pix_fmt', 'yuv444p'],
    expected: { profileIdc: 244, width: 330, height: 250, maxNumReorderFrames: 2 },
  },
  { name: 'High 4:2:2', size: '320x240', args: ['-pix_fmt', 'yuv422p'], expected: { profileIdc: 122, width: 320, height: 240, maxNumReorderFrames: 2 } },
  {
    name: 'interlaced (height in field-pair map units, cropped)',
    size: '320x240',
    args: ['-x264-params', 'interlaced=1'],
    expected: { profileIdc: 100, width: 320, height: 240, maxNumReorderFrames: 2 },
  },
];
// x264's `cqm=jvt` puts its matrices in the PPS, never the SPS: SPS scaling lists are covered by SYNTHETIC above.

/** 640x360, 3 s, 2 B-frames, a keyframe a second: the stream the end-to-end test decodes. */
const E2E = { size: '640x360', args: ['-bf', '2', '-g', '30'], seconds: 3 };

let dir = '';
const encoded = new Map<string, Buffer>();

async function encode(name: string, size: string, args: string[], limit: string[]): Promise<void> {
  const file = path.join(dir, `${name.replace(/\W+/g, '_')}.flv`);
  await run(ff!.path, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=30`,
    ...limit,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    ...args,
    '-f',
    'flv',
    file,
  ]);
  encoded.set(name, readFileSync(file));
}

beforeAll(async () => {
  if (!ff) return;
  dir = mkdtempSync(path.join(tmpdir(), 'modgate-h264-'));
  // Three pictures are enough for the sequence header; encodes run side by side.
  await Promise.all([
    ...X264_CASES.map((c) => encode(c.name, c.size, c.args, ['-frames:v', '3'])),
    encode('e2e', E2E.size, E2E.args, ['-t', String(E2E.seconds)]),
  ]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function x264Config(name: string): AvcConfig {
  return parseAvcC(sequenceHeader(flvTags(encoded.get(name)!)));
}

describe.skipIf(!ff)('SPS from x264', () => {
  describe.each(X264_CASES)('$name', (c) => {
    it('parseAvcC finds one SPS and its PPS; parseSps reads the picture size, profile and reorder depth', () => {
      const cfg = x264Config(c.name);
      expect(cfg.lengthSize).toBe(4);
      expect(cfg.sps).toHaveLength(1);
      expect(cfg.pps.length).toBeGreaterThanOrEqual(1);
      expect(nalType(cfg.sps[0]!)).toBe(NAL.SPS);
      expect(cfg.pps.map(nalType)).toEqual(cfg.pps.map(() => NAL.PPS));
      const info = parseSps(cfg.sps[0]!);
      expect(info).toMatchObject(c.expected);
      expect(info.spsId).toBe(0);
      expect([cfg.profile, cfg.level]).toEqual([info.profileIdc, info.levelIdc]);
    });

    it('spsWithoutReorder: the same SPS declaring max_num_reorder_frames 0', () => {
      const original = x264Config(c.name).sps[0]!;
      const rewritten = spsWithoutReorder(original);
      expect(parseSps(rewritten)).toEqual({ ...parseSps(original), maxNumReorderFrames: 0 });
      expect(rewritten[0]).toBe(original[0]); // NAL header (nal_ref_idc) kept
      expect(spsWithoutReorder(rewritten)).toEqual(rewritten); // idempotent
      // An SPS that already says 0 comes back byte for byte.
      if (c.expected.maxNumReorderFrames === 0) expect(Buffer.from(rewritten).equals(Buffer.from(original))).toBe(true);
    });

    it.skipIf(!traceHeaders)('libavcodec reads the rewritten SPS bit for bit as the original up to max_num_reorder_frames, which it reads as 0', async () => {
      const cfg = x264Config(c.name);
      const original = cfg.sps[0]!;
      const rewritten = spsWithoutReorder(original);
      const [before, after] = (await traceSps([original, rewritten], cfg.pps[0]!)) as [Syntax[], Syntax[]];
      // x264 always writes a VUI with bitstream_restriction: only its reorder field may change.
      expect(valueOf(before, 'bitstream_restriction_flag')).toBe(1);
      const restrictionAt = before.find((e) => e.name === 'bitstream_restriction_flag')!.pos;
      expect(rbspBits(rewritten).slice(0, restrictionAt)).toBe(rbspBits(original).slice(0, restrictionAt));
      expect(upTo(after, 'max_num_reorder_frames')).toEqual(upTo(before, 'max_num_reorder_frames'));
      expect(from(after, 'max_num_reorder_frames')).toEqual(['max_num_reorder_frames=0', ...from(before, 'max_dec_frame_buffering')]);
      expect(valueOf(before, 'max_num_reorder_frames')).toBe(c.expected.maxNumReorderFrames);
    });
  });
});

describe('SPS without VUI, and SPS fields x264 never writes (synthetic)', () => {
  it('an SPS without VUI gets a VUI holding only bitstream_restriction, and still reads as 320x240 Baseline', () => {
    const original = buildSps(SYNTHETIC.baselineNoVui);
    const expected: SpsInfo = { profileIdc: 66, levelIdc: 30, spsId: 0, width: 320, height: 240, maxNumRefFrames: 1, maxNumReorderFrames: null };
    expect(parseSps(original)).toEqual(expected);
    const rewritten = spsWithoutReorder(original);
    expect(parseSps(rewritten)).toEqual({ ...expected, maxNumReorderFrames: 0 });
    expect(rewritten.length).toBeGreaterThan(original.length);
    expect(spsWithoutReorder(rewritten)).toEqual(rewritten);
  });

  it('an SPS with scaling lists, POC type 1 and a VUI without bitstream_restriction gets the restriction appended', () => {
    const original = buildSps(SYNTHETIC.highScalingListsVuiWithoutRestriction);
    const expected: SpsInfo = { profileIdc: 100, levelIdc: 31, spsId: 3, width: 1280, height: 720, maxNumRefFrames: 3, maxNumReorderFrames: null };
    expect(parseSps(original)).toEqual(expected);
    expect(parseSps(spsWithoutReorder(original))).toEqual({ ...expected, maxNumReorderFrames: 0 });
  });

  it('an SPS with 4:4:4 scaling lists and every VUI field (extended SAR, colour description, NAL+VCL HRD) reads right, and back with reorder 0', () => {
    const original = buildSps(SYNTHETIC.high444EveryVuiField);
    const expected: SpsInfo = { profileIdc: 244, levelIdc: 40, spsId: 1, width: 22 * 16 - 3, height: 18 * 16 - 2, maxNumRefFrames: 4, maxNumReorderFrames: 3 };
    expect(parseSps(original)).toEqual(expected);
    expect(parseSps(spsWithoutReorder(original))).toEqual({ ...expected, maxNumReorderFrames: 0 });
  });

  describe.skipIf(!ff || !traceHeaders)('as libavcodec reads them', () => {
    it('no VUI: everything before vui_parameters_present_flag copied; then eight absent VUI parts and a restriction with reorder 0', async () => {
      const original = buildSps(SYNTHETIC.baselineNoVui);
      const [before, after] = (await traceSps([original, spsWithoutReorder(original)], buildPps(0))) as [Syntax[], Syntax[]];
      expect(valueOf(before, 'vui_parameters_present_flag')).toBe(0);
      expect(upTo(after, 'vui_parameters_present_flag')).toEqual(upTo(before, 'vui_parameters_present_flag'));
      expect(from(after, 'vui_parameters_present_flag')).toEqual([
        'vui_parameters_present_flag=1',
        'aspect_ratio_info_present_flag=0',
        'overscan_info_present_flag=0',
        'video_signal_type_present_flag=0',
        'chroma_loc_info_present_flag=0',
        'timing_info_present_flag=0',
        'nal_hrd_parameters_present_flag=0',
        'vcl_hrd_parameters_present_flag=0',
        'pic_struct_present_flag=0',
        // max_dec_frame_buffering: max_num_ref_frames, the least a conforming stream allows
        ...addedRestriction(1),
      ]);
    });

    it('VUI without restriction: the VUI copied through pic_struct_present_flag (scaling lists and POC cycle agree with libavcodec), then the restriction', async () => {
      const original = buildSps(SYNTHETIC.highScalingListsVuiWithoutRestriction);
      const [before, after] = (await traceSps([original, spsWithoutReorder(original)], buildPps(3))) as [Syntax[], Syntax[]];
      expect(before.filter((e) => /scaling|delta_scale/.test(e.name)).length).toBeGreaterThan(100); // the lists were really read
      expect(valueOf(before, 'bitstream_restriction_flag')).toBe(0);
      expect(upTo(after, 'bitstream_restriction_flag')).toEqual(upTo(before, 'bitstream_restriction_flag'));
      expect(from(after, 'bitstream_restriction_flag')).toEqual(addedRestriction(3));
    });

    it('every VUI field and 12 scaling lists: copied bit for bit up to max_num_reorder_frames', async () => {
      const original = buildSps(SYNTHETIC.high444EveryVuiField);
      const [before, after] = (await traceSps([original, spsWithoutReorder(original)], buildPps(1))) as [Syntax[], Syntax[]];
      expect(valueOf(before, 'vcl_hrd_parameters_present_flag')).toBe(1);
      expect(valueOf(before, 'max_num_reorder_frames')).toBe(3);
      expect(upTo(after, 'max_num_reorder_frames')).toEqual(upTo(before, 'max_num_reorder_frames'));
      expect(from(after, 'max_num_reorder_frames')).toEqual(['max_num_reorder_frames=0', 'max_dec_frame_buffering=4', 'rbsp_stop_one_bit=1']);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('emulation prevention', () => {
  it('examples: 00 00 followed by 00..03 gets an 03 between; unescaping removes exactly those', () => {
    expect([...escapeRbsp(Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 4, 0, 0]))]).toEqual([0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 3, 0, 0, 4, 0, 0]);
    expect([...unescapeRbsp(Uint8Array.from([0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 3, 0, 0, 4]))]).toEqual([0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 4]);
  });

  const bytes = fc.uint8Array({ maxLength: 200 });
  // Zero-heavy bytes: where emulation prevention actually happens.
  const zeroHeavy = fc
    .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 255 })), { maxLength: 200 })
    .map((a) => Uint8Array.from(a));

  it('unescapeRbsp(escapeRbsp(x)) is x', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, zeroHeavy), (x) => {
        expect([...unescapeRbsp(escapeRbsp(x))]).toEqual([...x]);
      }),
      { numRuns: 1000 },
    );
  });

  it('escaped output never holds 00 00 00, 00 00 01 or 00 00 02, and every 00 00 03 is an inserted byte before 00..03', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, zeroHeavy), (x) => {
        const e = escapeRbsp(x);
        for (let i = 0; i + 2 < e.length; i++) {
          if (e[i] !== 0 || e[i + 1] !== 0) continue;
          expect(e[i + 2]).not.toBeLessThan(3);
          if (e[i + 2] === 3) expect(e[i + 3]).toBeLessThanOrEqual(3);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('bytes without 00 00 are left as they are', () => {
    fc.assert(
      fc.property(fc.uint8Array({ min: 1, maxLength: 100 }), (x) => {
        expect([...escapeRbsp(x)]).toEqual([...x]);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

/** SPSes as x264 wrote them (see X264_CASES: 640x360 bf 2, 320x240 bf 0, baseline, NAL HRD, 1080p, 4:4:4, interlaced). */
const X264_SPS_HEX = [
  '6764001eacd940a02ff970110000030001000003003c0f162d96',
  '6764000dacb40a0fd80880000003008000001e078a1550',
  '6742c00dda0507ec0440000003004000000f03c50aa8',
  '6764000dacd94141fb0110000003001000000303c604001e840007a129b0c01e28532c',
  '67640028acd940780227e5c044000003000400000300f03c60c658',
  '67f4000d919b282a10f3cf8088000003000800000301e078a14cb0',
  '67640015acd941410fcb8088000003000800000301e0f8a14cb0',
];
const SEEDS = [...X264_SPS_HEX.map((h) => Uint8Array.from(Buffer.from(h, 'hex'))), ...Object.values(SYNTHETIC).map((s) => buildSps(s))];

/** The result, or the H264Error it threw; anything else thrown fails the test. */
function onlyH264Error<T>(f: () => T): T | H264Error {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof H264Error)) throw e;
    return e;
  }
}

/** A real SPS with bits flipped (never in the NAL header), cut short, or with bytes appended. */
const mutatedSps = fc
  .record({ seed: fc.constantFrom(...SEEDS), flips: fc.array(fc.nat(), { maxLength: 4 }), cut: fc.option(fc.nat()), tail: fc.uint8Array({ maxLength: 6 }) })
  .map(({ seed, flips, cut, tail }) => {
    const b = Uint8Array.from(seed);
    for (const f of flips) {
      const bit = 8 + (f % ((b.length - 1) * 8));
      b[bit >> 3]! ^= 0x80 >> (bit & 7);
    }
    return Uint8Array.from([...b.subarray(0, cut === null ? b.length : 1 + (cut % b.length)), ...tail]);
  });

/** Feeds each input to every entry point, noting which input it is on; exceptions are the other tests' business. */
const WATCHDOG_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { tsImport } = await import(workerData.tsxApi);
  const h264 = await tsImport(workerData.module, workerData.module);
  const current = new Int32Array(workerData.current);
  const calls = [
    (b) => h264.parseAvcC(b),
    (b) => h264.parseSps(b),
    (b) => h264.spsWithoutReorder(b),
    (b) => h264.splitLengthPrefixed(b, 1),
    (b) => h264.splitLengthPrefixed(b, 2),
    (b) => h264.splitLengthPrefixed(b, 4),
    (b) => h264.unescapeRbsp(b),
  ];
  workerData.inputs.forEach((input, i) => {
    Atomics.store(current, 0, i);
    for (const call of calls) {
      try {
        call(input);
      } catch {}
    }
  });
  parentPort.postMessage('done');
})().catch((e) => parentPort.postMessage(String((e && e.stack) || e)));
`;

describe('hostile input', () => {
  it('examples: wrong NAL type, empty, truncated, absurd Exp-Golomb and sizes are H264Errors', () => {
    const sps = SEEDS[0]!;
    expect(() => parseSps(new Uint8Array())).toThrow(H264Error);
    expect(() => parseSps(Uint8Array.from([0x68, 0xce, 0x3c, 0x80]))).toThrow(/not an SPS/);
    expect(() => parseSps(sps.subarray(0, 8))).toThrow(/truncated/);
    expect(() => parseSps(Uint8Array.from([0x67, 66, 0, 30, 0, 0, 0, 0, 0, 1]))).toThrow(/Exp-Golomb/);
    expect(() => spsWithoutReorder(sps.subarray(0, 12))).toThrow(H264Error);
    const huge = buildSps({ ...SYNTHETIC.baselineNoVui, widthMbs: 2000 });
    expect(() => parseSps(huge)).toThrow(/implausible picture size/);
    const avcC = buildAvcC({ profile: 66, compatibility: 0, level: 30, sps: [sps], pps: [buildPps(0)] });
    expect([...parseAvcC(avcC).sps[0]!]).toEqual([...sps]);
    expect(() => parseAvcC(avcC.subarray(0, avcC.length - 1))).toThrow(/out of range/);
    expect(() => parseAvcC(Buffer.concat([Buffer.from([0]), avcC.subarray(1)]))).toThrow(/version/);
    const threeByteLengths = Buffer.from(avcC);
    threeByteLengths[4] = 0xfe;
    expect(() => parseAvcC(threeByteLengths)).toThrow(/length size 3/);
    expect(() => parseAvcC(buildAvcC({ profile: 66, compatibility: 0, level: 30, sps: [buildPps(0)], pps: [buildPps(0)] }))).toThrow(/not an SPS/);
    expect(() => splitLengthPrefixed(Uint8Array.from([0, 0, 0, 5, 0x65]), 4)).toThrow(/out of range/);
    expect(() => splitLengthPrefixed(Uint8Array.from([0, 0, 0, 0]), 4)).toThrow(/out of range/);
    expect(() => splitLengthPrefixed(Uint8Array.from([0, 0, 1]), 4)).toThrow(/truncated/);
  });

  it('random bytes: parseAvcC, parseSps (after an SPS header byte), spsWithoutReorder and splitLengthPrefixed throw nothing but H264Error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(1 as const, 2 as const, 4 as const), (bytes, lengthSize) => {
        onlyH264Error(() => parseAvcC(bytes));
        onlyH264Error(() => parseAvcC(Uint8Array.from([1, ...bytes]))); // past the version check
        const nal = Uint8Array.from([0x67, ...bytes]);
        onlyH264Error(() => parseSps(nal));
        onlyH264Error(() => spsWithoutReorder(nal));
        onlyH264Error(() => spsWithoutReorder(bytes));
        const parts = onlyH264Error(() => splitLengthPrefixed(bytes, lengthSize));
        if (!(parts instanceof H264Error)) expect(parts.reduce((n, p) => n + lengthSize + p.length, 0)).toBe(bytes.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated real SPSes: either an H264Error from both parseSps and spsWithoutReorder, or a rewrite that reads back with reorder 0 and nothing else changed', () => {
    fc.assert(
      fc.property(mutatedSps, (nal) => {
        const info = onlyH264Error(() => parseSps(nal));
        const rewritten = onlyH264Error(() => spsWithoutReorder(nal));
        if (info instanceof H264Error) {
          expect(rewritten).toBeInstanceOf(H264Error);
          return;
        }
        expect(rewritten).not.toBeInstanceOf(H264Error);
        expect(parseSps(rewritten as Uint8Array)).toEqual({ ...info, maxNumReorderFrames: 0 });
        expect(spsWithoutReorder(rewritten as Uint8Array)).toEqual(rewritten);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated avcC records: H264Error, or SPS and PPS entries that are what they say', () => {
    const avcC = buildAvcC({ profile: 100, compatibility: 0, level: 30, sps: SEEDS.slice(0, 3), pps: [buildPps(0), buildPps(1)], lengthSize: 2 });
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 4 }), fc.nat(), (flips, cut) => {
        const b = Uint8Array.from(avcC);
        for (const f of flips) b[f % b.length]! ^= 1 << (f % 8);
        const cfg = onlyH264Error(() => parseAvcC(b.subarray(0, 1 + (cut % b.length))));
        if (cfg instanceof H264Error) return;
        expect([1, 2, 4]).toContain(cfg.lengthSize);
        expect(cfg.sps.length).toBeGreaterThan(0);
        expect(cfg.pps.length).toBeGreaterThan(0);
        for (const s of cfg.sps) expect(nalType(s)).toBe(NAL.SPS);
        for (const p of cfg.pps) expect(nalType(p)).toBe(NAL.PPS);
      }),
      { numRuns: 2000 },
    );
  });

  it('splitLengthPrefixed(joinLengthPrefixed(nals), 4) gives the NAL units back', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 8 }), (nals) => {
        expect(splitLengthPrefixed(joinLengthPrefixed(nals), 4).map((n) => [...n])).toEqual(nals.map((n) => [...n]));
      }),
    );
  });

  it('never hangs: 10,000 hostile inputs through every entry point finish on a watchdog thread', async () => {
    // A worker thread, because an endless loop in the main thread would hang the test run instead of
    // failing it; the worker is stopped at the deadline and the input it was on is reported.
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.from([0x67, ...b])),
      fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.from([1, ...b])),
      mutatedSps,
      mutatedSps.map((sps) => buildAvcC({ profile: sps[1] ?? 0, compatibility: 0, level: sps[3] ?? 0, sps: [sps], pps: [buildPps(0)] })),
    );
    const inputs = fc.sample(hostile, 10_000);
    const current = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WATCHDOG_WORKER, {
      eval: true,
      workerData: {
        tsxApi: import.meta.resolve('tsx/esm/api'),
        module: new URL('../../gateway/media/h264.ts', import.meta.url).href,
        inputs,
        current: current.buffer,
      },
    });
    try {
      const outcome = await Promise.race([
        new Promise<string>((resolve) => {
          worker.once('message', (m: string) => resolve(m));
          worker.once('error', (e) => resolve(`worker failed: ${e.message}`));
        }),
        sleep(20_000).then(
          () => `still running after 20 s, on input ${Atomics.load(current, 0)}: ${Buffer.from(inputs[Atomics.load(current, 0)]!).toString('hex')}`,
        ),
      ]);
      expect(outcome).toBe('done');
    } finally {
      await worker.terminate();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// End to end: why the rewrite exists

const PICTURE = /Parsed_showinfo.*\bn:\s+0\s+pts:/;

class Decoder {
  readonly proc: ChildProcessWithoutNullStreams;
  log = '';

  constructor(flv: Buffer) {
    // -threads 1 as in the keyframe decoder: frame threading would add its own delay of (threads - 1)
    // pictures whatever the SPS says.
    this.proc = spawn(ff!.path, [
      '-hide_banner',
      '-loglevel',
      'info',
      '-threads',
      '1',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'flv',
      '-i',
      'pipe:0',
      '-vf',
      'showinfo',
      '-f',
      'null',
      '-',
    ]);
    this.proc.stderr.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stdin.on('error', () => {});
    this.proc.stdin.write(flv); // and stdin stays open, as the gateway's does
  }

  /** Whether stderr shows `re` within `ms`. */
  async shows(re: RegExp, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!re.test(this.log)) {
      if (Date.now() >= deadline || this.proc.exitCode !== null) return re.test(this.log);
      await sleep(20);
    }
    return true;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

describe.skipIf(!ff)('end to end: one keyframe of a B-frame stream into ffmpeg, stdin left open', () => {
  /** The FLV the keyframe decoder would write: sequence header with this SPS, then one keyframe carrying it in-band. */
  function oneKeyframe(rewrite: boolean): Buffer {
    const tags = flvTags(encoded.get('e2e')!);
    const cfg = parseAvcC(sequenceHeader(tags));
    expect(parseSps(cfg.sps[0]!).maxNumReorderFrames).toBe(2);
    const keyframes = keyframeTags(tags);
    expect(keyframes.length).toBeGreaterThanOrEqual(2);
    // A mid-stream keyframe, as the gateway hands them over.
    const nals = splitLengthPrefixed(keyframes[1]!.body.subarray(5), cfg.lengthSize);
    expect(nals.map(nalType)).toContain(NAL.IDR);
    const sps = rewrite ? spsWithoutReorder(cfg.sps[0]!) : cfg.sps[0]!;
    return flvFile(buildAvcC({ ...cfg, sps: [sps], lengthSize: 4 }), [joinLengthPrefixed([sps, ...cfg.pps, ...nals])]);
  }

  it('with the rewritten SPS (reorder 0) the picture comes out at once', async () => {
    const d = new Decoder(oneKeyframe(true));
    try {
      // Timed from the start of decoding, not from process start (slow on a loaded host).
      expect(await d.shows(/Stream mapping/, 5_000), d.log).toBe(true);
      expect(await d.shows(PICTURE, 2_000), d.log).toBe(true);
      expect(d.proc.stdin.writableEnded).toBe(false);
      expect(d.proc.exitCode).toBeNull();
    } finally {
      d.kill();
    }
  });

  it('with the original SPS (reorder 2) the decoder holds the picture back until the input ends', async () => {
    const d = new Decoder(oneKeyframe(false));
    try {
      // Decoding has begun (the stream is mapped), so the wait below is not just a slow start.
      expect(await d.shows(/Stream mapping/, 5_000), d.log).toBe(true);
      expect(await d.shows(PICTURE, 1_500), d.log).toBe(false);
      // Held back, not rejected: closing stdin flushes it out.
      d.proc.stdin.end();
      expect(await d.shows(PICTURE, 5_000), d.log).toBe(true);
    } finally {
      d.kill();
    }
  });
});
