/**
 * Image formats told apart by their first bytes, as the reference's CImg does when the file name says
 * nothing (a `.jpg` that is really a PNG is decoded as a PNG). Only these decode in-process; the still
 * formats below them go to ffmpeg one frame at a time; anything else is treated as a video.
 */
export type InProcessFormat = 'jpeg' | 'png' | 'pnm';
export type FfmpegStillFormat = 'gif' | 'webp' | 'bmp' | 'tiff';
export type SniffedFormat = InProcessFormat | FfmpegStillFormat;

export function sniffFormat(head: Uint8Array): SniffedFormat | null {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47 && b(4) === 0x0d && b(5) === 0x0a && b(6) === 0x1a && b(7) === 0x0a) return 'png';
  // P1..P6 followed by whitespace (PAM's P7 and PFM's Pf go to ffmpeg).
  if (b(0) === 0x50 && b(1) >= 0x31 && b(1) <= 0x36 && [0x20, 0x09, 0x0a, 0x0d].includes(b(2))) return 'pnm';
  if (b(0) === 0x47 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x38) return 'gif';
  if (b(0) === 0x52 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x46 && b(8) === 0x57 && b(9) === 0x45 && b(10) === 0x42 && b(11) === 0x50) return 'webp';
  if (b(0) === 0x42 && b(1) === 0x4d) return 'bmp';
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a && b(3) === 0) || (b(0) === 0x4d && b(1) === 0x4d && b(2) === 0 && b(3) === 0x2a)) return 'tiff';
  return null;
}

export function isInProcess(format: SniffedFormat | null): format is InProcessFormat {
  return format === 'jpeg' || format === 'png' || format === 'pnm';
}
