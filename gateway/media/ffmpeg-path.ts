import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

/**
 * Which ffmpeg binary the gateway runs, and what that build can do.
 *
 * Resolution order: `FFMPEG_PATH`, then `ffmpeg` on PATH, then the static build shipped by
 * @ffmpeg-installer/ffmpeg. Each candidate must actually run (`-version`), so a stale env var or a
 * broken PATH entry falls through to the next one instead of failing every sampler at spawn time.
 *
 * The npm build is ffmpeg ~4.1 (2018): it has no `-fps_mode`, so callers pick flags from `features`
 * instead of assuming the newest CLI.
 */

export type FfmpegSource = 'env' | 'path' | 'npm';

export interface FfmpegFeatures {
  /** `-fps_mode` exists (ffmpeg >= 5.1); otherwise use the older `-vsync`. */
  fpsMode: boolean;
  /** `showinfo=checksum=0` is accepted (skips per-frame adler32 of every plane). */
  showinfoChecksum: boolean;
  /**
   * The command-line tool writes a picture out only once the next one reaches the output (seen in 5.x,
   * not in 4.1): a sampler emitting 2 fps would deliver each frame ~500 ms late. Samplers then let one
   * extra frame through after each sampled one (gateway/sampler/args.ts).
   */
  holdsLastFrame?: boolean;
  /** libx264 encoder present (test publishers and benchmarks need it). */
  libx264: boolean;
  /** libvpx VP8 encoder present (WebM test files). */
  libvpx: boolean;
}

export interface FfmpegInfo {
  path: string;
  /** Version string from the first line of `ffmpeg -version`, e.g. `5.1.9-0+deb12u1`. */
  version: string;
  source: FfmpegSource;
  features: FfmpegFeatures;
  /** Candidates tried before this one and why they were skipped. */
  rejected: Array<{ path: string; source: FfmpegSource; reason: string }>;
}

export class FfmpegNotFoundError extends Error {
  constructor(readonly rejected: FfmpegInfo['rejected']) {
    super(`no runnable ffmpeg found (set FFMPEG_PATH): ${rejected.map((r) => `${r.source} ${r.path}: ${r.reason}`).join('; ') || 'no candidates'}`);
    this.name = 'FfmpegNotFoundError';
  }
}

const PROBE_TIMEOUT_MS = 5_000;

function run(path: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 8 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) reject(err);
      else resolve(`${stdout}\n${stderr}`);
    });
  });
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

function npmBinary(): string | null {
  try {
    // The installer package throws a bare string when its platform binary is missing.
    const req = createRequire(import.meta.url);
    const mod = req('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    return typeof mod.path === 'string' ? mod.path : null;
  } catch {
    return null;
  }
}

/** Runs the cheap probes (~0.3 s together, in parallel) and parses what the build supports. */
export async function probeFfmpeg(path: string, source: FfmpegSource): Promise<Omit<FfmpegInfo, 'rejected'>> {
  const versionOut = await run(path, ['-hide_banner', '-version']);
  const m = /ffmpeg version (\S+)/.exec(versionOut);
  if (!m?.[1]) throw new Error('not an ffmpeg binary (no "ffmpeg version" line)');
  // `-h long` lists -fps_mode where it exists; the filter help lists showinfo's options.
  const [helpLong, showinfoHelp, encoders] = await Promise.all([
    run(path, ['-hide_banner', '-h', 'long']).catch(() => ''),
    run(path, ['-hide_banner', '-h', 'filter=showinfo']).catch(() => ''),
    run(path, ['-hide_banner', '-encoders']).catch(() => ''),
  ]);
  return {
    path,
    version: m[1],
    source,
    features: {
      fpsMode: /^-fps_mode\b/m.test(helpLong),
      showinfoChecksum: /\bchecksum\b/.test(showinfoHelp),
      holdsLastFrame: !/^[1-4]\./.test(m[1]),
      libx264: /\blibx264\b/.test(encoders),
      libvpx: /\blibvpx\b/.test(encoders),
    },
  };
}

let cached: Promise<FfmpegInfo> | null = null;

/** Where to look, in order: FFMPEG_PATH, PATH, the npm static build. */
function candidates(): Array<{ path: string | null; source: FfmpegSource }> {
  return [
    { path: process.env.FFMPEG_PATH || null, source: 'env' },
    { path: onPath('ffmpeg'), source: 'path' },
    { path: npmBinary(), source: 'npm' },
  ];
}

async function resolveUncached(): Promise<FfmpegInfo> {
  const rejected: FfmpegInfo['rejected'] = [];
  for (const c of candidates()) {
    if (!c.path) continue;
    try {
      return { ...(await probeFfmpeg(c.path, c.source)), rejected };
    } catch (err) {
      rejected.push({ path: c.path, source: c.source, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  throw new FfmpegNotFoundError(rejected);
}

/** Resolves once per process and caches the answer; `refresh` re-probes (e.g. after FFMPEG_PATH changed). */
export function resolveFfmpeg(opts: { refresh?: boolean } = {}): Promise<FfmpegInfo> {
  if (!cached || opts.refresh) {
    cached = resolveUncached();
    // A failed resolution is not cached: the binary may be installed later.
    cached.catch(() => {
      cached = null;
    });
  }
  return cached;
}

/** Like resolveFfmpeg, but null instead of throwing: for tests that skip without ffmpeg. */
export async function findFfmpeg(): Promise<FfmpegInfo | null> {
  try {
    return await resolveFfmpeg();
  } catch {
    return null;
  }
}

/** What a one-off decode needs: the binary, and whether it takes `-fps_mode`. */
export interface FfmpegDecoder {
  path: string;
  version: string;
  source: FfmpegSource;
  fpsMode: boolean;
}

/** `-fps_mode` arrived in ffmpeg 5.1; a build without a release number (a git "N-…" build) is taken as newer. */
export function fpsModeFromVersion(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const major = Number(m[1]);
  return major > 5 || (major === 5 && Number(m[2]) >= 1);
}

let cachedDecoder: Promise<FfmpegDecoder> | null = null;

async function resolveDecoderUncached(): Promise<FfmpegDecoder> {
  const rejected: FfmpegInfo['rejected'] = [];
  for (const c of candidates()) {
    if (!c.path) continue;
    try {
      const m = /ffmpeg version (\S+)/.exec(await run(c.path, ['-hide_banner', '-version']));
      if (!m?.[1]) throw new Error('not an ffmpeg binary (no "ffmpeg version" line)');
      return { path: c.path, version: m[1], source: c.source, fpsMode: fpsModeFromVersion(m[1]) };
    } catch (err) {
      rejected.push({ path: c.path, source: c.source, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  throw new FfmpegNotFoundError(rejected);
}

/**
 * The binary for one-off decodes (`modgate hash` on WebP, GIF, BMP, TIFF and videos), from one `ffmpeg
 * -version` instead of resolveFfmpeg's four probes, whose other answers (showinfo options, encoders) only
 * the samplers and tests use: a `modgate hash` call on a video ran five ffmpeg processes, now two. Reuses
 * resolveFfmpeg's answer when this process already has it; cached like it.
 */
export function resolveFfmpegDecoder(): Promise<FfmpegDecoder> {
  if (cached) return cached.then((i) => ({ path: i.path, version: i.version, source: i.source, fpsMode: i.features.fpsMode }));
  if (!cachedDecoder) {
    cachedDecoder = resolveDecoderUncached();
    cachedDecoder.catch(() => {
      cachedDecoder = null;
    });
  }
  return cachedDecoder;
}
