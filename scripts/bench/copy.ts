/**
 * Copy descriptor benchmark (issue 12 item 3), offline on stills — no gateway:
 *
 *   npm run bench -- copy            # needs the benign pictures (scripts/copy/images.ts) for the large calibration
 *
 * 1. Calibration: the benign nearest-neighbour similarity distribution — every held-out benign picture
 *    (Debian photos never used in the whitening fit, plus the evasion set's benign photos and frames of its
 *    clip; two views each: whole and 16:9 centre crop) against (a) the evasion bank (8 pictures × their copy
 *    views) and (b) a large bank of other real pictures (the fit pictures' views): p50/p99/max, and the
 *    false-match rate at the policy threshold.
 * 2. Evasions: each banked picture under every transform (test/fixtures/evasion/transforms.ts, one rendered
 *    frame, area-scaled to the sampler's 512-wide frame), its similarity to its own bank entry and whether
 *    it is the top-1 of the whole bank; the share at or above the threshold per transform.
 * 3. Cost: whitening per frame, and the exact index scan at 10^4 and 10^5 entries against a plain
 *    (unrolled-free) scan measured in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { COPY_VIEWS, ModelCopyDescriber } from '../../classifiers/copy/describer.ts';
import { OfflineEmbedder } from '../../classifiers/copy/embedder.ts';
import { CopyIndex } from '../../classifiers/copy/index.ts';
import { DEFAULT_COPY_MATCHER, liveCopyViews } from '../../classifiers/copy/matcher.ts';
import { hamming, PDQ_MATCH_DISTANCE, pdqFromRgb } from '../../classifiers/pdq.ts';
import { cropImage } from '../../classifiers/regions.ts';
import { areaScale, centreAspect, cropFraction, type Picture } from '../../classifiers/copy/picture.ts';
import { l2normalise, parseDescriptorText, Whitening } from '../../classifiers/copy/whitening.ts';
import { readImage } from '../../classifiers/onnx/image-io.ts';
import { loadManifest } from '../../classifiers/onnx/manifest.ts';
import { resolveFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { BUILTIN_WHITENING } from '../../gateway/pipeline/copy-descriptor.ts';
import { packagePath } from '../../package/root.ts';
import { loadPolicy } from '../../policy/load.ts';
import {
  bankedPictures,
  benignClips,
  benignPictures,
  findCaptionFont,
  renderArgs,
  TRANSFORMS,
  type TransformId,
} from '../../test/fixtures/evasion/transforms.ts';
import { benignSplit } from '../copy/images.ts';
import type { BenchResult } from './types.ts';

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The copy_match threshold of the shipped policy (its lowest minScore on a cutting copy_match rule). */
async function policyThreshold(): Promise<number> {
  const r = loadPolicy(await readFile(packagePath('policy', 'default.yaml'), 'utf8'));
  if (!r.ok) throw new Error('the default policy does not load');
  const p = r.policy;
  const scores = p.rules.filter((r) => r.match.source === 'copy_match' && r.actions.cut && r.match.minScore !== undefined).map((r) => r.match.minScore!);
  if (scores.length === 0) throw new Error('the default policy has no cutting copy_match rule');
  return Math.min(...scores);
}

/** A benchmark picture with the file (and view) it came from, so a match can be named. */
type Sourced = Picture & { source: string };

async function pictureViews(files: readonly string[]): Promise<Sourced[]> {
  const out: Sourced[] = [];
  for (const f of files) {
    const img = await readImage(f).catch(() => null);
    if (!img || img.width < 64 || img.height < 64) continue;
    const name = path.basename(f);
    out.push({ ...areaScale(img), source: name }, { ...areaScale(centreAspect(img)), source: `${name} (centre)` });
  }
  return out;
}

function clipFrames(ffmpeg: string, clip: string): Sourced[] {
  const w = 320;
  const h = 240;
  const raw = execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', clip, '-vf', `fps=2,scale=${w}:${h},format=rgb24`, '-f', 'rawvideo', '-'], {
    maxBuffer: 1 << 28,
  });
  const n = Math.floor(raw.length / (w * h * 3));
  return Array.from({ length: n }, (_, i) => ({
    width: w,
    height: h,
    rgb: new Uint8Array(raw.subarray(i * w * h * 3, (i + 1) * w * h * 3)),
    source: `${path.basename(clip)} @${i / 2}s`,
  }));
}

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const threshold = await policyThreshold();
  const whitening = await Whitening.load(BUILTIN_WHITENING);
  const manifest = await loadManifest(packagePath('models', 'nsfw'));
  whitening.checkModel(manifest.version, manifest.embedding!.dim);
  const embedder = await OfflineEmbedder.open(manifest);
  const describe = async (pics: Picture[]) => (await embedder.embed(pics)).map((e) => whitening.apply(e));
  const ffmpeg = (await resolveFfmpeg()).path;
  const D = whitening.outputDim;

  // The evasion bank: each picture's copy views, as bank import stores them (the describer banking uses).
  const describer = new ModelCopyDescriber(async (p) => (await embedder.embed([p]))[0]!, whitening);
  const banked = bankedPictures();
  const bankRows: Array<{ picture: number; region: string; v: Float32Array }> = [];
  for (let i = 0; i < banked.length; i++) {
    for (const view of await describer.describe(await readImage(banked[i]!)))
      bankRows.push({ picture: i, region: view.region, v: parseDescriptorText(view.text, whitening.id, D)! });
  }
  // Before the mirrored and trimmed views (and the live frame's views): the whole picture and its centre 70 %.
  const oldViews = new Set(COPY_VIEWS.filter((v) => !v.mirror).map((v) => v.region));
  const bank = new CopyIndex(D);
  for (const r of bankRows) bank.add(r.v);

  // Benign queries: held-out Debian pictures, the evasion set's benign photos, frames of its clip.
  const split = benignSplit();
  const heldOut = split ? (o.quick ? split.heldOut.slice(0, 40) : split.heldOut) : [];
  const benignPics = [...(await pictureViews(heldOut)), ...(await pictureViews(benignPictures())), ...benignClips().flatMap((c) => clipFrames(ffmpeg, c))];
  const benignQueries = await describe(benignPics);
  // As the live matcher sees them: each benign frame's extra views too (a border, a false picture-in-picture).
  const extra = benignPics.flatMap((p, k) => liveCopyViews(p, DEFAULT_COPY_MATCHER.views).map((v) => ({ k, picture: cropImage(p, v.rect) })));
  const extraQueries = await describe(extra.map((e) => e.picture));
  const nnBank = benignQueries.map((q) => bank.search(q, 1)[0]!.similarity);
  extra.forEach((e, j) => (nnBank[e.k] = Math.max(nnBank[e.k]!, bank.search(extraQueries[j]!, 1)[0]!.similarity)));
  const falseAtT = nnBank.filter((s) => s >= threshold).length;
  out.push(
    {
      name: 'benign frames checked against the evasion bank',
      unit: 'frames',
      value: benignQueries.length,
      note: `${heldOut.length} held-out Debian pictures ×2 views, 8 benign photos ×2, clip at 2 fps; ${extra.length} live views besides the whole frames`,
    },
    { name: 'benign NN similarity to the evasion bank, p50', unit: 'cosine', value: percentile(nnBank, 50) },
    { name: 'benign NN similarity to the evasion bank, p99', unit: 'cosine', value: percentile(nnBank, 99) },
    { name: 'benign NN similarity to the evasion bank, max', unit: 'cosine', value: Math.max(...nnBank) },
    {
      name: `benign false matches at threshold ${threshold} (evasion bank)`,
      unit: 'frames',
      value: falseAtT,
      note: `rate ${(falseAtT / benignQueries.length).toExponential(2)}`,
    },
  );

  // A large bank of other real pictures: the tail a real bank of unrelated content would produce.
  if (split && split.fit.length > 0) {
    const fitPics = await pictureViews(o.quick ? split.fit.slice(0, 120) : split.fit);
    const fitViews = await describe(fitPics);
    const large = new CopyIndex(D);
    for (const v of fitViews) large.add(v);
    for (const r of bankRows) large.add(r.v);
    const hitsLarge = benignQueries.map((q) => large.search(q, 1)[0]!);
    const nnLarge = hitsLarge.map((h) => h.similarity);
    const overT = nnLarge.filter((s) => s >= threshold).length;
    // Which of those are the same photo (the Debian docs reuse pictures across tutorials): a PDQ distance
    // within the match radius of the nearest fit picture is a true copy; the rest are counted as false
    // matches (an upper bound: a re-cropped reuse PDQ does not see stays counted as false).
    const pdq = (p: Picture) => pdqFromRgb(p.rgb, p.width, p.height).hash;
    let sameByPdq = 0;
    const notSame: Array<{ similarity: number; pair: string }> = [];
    hitsLarge.forEach((h, k) => {
      if (h.similarity < threshold) return;
      const q = benignPics[k]!;
      const b = h.slot < fitPics.length ? fitPics[h.slot]! : null;
      if (b && hamming(pdq(q), pdq(b)) <= PDQ_MATCH_DISTANCE) sameByPdq++;
      else notSame.push({ similarity: h.similarity, pair: `${q.source} ~ ${b ? b.source : 'an evasion-bank view'}` });
    });
    const worst = notSame.sort((x, y) => y.similarity - x.similarity).slice(0, 6);
    out.push(
      {
        name: 'benign NN similarity to a bank of other real pictures, p50',
        unit: 'cosine',
        value: percentile(nnLarge, 50),
        note: `${large.size} bank rows (${fitViews.length} fit-picture views + the evasion bank)`,
      },
      { name: 'benign NN similarity to a bank of other real pictures, p99', unit: 'cosine', value: percentile(nnLarge, 99) },
      { name: 'benign NN similarity to a bank of other real pictures, max', unit: 'cosine', value: Math.max(...nnLarge) },
      {
        name: `benign frames at or above ${threshold} against that bank`,
        unit: 'frames',
        value: overT,
        note: `of ${benignQueries.length}; the Debian docs reuse some photos across tutorials, so some of these are true copies, not false matches`,
      },
      {
        name: `of those, not the same photo by PDQ (≤ ${PDQ_MATCH_DISTANCE} bits): false matches at most`,
        unit: 'frames',
        value: overT - sameByPdq,
        note: `${sameByPdq} of the ${overT} are within PDQ's radius of their nearest bank picture (true copies); rate at most ${((overT - sameByPdq) / benignQueries.length).toExponential(2)}; most similar of the rest: ${worst.map((w) => `${w.pair} ${w.similarity.toFixed(2)}`).join('; ')}`,
      },
    );
  }

  // Evasions: one rendered frame per picture and transform.
  const font = await findCaptionFont();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-copy-bench-'));
  const background = benignPictures()[0]!;
  try {
    const per = o.quick ? 2 : banked.length;
    for (const t of [...TRANSFORMS, 'crop20' as const]) {
      // Before: the whole frame's descriptor against the whole-picture and centre views. After: the frame's
      // views (inside its borders, its picture-in-picture; classifiers/copy/matcher.ts) against every banked view.
      const before: number[] = [];
      const after: number[] = [];
      const wins: string[] = [];
      let top1 = 0;
      for (let i = 0; i < per; i++) {
        const file = path.join(dir, `${t}-${i}.png`);
        execFileSync(ffmpeg, renderArgs(t as TransformId, { picture: banked[i]!, background, file, atSec: 0.2, fontFile: font }));
        const frame = areaScale(await readImage(file));
        const views = [
          { region: 'full', picture: frame },
          ...liveCopyViews(frame, DEFAULT_COPY_MATCHER.views).map((v) => ({ region: v.region, picture: cropImage(frame, v.rect) })),
        ];
        const qs = await describe(views.map((v) => v.picture));
        const own = (q: Float32Array, rows: typeof bankRows) => Math.max(...rows.filter((r) => r.picture === i).map((r) => dot(q, r.v)));
        before.push(
          own(
            qs[0]!,
            bankRows.filter((r) => oldViews.has(r.region)),
          ),
        );
        let best = -1;
        let bestOther = -1;
        let win = '';
        qs.forEach((q, k) => {
          for (const r of bankRows) {
            const sim = dot(q, r.v);
            if (r.picture === i && sim > best) {
              best = sim;
              win = `${views[k]!.region}→${r.region}`;
            }
            if (r.picture !== i) bestOther = Math.max(bestOther, sim);
          }
        });
        after.push(best);
        wins.push(win);
        if (best > bestOther) top1++;
      }
      const over = (xs: number[]) => xs.filter((s) => s >= threshold).length;
      out.push({
        name: `${t}: similarity to its own entry with views, min / median`,
        unit: 'cosine',
        value: Math.min(...after),
        baseline: { name: 'whole frame vs whole + centre views (before)', value: Math.min(...before) },
        note: `median ${percentile(after, 50).toFixed(3)} (before ${percentile(before, 50).toFixed(3)}); ≥ ${threshold}: ${over(after)}/${per} (before ${over(before)}/${per}); top-1 of the bank: ${top1}/${per}; best view pairs ${wins.join(', ')}`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Cost: whitening per frame, and the exact scan at bank sizes of 10^4 and 10^5.
  const e = new Float32Array(whitening.inputDim).map((_, i) => (i % 7) / 7);
  let t0 = performance.now();
  for (let i = 0; i < 200; i++) whitening.apply(e);
  out.push({ name: 'whitening per frame', unit: 'ms', value: (performance.now() - t0) / 200, note: `${whitening.inputDim} → ${D}` });
  for (const n of o.quick ? [10_000] : [10_000, 100_000]) {
    const idx = new CopyIndex(D, n);
    const rows = new Float32Array(n * D);
    let seed = 7;
    for (let i = 0; i < rows.length; i++) rows[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (let i = 0; i < n; i++) idx.add(l2normalise(rows.subarray(i * D, (i + 1) * D)));
    const q = l2normalise(Float32Array.from(rows.subarray(0, D)));
    const reps = n >= 100_000 ? 20 : 100;
    t0 = performance.now();
    for (let r = 0; r < reps; r++) idx.search(q, 8, 0.5);
    const indexMs = (performance.now() - t0) / reps;
    t0 = performance.now();
    for (let r = 0; r < reps; r++) {
      let best = -2;
      for (let s = 0; s < n; s++) {
        let acc = 0;
        for (let k = 0; k < D; k++) acc += rows[s * D + k]! * q[k]!;
        if (acc > best) best = acc;
      }
      if (best < -1) throw new Error('unreachable');
    }
    const naiveMs = (performance.now() - t0) / reps;
    out.push({
      name: `exact cosine scan, ${n.toLocaleString('en')} descriptors`,
      unit: 'ms',
      value: indexMs,
      baseline: { name: 'plain loop, same data', value: naiveMs },
    });
  }
  await embedder.release();
  return out;
}
