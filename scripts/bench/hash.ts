/**
 * `modgate hash` per image, against the in-process hasher on the same pixels and, when
 * MODGATE_BENCH_PDQ_REF names a build of Meta's pdq-photo-hasher (pdq/cpp; how to build it:
 * test/fixtures/pdq/reference.json), against that binary in the same run:
 *
 *   - in-process: CPU ms per image of decode + hash (hashMedia) vs the hasher alone on decoded pixels;
 *   - one call for many images (`modgate hash a b c …`): the process's wall and CPU per image;
 *   - one call per image: the whole process (start-up included) per image;
 *   on the shared sample images (skipped when ../shared is absent) and on large JPEGs made here.
 * Child CPU comes from /proc/self/stat (cutime + cstime of waited-for children).
 *
 *   MODGATE_BENCH_PDQ_REF=/path/to/pdq-photo-hasher node --import tsx scripts/bench/hash.ts [--quick]
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PdqHasher } from '../../classifiers/pdq.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { hashMedia, hashRaster } from '../../gateway/media/hash-file.ts';
import { decodeImage } from '../../gateway/media/image/decode.ts';
import { isInProcess, sniffFormat } from '../../gateway/media/image/sniff.ts';
import type { BenchResult } from './types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = path.resolve(ROOT, '../shared/pdq-vectors/images');
const CLK_TCK = 100;

function childCpuMs(): number {
  // Fields after the command name: state is field 3; cutime and cstime are fields 16 and 17.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) / CLK_TCK) * 1000;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = path.join(dir, n);
      return statSync(p).isDirectory() ? listFiles(p) : [p];
    });
}

interface ProcessCost {
  wallMs: number;
  cpuMs: number;
}

function runProcess(cmd: string, args: string[]): ProcessCost {
  const cpu0 = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MODGATE_LOG_LEVEL: 'silent' } });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')}… exited ${r.status}: ${r.stderr.toString().slice(-300)}`);
  return { wallMs, cpuMs: childCpuMs() - cpu0 };
}

const modgate = (files: string[]) => runProcess(process.execPath, [path.join(ROOT, 'bin/modgate.js'), 'hash', ...files]);

/** Per-image cost of one call per image, over `files` (each run once). */
function perProcess(run: (files: string[]) => ProcessCost, files: string[]): ProcessCost {
  let wallMs = 0;
  let cpuMs = 0;
  for (const f of files) {
    const c = run([f]);
    wallMs += c.wallMs;
    cpuMs += c.cpuMs;
  }
  return { wallMs: wallMs / files.length, cpuMs: cpuMs / files.length };
}

function perImage(c: ProcessCost, n: number): ProcessCost {
  return { wallMs: c.wallMs / n, cpuMs: c.cpuMs / n };
}

/** CPU ms per image in this process: decode + hash, and the hasher alone on the decoded pixels. */
async function inProcess(files: string[], rounds: number): Promise<{ full: number; hasherOnly: number; decodeOnly: number }> {
  const hasher = new PdqHasher();
  const rasters = files.map((f) => {
    const bytes = readFileSync(f);
    const format = sniffFormat(bytes);
    if (!isInProcess(format)) throw new Error(`${f}: not decoded in-process`);
    return decodeImage(format, bytes);
  });
  for (const f of files) await hashMedia(f, { hasher }); // warm-up
  let t = selfCpuMs();
  for (let r = 0; r < rounds; r++) for (const f of files) await hashMedia(f, { hasher });
  const full = (selfCpuMs() - t) / (rounds * files.length);
  t = selfCpuMs();
  for (let r = 0; r < rounds; r++) for (const raster of rasters) hashRaster(raster, hasher);
  const hasherOnly = (selfCpuMs() - t) / (rounds * files.length);
  t = selfCpuMs();
  for (let r = 0; r < rounds; r++)
    for (const f of files) {
      const bytes = readFileSync(f);
      decodeImage(sniffFormat(bytes) as 'jpeg', bytes);
    }
  const decodeOnly = (selfCpuMs() - t) / (rounds * files.length);
  return { full, hasherOnly, decodeOnly };
}

const f1 = (v: number) => v.toFixed(1);

async function suite(label: string, files: string[], refFiles: string[], opts: { quick: boolean; perProcessCount: number }): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const ref = process.env.MODGATE_BENCH_PDQ_REF;
  const n = files.length;
  const ip = await inProcess(files, opts.quick ? 1 : 3);
  out.push({
    name: `hash ${label}: in-process decode + hash`,
    unit: 'ms CPU/image',
    value: ip.full,
    baseline: { name: 'in-process hasher on the decoded pixels', value: ip.hasherOnly },
    note: `decode alone ${f1(ip.decodeOnly)} ms; ${n} images`,
  });
  const batch = perImage(modgate(files), n);
  const refBatch = ref ? perImage(runProcess(ref, refFiles), refFiles.length) : null;
  out.push({
    name: `hash ${label}: one \`modgate hash\` call for all ${n}, CPU`,
    unit: 'ms CPU/image',
    value: batch.cpuMs,
    baseline: refBatch
      ? { name: `pdq-photo-hasher, one call for ${refFiles.length}`, value: refBatch.cpuMs }
      : { name: 'in-process decode + hash', value: ip.full },
    note: `wall ${f1(batch.wallMs)} ms/image${refBatch ? ` (reference ${f1(refBatch.wallMs)})` : ''}; includes one process start`,
  });
  const some = files.slice(0, opts.perProcessCount);
  const each = perProcess(modgate, some);
  const refEach = ref ? perProcess((f) => runProcess(ref, f), refFiles.slice(0, opts.perProcessCount)) : null;
  out.push({
    name: `hash ${label}: one \`modgate hash\` call per image, CPU`,
    unit: 'ms CPU/image',
    value: each.cpuMs,
    baseline: refEach ? { name: 'pdq-photo-hasher, one call per image', value: refEach.cpuMs } : { name: 'in-process decode + hash', value: ip.full },
    note: `wall ${f1(each.wallMs)} ms/call${refEach ? ` (reference ${f1(refEach.wallMs)})` : ''}; ${some.length} calls: process start dominates`,
  });
  return out;
}

/** Large JPEGs (12 MP and 1080p photos-like frames from ffmpeg's mandelbrot source). */
async function largeJpegs(dir: string): Promise<string[] | null> {
  const ff = await findFfmpeg();
  if (!ff) return null;
  const files: string[] = [];
  for (const [w, h] of [
    [1920, 1080],
    [4000, 3000],
    [3024, 4032],
  ] as const) {
    const file = path.join(dir, `large-${w}x${h}.jpg`);
    await promisify(execFile)(ff.path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `mandelbrot=s=${w}x${h}:start_scale=1.5:inner=period`,
      '-frames:v',
      '1',
      '-q:v',
      '3',
      '-pix_fmt',
      'yuvj420p',
      '-y',
      file,
    ]);
    files.push(file);
  }
  return files;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const perProcessCount = opts.quick ? 3 : 8;
  if (existsSync(SHARED)) {
    // In-process formats only, so that both sides decode every file; the reference stops at the first
    // file it refuses (alpha, CMYK), so it gets the ones it hashes.
    const all = listFiles(SHARED).filter((f) => isInProcess(sniffFormat(readFileSync(f).subarray(0, 16))) && !f.endsWith('CMYK.jpg'));
    const refOk = all.filter((f) => !/(c|pen-and-coaster|LA)\.png$/.test(f));
    results.push(...(await suite('shared sample images', all, refOk, { quick: opts.quick, perProcessCount })));
  } else {
    results.push({ name: 'hash shared sample images', unit: 'skipped', value: 0, note: `${SHARED} not found` });
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-bench-hash-'));
  try {
    const large = await largeJpegs(dir);
    if (large) results.push(...(await suite('large JPEGs (1080p, 12 MP)', large, large, { quick: opts.quick, perProcessCount: large.length })));
    else results.push({ name: 'hash large JPEGs', unit: 'skipped', value: 0, note: 'no ffmpeg to make them' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!process.env.MODGATE_BENCH_PDQ_REF)
    results.push({ name: 'hash vs reference binary', unit: 'skipped', value: 0, note: 'set MODGATE_BENCH_PDQ_REF=/path/to/pdq-photo-hasher' });
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run({ quick: process.argv.includes('--quick') })) {
    const ratio = r.baseline && r.baseline.value ? ` (${(r.value / r.baseline.value).toFixed(2)}x ${r.baseline.name}: ${r.baseline.value.toFixed(1)})` : '';
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit}${ratio}${r.note ? ` — ${r.note}` : ''}`);
  }
}
