import { spawn } from 'node:child_process';
import { PdqHasher, toHex } from '../../classifiers/pdq.ts';
import { resolveFfmpeg } from './ffmpeg-path.ts';

export interface FileHash {
  /** Seconds from the start (0 for an image). */
  timeSec: number;
  hash: string;
  quality: number;
}

/**
 * PDQ hashes of an image or a video file, for curators adding known content to a bank. ffmpeg decodes any
 * format and scales the picture to fit 512×512 (the reference tool's pre-resize), so the hashes agree with
 * hashes computed elsewhere within a few bits. Video: one hash per sampled second (vPDQ-style).
 */
export async function hashFile(file: string, opts: { fps?: number; maxFrames?: number } = {}): Promise<FileHash[]> {
  const ffmpeg = await resolveFfmpeg();
  const size = await probeSize(ffmpeg.path, file);
  const scale = Math.min(1, 512 / Math.max(size.width, size.height));
  const w = Math.max(2, Math.round((size.width * scale) / 2) * 2);
  const h = Math.max(2, Math.round((size.height * scale) / 2) * 2);
  const fps = opts.fps ?? 1;
  const video = await decode(ffmpeg.path, file, w, h, `fps=${fps},`, opts.maxFrames ?? 36_000, fps);
  // A still image has no timeline for the fps filter to sample: decode its one frame directly.
  if (video.length > 0) return video;
  const still = await decode(ffmpeg.path, file, w, h, '', 1, fps);
  if (still.length === 0) throw new Error(`no frames decoded from ${file}`);
  return still;
}

async function decode(ffmpegPath: string, file: string, w: number, h: number, fpsFilter: string, maxFrames: number, fps: number): Promise<FileHash[]> {
  const args = ['-hide_banner', '-loglevel', 'error', '-i', file, '-an', '-vf', `${fpsFilter}scale=${w}:${h}:flags=area`, '-frames:v', String(maxFrames), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const frameBytes = w * h * 3;
  const hasher = new PdqHasher();
  const out: FileHash[] = [];
  // (one hasher per decode: its buffers are reused across the frames of this file)
  await new Promise<void>((resolve, reject) => {
    const proc = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = Buffer.alloc(0);
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    proc.stdout.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= frameBytes) {
        const frame = pending.subarray(0, frameBytes);
        pending = pending.subarray(frameBytes);
        const r = hasher.fromRgb(frame, w, h);
        out.push({ timeSec: out.length / fps, hash: toHex(r.hash), quality: r.quality });
      }
    });
    proc.on('error', reject);
    proc.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg could not decode ${file}: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`))));
  });
  return out;
}

/** Picture size from ffmpeg's own stream description (the npm build ships no ffprobe). */
async function probeSize(ffmpegPath: string, file: string): Promise<{ width: number; height: number }> {
  const text = await new Promise<string>((resolve) => {
    const proc = spawn(ffmpegPath, ['-hide_banner', '-i', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('close', () => resolve(err));
    proc.on('error', () => resolve(err));
  });
  const m = /Video: .*?(\d{2,5})x(\d{2,5})/.exec(text);
  if (!m) throw new Error(`${file} has no video or image stream ffmpeg can read`);
  return { width: Number(m[1]), height: Number(m[2]) };
}
