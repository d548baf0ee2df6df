/**
 * Crisis mode's retroactive scan (classifiers/recent-hashes.ts): one newly banked hash against the recent
 * frame hashes of 1,000 streams × 10 minutes. Kept at the default rate of 2 hashes a second per stream
 * (a calm keyframe-mode stream keeps 0.5, a full-rate one is merged down to 2 unless its scenes change),
 * that is 1.2 M hashes. Baseline in the same run: a naive scan of the same hashes held as one object per
 * frame, full Hamming distance each (classifiers/pdq.ts `hamming`). CPU time of this process per scan,
 * median of the queries (half no match, half a near copy of a kept frame). Standalone:
 * `node --import tsx scripts/bench/retro-scan.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { hamming, type PdqHash } from '../../classifiers/pdq.ts';
import { RecentHashes } from '../../classifiers/recent-hashes.ts';
import type { BenchResult } from './types.ts';
import { cpuMs, median, xorshift } from './kit.ts';

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const streams = o.quick ? 200 : 1_000;
  const perStream = 2 * 600; // 10 minutes at 2 a second
  const next = xorshift(42);
  const now = 1_700_000_000_000;
  const recent = new RecentHashes({ windowMs: 600_000, maxPerStream: perStream, minIntervalMs: 0 });
  const naive: Array<{ streamId: string; frames: Array<{ hash: PdqHash; at: number }> }> = [];
  for (let s = 0; s < streams; s++) {
    const frames: Array<{ hash: PdqHash; at: number }> = [];
    for (let i = 0; i < perStream; i++) {
      const hash = Uint32Array.from({ length: 8 }, next);
      const at = now - 600_000 + i * 500;
      recent.record(`s${s}`, hash, 90, at, i * 500);
      frames.push({ hash, at });
    }
    naive.push({ streamId: `s${s}`, frames });
  }
  const queries: PdqHash[] = [];
  for (let q = 0; q < 20; q++) {
    if (q % 2 === 0) queries.push(Uint32Array.from({ length: 8 }, next));
    else {
      const src = naive[next() % streams]!.frames[next() % perStream]!.hash.slice();
      for (let f = 0; f < 20; f++) {
        const w = next() % 8;
        src[w] = (src[w]! ^ (1 << (next() % 32))) >>> 0;
      }
      queries.push(src);
    }
  }
  const ours: number[] = [];
  const base: number[] = [];
  let agree = true;
  for (const q of queries) {
    let t = cpuMs();
    const hits = recent.scan(q, 31, now);
    ours.push(cpuMs() - t);
    t = cpuMs();
    const found: string[] = [];
    for (const s of naive) {
      let best = 32;
      for (const f of s.frames) if (f.at >= now - 600_000) best = Math.min(best, hamming(f.hash, q));
      if (best <= 31) found.push(s.streamId);
    }
    base.push(cpuMs() - t);
    agree &&=
      found.sort().join() ===
      hits
        .map((h) => h.streamId)
        .sort()
        .join();
  }
  const entries = recent.size();
  return [
    {
      name: `retroactive scan: ${streams} streams × 10 min (${entries.toLocaleString('en')} hashes) against one new hash`,
      unit: 'ms CPU (median of 20)',
      value: median(ours),
      baseline: { name: 'naive scan, one object per frame, full Hamming each', value: median(base) },
      note: `same streams found by both: ${agree}; ring memory ~${Math.round((entries * 57) / 2 ** 20)} MiB`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run({ quick: process.argv.includes('--quick') })) console.log(JSON.stringify(r));
}
