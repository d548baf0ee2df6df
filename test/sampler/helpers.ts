import type { Frame } from '../../classifiers/frame.ts';
import { findFfmpeg, type FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';

/** The resolved ffmpeg, or null with the reason printed (tests then skip). */
export async function ffmpegForTests(needs: { libx264?: boolean; libvpx?: boolean } = {}): Promise<FfmpegInfo | null> {
  const ff = await findFfmpeg();
  if (!ff) {
    console.warn('[sampler tests] skipped: no runnable ffmpeg (FFMPEG_PATH, PATH, @ffmpeg-installer)');
    return null;
  }
  if (needs.libx264 && !ff.features.libx264) {
    console.warn(`[sampler tests] skipped: ${ff.path} has no libx264 encoder for the test publisher`);
    return null;
  }
  if (needs.libvpx && !ff.features.libvpx) {
    console.warn(`[sampler tests] skipped: ${ff.path} has no libvpx encoder for the WebM test file`);
    return null;
  }
  return ff;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface RateReport {
  n: number;
  wallFps: number;
  mediaFps: number;
}

/**
 * Rate over the steady part: frames from `skipMs` after the first frame on (startup bursts from
 * the server's GOP cache and probing are not what the rate promise is about).
 */
export function steadyRate(frames: Frame[], skipMs = 2_000): RateReport {
  const first = frames[0];
  if (!first) return { n: 0, wallFps: 0, mediaFps: 0 };
  const steady = frames.filter((f) => f.receivedAt >= first.receivedAt + skipMs);
  const a = steady[0];
  const b = steady.at(-1);
  if (!a || !b || steady.length < 2) return { n: steady.length, wallFps: 0, mediaFps: 0 };
  return {
    n: steady.length,
    wallFps: ((steady.length - 1) * 1000) / (b.receivedAt - a.receivedAt),
    mediaFps: ((steady.length - 1) * 1000) / (b.mediaTimeMs - a.mediaTimeMs),
  };
}

export function strictlyIncreasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v > (values[i - 1] ?? -Infinity));
}

/** Mean RGB of a small box at the centre of the frame. */
export function centreColour(f: Frame): [number, number, number] {
  const sums = [0, 0, 0];
  let n = 0;
  for (let y = Math.floor(f.height / 2) - 4; y < Math.floor(f.height / 2) + 4; y++) {
    for (let x = Math.floor(f.width / 2) - 4; x < Math.floor(f.width / 2) + 4; x++) {
      const o = (y * f.width + x) * 3;
      sums[0] = (sums[0] ?? 0) + (f.rgb[o] ?? 0);
      sums[1] = (sums[1] ?? 0) + (f.rgb[o + 1] ?? 0);
      sums[2] = (sums[2] ?? 0) + (f.rgb[o + 2] ?? 0);
      n += 1;
    }
  }
  return [Math.round((sums[0] ?? 0) / n), Math.round((sums[1] ?? 0) / n), Math.round((sums[2] ?? 0) / n)];
}
