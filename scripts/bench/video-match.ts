/**
 * The per-frame cost of live video matching (classifiers/vpdq): one live frame's whole-frame hash looked
 * up among the frames of every banked video (VideoBankIndex, multi-index at distance 31) and pushed into
 * its stream's rolling window (VideoWindows), against banks of 1,000 videos × 10 minutes at vPDQ's 1 hash a
 * second (600,000 frame hashes). The PDQ hash itself is not counted: the hash matcher computes it anyway.
 * Baseline in the same run: vPDQ's brute-force matcher applied per frame (vpdq_brute_matcher.py
 * match_VPDQ_in_another: the frame against every frame of every video, full Hamming distance each). CPU time
 * of this process, median per frame over batches; frames are half unrelated, half near copies of banked
 * frames (20 bits off), spread over 100 streams. Standalone: `node --import tsx scripts/bench/video-match.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import type { BankEntryRecord, BankSettings, BankStore } from '../../classifiers/bank-store.ts';
import { hamming, toHex, type PdqHash } from '../../classifiers/pdq.ts';
import { VideoBankIndex } from '../../classifiers/vpdq/bank-index.ts';
import { serializeVpdqFrames } from '../../classifiers/vpdq/frames.ts';
import { VideoWindows } from '../../classifiers/vpdq/window.ts';
import type { BenchResult } from './types.ts';
import { cpuMs, median, xorshift } from './kit.ts';

/** A read-only store of one bank, as the index reads the database's. */
function storeOf(entries: BankEntryRecord[]): BankStore {
  const bank: BankSettings = { name: 'videos', enabled: true, radius: 31 };
  return {
    revision: async () => 1,
    banks: async () => [bank],
    bank: async () => bank,
    entries: async function* () {
      yield entries;
    },
    changesSince: async (from) => ({ revision: from, reload: [], upserts: [], tombstones: [], more: false }),
  };
}

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const videos = o.quick ? 200 : 1_000;
  const perVideo = 600; // 10 minutes at vPDQ's 1 hash a second
  const next = xorshift(7);
  const banked: PdqHash[][] = [];
  const entries: BankEntryRecord[] = [];
  for (let v = 0; v < videos; v++) {
    const frames = Array.from({ length: perVideo }, () => Uint32Array.from({ length: 8 }, next));
    banked.push(frames);
    entries.push({
      id: `bke_v${v}`,
      bank: 'videos',
      signalType: 'vpdq',
      hash: `vpdq:${v}`,
      category: 'terrorist-violent-extremism',
      severity: 'critical',
      frames: serializeVpdqFrames(frames.map((h, i) => ({ hash: toHex(h), quality: 90, timestampSec: i }))),
    });
  }
  const index = new VideoBankIndex(storeOf(entries));
  const t0 = cpuMs();
  await index.loadAll();
  const loadMs = cpuMs() - t0;
  const windows = new VideoWindows();
  const frames = o.quick ? 2_000 : 10_000;
  const queries: PdqHash[] = [];
  for (let q = 0; q < frames; q++) {
    if (q % 2 === 0) queries.push(Uint32Array.from({ length: 8 }, next));
    else {
      const src = banked[next() % videos]![next() % perVideo]!.slice();
      for (let f = 0; f < 20; f++) {
        const w = next() % 8;
        src[w] = (src[w]! ^ (1 << (next() % 32))) >>> 0;
      }
      queries.push(src);
    }
  }
  const keys = queries.map(toHex);
  const BATCH = 500;
  const ours: number[] = [];
  let matchedFrames = 0;
  for (let b = 0; b < frames; b += BATCH) {
    const t = cpuMs();
    for (let q = b; q < Math.min(b + BATCH, frames); q++) {
      const hits = index.match(queries[q]!, 32);
      if (hits.length > 0) matchedFrames++;
      windows.push(
        `s${q % 100}`,
        Math.floor(q / 100) * 100,
        keys[q]!,
        hits.map((h) => h.entryId),
      );
    }
    ours.push((cpuMs() - t) / Math.min(BATCH, frames - b));
  }
  // Baseline: the brute force per frame, on a sample (it is ~10^4 times slower).
  const sample = o.quick ? 20 : 50;
  const base: number[] = [];
  let agree = true;
  for (let q = 0; q < sample; q++) {
    const query = queries[q]!;
    const t = cpuMs();
    const found: string[] = [];
    banked.forEach((fs, v) => {
      if (fs.some((f) => hamming(f, query) <= 31)) found.push(`bke_v${v}`);
    });
    base.push(cpuMs() - t);
    agree &&=
      found.sort().join() ===
      index
        .match(query, 1_000)
        .map((h) => h.entryId)
        .sort()
        .join();
  }
  return [
    {
      name: `video matching per live frame: ${videos.toLocaleString('en')} banked videos × 10 min (${index.size.toLocaleString('en')} frame hashes), lookup + rolling window`,
      unit: 'µs CPU per frame (median of batches)',
      value: median(ours) * 1000,
      baseline: { name: "vPDQ's brute-force matcher per frame (every banked frame, full Hamming)", value: median(base) * 1000 },
      note: `same entries found by both on ${sample} frames: ${agree}; ${matchedFrames} of ${frames} frames matched a video; index load ${Math.round(loadMs)} ms CPU`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run({ quick: process.argv.includes('--quick') })) console.log(JSON.stringify(r));
}
