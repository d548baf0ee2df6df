// Compiles the CLI, the gateway and the ONNX worker into dist/ (run by `npm install` through `prepare`,
// and by the test setup when the sources changed): bin/modgate.js then starts plain JavaScript instead of
// compiling TypeScript through tsx at every call (`modgate --help`: 2.2 s of CPU through tsx; see
// BENCHMARKS.md for the compiled figures).
//
// One esbuild bundle with code splitting: each command's `await import()` stays a separate chunk, loaded
// only when that command runs. Packages stay external (resolved from node_modules at run time, native
// addons included), so dist/ holds only modgate's own code. Files that modules locate at run time
// (models/, policy/default.yaml, console/dist) are found through package/root.ts, not relative to a module.
//
//   node scripts/build-cli.mjs              build
//   node scripts/build-cli.mjs --if-stale   build only when dist/ is missing or older than a source
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BUILD_INFO, DIST, ROOT, distState } from '../bin/dist-state.js';

/** Entry points: dist/cli.js (bin/modgate.js imports its `main`) and the worker pool.ts starts. */
const ENTRIES = { cli: 'gateway/cli/main.ts', 'onnx-worker': 'classifiers/onnx/worker.ts' };

export async function buildCli() {
  const { build } = await import('esbuild');
  // Taken before esbuild reads a file: an edit made during the build leaves dist/ stale, not falsely fresh.
  const startedAt = Date.now();
  mkdirSync(DIST, { recursive: true });
  // Chunk names carry content hashes; old ones would pile up.
  for (const f of readdirSync(DIST)) if (/\.js(\.map)?$/.test(f)) rmSync(path.join(DIST, f), { force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // Linked source maps: NODE_OPTIONS=--enable-source-maps maps stack traces back to the .ts sources.
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    define: { __MODGATE_COMPILED__: 'true' },
    // Chunks that other chunks import keep their module's top-level order; no minification, so stack
    // traces and profiles stay readable.
    minify: false,
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
  inputs.push('scripts/build-cli.mjs', 'bin/dist-state.js');
  const info = { startedAt, entries: Object.keys(ENTRIES).map((e) => `${e}.js`), inputs: inputs.sort() };
  writeFileSync(BUILD_INFO, `${JSON.stringify(info, null, 1)}\n`);
  return info;
}

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const ifStale = process.argv.includes('--if-stale');
  const state = ifStale ? distState() : { fresh: false, reason: 'asked to build' };
  if (state.fresh) process.exit(0);
  const t0 = Date.now();
  const info = await buildCli();
  process.stderr.write(`modgate: built dist/ from ${info.inputs.length} files in ${Date.now() - t0} ms${ifStale ? ` (${state.reason})` : ''}\n`);
}
