/**
 * PDQ hashing throughput on one core: 1280×720 and 512×288 RGB frames, with and without the dihedral
 * hashes and the 512×512 pre-resize, against the straight full-buffer reference pipeline in the same run.
 * Times are CPU time of this single-threaded process, i.e. per core. Standalone:
 * `node --import tsx scripts/bench/pdq.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { PdqHasher, lumaFromRgb, pdqReferenceFromLuma } from '../../classifiers/pdq.ts';
import type { BenchResult } from './types.ts';

/** Frame with scene-like structure (smooth gradients plus texture) so the DCT is not degenerate. */
function syntheticFrame(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = 128 + 60 * Math.sin((x * 9) / width + (y * 5) / height) + 40 * Math.cos((x * y * 40) / (width * height));
      const p = (y * width + x) * 3;
      rgb[p] = v;
      rgb[p + 1] = 255 - v;
      rgb[p + 2] = (x * 255) / width;
    }
  }
  return rgb;
}

/** Milliseconds of this process's CPU time (user + system): per-core cost, robust to other load on the box. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Mean CPU ms per call after warm-up, over at least `minMs` of CPU time. */
function msPerCall(fn: () => void, minMs: number): number {
  for (let i = 0; i < 10; i++) fn();
  let calls = 0;
  const start = cpuMs();
  let elapsed = 0;
  while (elapsed < minMs || calls < 5) {
    fn();
    calls++;
    elapsed = cpuMs() - start;
  }
  return elapsed / calls;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const minMs = opts.quick ? 300 : 2000;
  const results: BenchResult[] = [];
  const hasher = new PdqHasher();
  for (const [width, height] of [
    [1280, 720],
    [512, 288],
  ] as const) {
    const rgb = syntheticFrame(width, height);
    const size = `${width}x${height}`;
    // Baseline: the reference pipeline as written (full-size buffers, 4 box passes, allocation per call),
    // including the luma conversion it needs.
    const naiveMs = msPerCall(() => pdqReferenceFromLuma(lumaFromRgb(rgb, width, height), width, height), minMs);
    const baseline = { name: 'straight reference pipeline (full-buffer Jarosz passes)', value: 1000 / naiveMs };
    const plainMs = msPerCall(() => hasher.fromRgb(rgb, width, height), minMs);
    results.push({
      name: `pdq ${size} RGB`,
      unit: 'hashes/s/core',
      value: 1000 / plainMs,
      baseline,
      note: `${plainMs.toFixed(2)} ms/frame (straight port ${naiveMs.toFixed(1)} ms; C++ reference per docs/pdq.md: 15.5 ms full-res 1280x720, 3.7 ms <= 512 px)`,
    });
    const dihMs = msPerCall(() => hasher.fromRgb(rgb, width, height, { dihedral: true }), minMs);
    results.push({ name: `pdq ${size} RGB + 8 dihedral`, unit: 'hashes/s/core', value: 1000 / dihMs, baseline, note: `${dihMs.toFixed(2)} ms/frame` });
    if (width > 512) {
      const rsMs = msPerCall(() => hasher.fromRgb(rgb, width, height, { preResize512: true }), minMs);
      results.push({
        name: `pdq ${size} RGB, 512x512 pre-resize`,
        unit: 'hashes/s/core',
        value: 1000 / rsMs,
        baseline,
        note: `${rsMs.toFixed(2)} ms/frame (C++ reference with pre-resize: 6.3 ms)`,
      });
    }
  }
  return results;
}

function printTable(results: BenchResult[]): void {
  console.table(
    results.map((r) => ({
      name: r.name,
      value: `${r.value.toFixed(1)} ${r.unit}`,
      baseline: r.baseline ? `${r.baseline.value.toFixed(1)} (${r.baseline.name})` : '',
      speedup: r.baseline ? `${(r.value / r.baseline.value).toFixed(1)}x` : '',
      note: r.note ?? '',
    })),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
