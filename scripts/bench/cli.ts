/**
 * CLI start and `modgate hash` per call, same run:
 *
 *   - `modgate --help` and `modgate --version` from the compiled dist/ (what bin/modgate.js runs after
 *     `npm install`), against the same commands through tsx (MODGATE_FROM_SOURCE=1, how every call ran
 *     before dist/) and against `node -e 0` (Node's own start, the floor);
 *   - `modgate hash IMAGE`, one call per image, and one call for all of them, against the in-process
 *     hasher (hashMedia: decode + hash) on the same files.
 *
 * Wall is the median over the runs; CPU (user + system of the child, /proc/self/stat cutime + cstime) the
 * mean, which holds up on a loaded machine where wall does not. Images: test/fixtures/pdq/images (in
 * the repository, so this runs without ../shared), the formats decoded in-process.
 *
 *   node --import tsx scripts/bench/cli.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PdqHasher } from '../../classifiers/pdq.ts';
import { hashMedia } from '../../gateway/media/hash-file.ts';
import { isInProcess, sniffFormat } from '../../gateway/media/image/sniff.ts';
import { distState } from '../../bin/dist-state.js';
import type { BenchResult } from './types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/modgate.js');
const IMAGES = path.join(ROOT, 'test/fixtures/pdq/images');
const CLK_TCK = 100;

function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) / CLK_TCK) * 1000;
}

interface Cost {
  wallMs: number;
  cpuMs: number;
}

function once(args: string[], env: NodeJS.ProcessEnv = {}): Cost {
  const cpu0 = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MODGATE_LOG_LEVEL: 'silent', ...env } });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ').slice(0, 80)} exited ${r.status}: ${r.stderr.toString().slice(-300)}`);
  return { wallMs, cpuMs: childCpuMs() - cpu0 };
}

/** Median wall, mean CPU over `runs` calls (after one warm-up for the file cache). */
function measure(runs: number, args: string[], env: NodeJS.ProcessEnv = {}): Cost {
  once(args, env);
  const costs = Array.from({ length: runs }, () => once(args, env));
  const walls = costs.map((c) => c.wallMs).sort((a, b) => a - b);
  return { wallMs: walls[Math.floor(walls.length / 2)] ?? 0, cpuMs: costs.reduce((s, c) => s + c.cpuMs, 0) / costs.length };
}

const f0 = (v: number) => v.toFixed(0);

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  // Measure what `npm install` leaves: dist/ current with the sources.
  spawnSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  const state = distState();
  if (!state.fresh) throw new Error(`dist/ is not usable (${state.reason})`);
  const runs = opts.quick ? 5 : 15;
  const tsxRuns = opts.quick ? 2 : 5;
  const out: BenchResult[] = [];

  const node = measure(runs, ['-e', '0']);
  for (const command of ['--help', '--version']) {
    const compiled = measure(runs, [BIN, command]);
    const tsx = measure(tsxRuns, [BIN, command], { MODGATE_FROM_SOURCE: '1' });
    out.push({
      name: `\`modgate ${command}\` wall (compiled dist/)`,
      unit: 'ms',
      value: compiled.wallMs,
      baseline: { name: 'same command through tsx', value: tsx.wallMs },
      note: `median of ${runs}; \`node -e 0\` ${f0(node.wallMs)} ms; target ≤ 300 ms on an idle machine`,
    });
    out.push({
      name: `\`modgate ${command}\` CPU (compiled dist/)`,
      unit: 'ms CPU',
      value: compiled.cpuMs,
      baseline: { name: 'same command through tsx', value: tsx.cpuMs },
      note: `\`node -e 0\` ${f0(node.cpuMs)} ms CPU`,
    });
  }

  const files = readdirSync(IMAGES)
    .sort()
    .map((n) => path.join(IMAGES, n))
    .filter((f) => isInProcess(sniffFormat(readFileSync(f).subarray(0, 16))));
  const hasher = new PdqHasher();
  for (const f of files) await hashMedia(f, { hasher });
  const rounds = opts.quick ? 3 : 10;
  const u0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) for (const f of files) await hashMedia(f, { hasher });
  const u1 = process.cpuUsage(u0);
  const inProcessMs = (u1.user + u1.system) / 1000 / (rounds * files.length);

  const perCallRuns = opts.quick ? 1 : 3;
  let wall = 0;
  let cpu = 0;
  for (const f of files) {
    const c = measure(perCallRuns, [BIN, 'hash', f]);
    wall += c.wallMs;
    cpu += c.cpuMs;
  }
  out.push({
    name: `\`modgate hash IMAGE\`, one call per image, CPU`,
    unit: 'ms CPU/image',
    value: cpu / files.length,
    baseline: { name: 'in-process decode + hash', value: inProcessMs },
    note: `wall ${f0(wall / files.length)} ms/call (median of ${perCallRuns} per image); ${files.length} images from test/fixtures/pdq/images; process start dominates`,
  });
  const batch = measure(perCallRuns, [BIN, 'hash', ...files]);
  out.push({
    name: `\`modgate hash\` one call for all ${files.length} images, CPU`,
    unit: 'ms CPU/image',
    value: batch.cpuMs / files.length,
    baseline: { name: 'in-process decode + hash', value: inProcessMs },
    note: `wall ${f0(batch.wallMs / files.length)} ms/image; one process start shared by ${files.length} images`,
  });
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run({ quick: process.argv.includes('--quick') })) {
    const ratio = r.baseline && r.baseline.value ? ` (${(r.value / r.baseline.value).toFixed(2)}x ${r.baseline.name}: ${r.baseline.value.toFixed(1)})` : '';
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit}${ratio}${r.note ? ` — ${r.note}` : ''}`);
  }
}
