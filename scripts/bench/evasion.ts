/**
 * Evasion benchmark (issue 12): the evasion set (test/fixtures/evasion) re-streamed through a real gateway.
 *
 *   npm run bench -- evasion            # 8 pictures × 13 transforms, 8 benign photos + 1 clip
 *   npm run bench -- --quick evasion    # 2 pictures per transform
 *
 * Per transform: cut rate, time to cut p50/p95 (picture on screen → the gateway's cut decision), which
 * regions matched; on benign material: frames checked and matches (any match is a false match). Then the
 * added per-frame cost of region hashing, in process, on sampled frames of the set, against the whole-frame
 * hash alone (the gateway before issue 12) measured in the same run.
 *
 * Load: streams are rendered to FLV first, then published 3 at a time with `-re -c copy`; the gateway runs
 * the default policy with hash matching only (no ONNX model: the cuts are bank matches, and the model's CPU
 * would only slow the 2-core host). Time to cut counts from the publisher's start + the picture's appearance
 * time in the stream, so ffmpeg's own start-up (~50–100 ms) counts against the gateway.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegionHasher } from '../../classifiers/region-hashes.ts';
import { findInnerRect } from '../../classifiers/regions.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { resolveFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import {
  bankedPictures,
  benignClips,
  benignPictures,
  findCaptionFont,
  renderArgs,
  TRANSFORM_CLASS,
  TRANSFORMS,
  type TransformId,
} from '../../test/fixtures/evasion/transforms.ts';
import { bankPictures, publishFile, renderStream, watchOutcomes, type StreamOutcome } from '../../test/pipeline/evasion-harness.ts';
import type { BenchResult } from './types.ts';

const APPEAR_SEC = 2;
const PARALLEL = 3;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function startBenchGateway(dir: string): Promise<Gateway> {
  const config = ConfigSchema.parse({
    dataDir: dir,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 500,
    classifiers: { models: [] },
  });
  return startGateway(config, { log: createLogger('silent') });
}

let seq = 0;
async function account(gw: Gateway, handle: string): Promise<string> {
  await addAccount(gw.store.db, { id: 'bench' }, { handle, verified: true, subject: `person-${handle}-${seq++}` });
  const key = (await issueKey(gw.store.db, { id: 'bench' }, handle)).key;
  await gw.gate.refresh();
  return key;
}

interface Job {
  handle: string;
  transform: TransformId | 'benign';
  render: () => Promise<string>;
}

/** Sampled frames of the set as the gateway sees them (512×288, letterboxed by the sampler's scale+pad). */
function sampledFrames(ffmpegPath: string, dir: string, font: string | null, n: number): Array<{ rgb: Uint8Array; width: number; height: number }> {
  const vf = 'scale=512:288:force_original_aspect_ratio=decrease:flags=area,format=rgb24,pad=512:288:(ow-iw)/2:(oh-ih)/2:black';
  const pics = bankedPictures();
  const bg = benignPictures();
  const out: Array<{ rgb: Uint8Array; width: number; height: number }> = [];
  for (let i = 0; i < n; i++) {
    const t = TRANSFORMS[i % TRANSFORMS.length]!;
    const png = path.join(dir, `frame-${i}.png`);
    execFileSync(ffmpegPath, renderArgs(t, { picture: pics[i % pics.length]!, background: bg[i % bg.length]!, file: png, fontFile: font }));
    const rgb = execFileSync(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-i', png, '-vf', vf, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
      maxBuffer: 1 << 24,
    });
    out.push({ rgb, width: 512, height: 288 });
  }
  return out;
}

function msPerFrame(
  frames: ReadonlyArray<{ rgb: Uint8Array; width: number; height: number }>,
  fn: (f: { rgb: Uint8Array; width: number; height: number }) => unknown,
  minMs: number,
): number {
  for (const f of frames) fn(f); // warm-up (JIT, kernel caches)
  let calls = 0;
  const start = performance.now();
  do {
    for (const f of frames) fn(f);
    calls += frames.length;
  } while (performance.now() - start < minMs);
  return (performance.now() - start) / calls;
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const ffmpeg = await resolveFfmpeg();
  const font = await findCaptionFont();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-bench-evasion-'));
  const results: BenchResult[] = [];
  try {
    // ---- per-frame cost, in process
    const frames = sampledFrames(ffmpeg.path, dir, font, opts.quick ? 13 : 26);
    const rh = new RegionHasher();
    const minMs = opts.quick ? 500 : 2000;
    const whole = msPerFrame(frames, (f) => rh.hash(f, { x: 0, y: 0, w: f.width, h: f.height }, true, 'full'), minMs);
    const shape = msPerFrame(frames, (f) => rh.live(f, { tiles: false, inner: false, dihedral: true }), minMs);
    const tiles = msPerFrame(frames, (f) => rh.live(f, { tiles: true, inner: false, dihedral: true }), minMs);
    const all = msPerFrame(frames, (f) => rh.live(f, { tiles: true, inner: true, dihedral: true }), minMs);
    const inner = msPerFrame(frames, (f) => findInnerRect(f), minMs);
    const base = { name: 'whole-frame PDQ + 8 dihedral (before issue 12)', value: whole };
    results.push({ name: 'hash per frame: whole + trimmed (every sampled frame)', unit: 'ms/frame', value: shape, baseline: base });
    results.push({ name: 'hash per frame: + 8 tiles and bands', unit: 'ms/frame', value: tiles, baseline: base });
    results.push({
      name: 'hash per frame: + PiP detection and inset (the region frames, 2 fps)',
      unit: 'ms/frame',
      value: all,
      baseline: base,
      note: `PiP detector alone ${inner.toFixed(2)} ms; at 10 fps whole+trimmed and 2 fps regions: ${(10 * shape + 2 * (all - shape)).toFixed(1)} ms of CPU per stream-second`,
    });

    // ---- end to end
    const gw = await startBenchGateway(path.join(dir, 'gw'));
    const watch = watchOutcomes(gw);
    try {
      const pictures = bankedPictures();
      await bankPictures(gw, pictures);
      const benign = benignPictures();
      const perTransform = opts.quick ? 2 : pictures.length;
      const jobs: Job[] = [];
      for (const t of TRANSFORMS) {
        for (let i = 0; i < perTransform; i++) {
          const handle = `ev-${t}-${i}`;
          jobs.push({
            handle,
            transform: t,
            render: () =>
              renderStream(ffmpeg.path, t, {
                picture: pictures[i]!,
                background: benign[(i + 3) % benign.length]!,
                file: path.join(dir, `${handle}.flv`),
                appearSec: APPEAR_SEC,
                durationSec: APPEAR_SEC + 8,
                fontFile: font,
              }),
          });
        }
      }
      benign.forEach((b, i) =>
        jobs.push({
          handle: `bn-${i}`,
          transform: 'benign',
          render: () =>
            renderStream(ffmpeg.path, 'reencode', {
              picture: b,
              background: b,
              file: path.join(dir, `bn-${i}.flv`),
              appearSec: 0,
              durationSec: 10,
              fontFile: null,
            }),
        }),
      );
      benignClips().forEach((c, i) => jobs.push({ handle: `bc-${i}`, transform: 'benign', render: async () => c }));
      const outcomes: Array<StreamOutcome & { transform: Job['transform'] }> = [];
      // Frames delivered per stream, read while the stream is live (the watcher forgets a stream at its end).
      const framesSeen = new Map<string, number>();
      const poll = setInterval(() => {
        for (const s of gw.registry.list()) framesSeen.set(s.id, Math.max(framesSeen.get(s.id) ?? 0, gw.watcher?.stats(s.id)?.framesEmitted ?? 0));
      }, 250);
      const queue = [...jobs];
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          for (let job = queue.shift(); job; job = queue.shift()) {
            const file = await job.render();
            const key = await account(gw, job.handle);
            outcomes.push({ ...(await publishFile(gw, ffmpeg.path, key, job.handle, file, watch, 60_000)), transform: job.transform });
          }
        }),
      );
      clearInterval(poll);
      let shapeCut = 0;
      let shapeN = 0;
      let regionCut = 0;
      let regionN = 0;
      for (const t of TRANSFORMS) {
        const runs = outcomes.filter((o) => o.transform === t);
        const cut = runs.filter((o) => o.cutAt !== null);
        const ttc = cut.map((o) => o.cutAt! - (o.startedAt + APPEAR_SEC * 1000));
        const early = ttc.filter((x) => x < 0).length;
        const regions = new Map<string, number>();
        for (const o of cut) {
          const m = o.matches[0];
          if (m) regions.set(`${m.region}→${m.entryRegion}`, (regions.get(`${m.region}→${m.entryRegion}`) ?? 0) + 1);
        }
        if (TRANSFORM_CLASS[t] === 'shape') {
          shapeCut += cut.length;
          shapeN += runs.length;
        } else if (TRANSFORM_CLASS[t] === 'region') {
          regionCut += cut.length;
          regionN += runs.length;
        }
        const target = TRANSFORM_CLASS[t] === 'shape' ? 'target ≥ 99 %' : TRANSFORM_CLASS[t] === 'region' ? 'target ≥ 90 %' : 'measured, no target';
        results.push({
          name: `cut rate: ${t}`,
          unit: '%',
          value: runs.length ? (100 * cut.length) / runs.length : NaN,
          note: `${cut.length}/${runs.length} (${target}); first match region→entry region: ${[...regions].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}${early ? `; ${early} cut BEFORE the picture appeared` : ''}`,
        });
        if (ttc.length)
          results.push({
            name: `time to cut p50 / p95: ${t}`,
            unit: 'ms',
            value: Math.round(percentile(ttc, 50)),
            note: `p95 ${Math.round(percentile(ttc, 95))} ms over ${ttc.length} cuts`,
          });
      }
      results.push({
        name: 'cut rate: the first nine classes together',
        unit: '%',
        value: (100 * shapeCut) / shapeN,
        note: `${shapeCut}/${shapeN}, target ≥ 99 %`,
      });
      results.push({
        name: 'cut rate: crop, caption, picture-in-picture together',
        unit: '%',
        value: (100 * regionCut) / regionN,
        note: `${regionCut}/${regionN}, target ≥ 90 %`,
      });
      const benignRuns = outcomes.filter((o) => o.transform === 'benign');
      const falseCuts = benignRuns.filter((o) => o.cutAt !== null).length;
      const falseMatches = benignRuns.reduce((n, o) => n + o.matches.length, 0);
      const framesChecked = benignRuns.reduce((n, o) => n + (framesSeen.get(o.streamId ?? '') ?? 0), 0);
      results.push({
        name: 'false cuts on benign streams',
        unit: 'streams',
        value: falseCuts,
        note: `${benignRuns.length} benign streams (8 real photos, 1 real clip), ${falseMatches} matching signals; target 0`,
      });
      results.push({
        name: 'benign frames checked',
        unit: 'frames',
        value: framesChecked,
        note: 'frames the sampler delivered to matching on the benign streams (each hashed whole, trimmed and, at 2 fps, in tiles and PiP)',
      });
    } finally {
      watch.close();
      await gw.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
