/**
 * Fits the copy descriptor's PCA whitening (classifiers/copy/whitening.ts) on real benign pictures
 * (scripts/copy/images.ts: the fit part of models/copy/benign-images.txt) and writes models/copy/whitening.json.
 *
 *   node --import tsx scripts/copy/fit-whitening.ts [--dim 128] [--shrink 0.1] [--out models/copy/whitening.json]
 *
 * Each picture gives two frames as a stream would show them: the whole picture and its 16:9 centre crop,
 * each area-scaled to 512 wide. Their embeddings (the nsfw MobileNetV2's pooled 1280-d features) are
 * L2-normalised; the whitening keeps the top `dim` principal components, each scaled by
 * 1/sqrt(eigenvalue + shrink × mean of the kept eigenvalues) — the shrinkage keeps the weakest kept
 * directions, estimated from few hundred pictures, from being blown up into noise.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { loadManifest } from '../../classifiers/onnx/manifest.ts';
import { readImage, type RgbImage } from '../../classifiers/onnx/image-io.ts';
import { checksum, floatsToBase64, l2normalise, WHITENING_FORMAT, type WhiteningFile } from '../../classifiers/copy/whitening.ts';
import { packagePath } from '../../package/root.ts';
import { areaScale, centreAspect, OfflineEmbedder } from './embed.ts';
import { benignSplit } from './images.ts';

export async function benignViews(files: readonly string[]): Promise<{ views: RgbImage[]; used: number; skipped: string[] }> {
  const views: RgbImage[] = [];
  const skipped: string[] = [];
  let used = 0;
  for (const f of files) {
    let img: RgbImage;
    try {
      img = await readImage(f);
    } catch {
      skipped.push(f);
      continue;
    }
    if (img.width < 64 || img.height < 64) {
      skipped.push(f);
      continue;
    }
    used++;
    views.push(areaScale(img), areaScale(centreAspect(img)));
  }
  return { views, used, skipped };
}

export function fitPca(embeddings: readonly Float32Array[], dim: number, shrink: number) {
  const n = embeddings.length;
  const d = embeddings[0]!.length;
  const xs = embeddings.map((e) => l2normalise(Float32Array.from(e)));
  const mean = new Float64Array(d);
  for (const x of xs) for (let i = 0; i < d; i++) mean[i]! += x[i]! / n;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (const x of xs) {
    for (let i = 0; i < d; i++) c[i] = x[i]! - mean[i]!;
    for (let i = 0; i < d; i++) {
      const ci = c[i]!;
      if (ci === 0) continue;
      const row = i * d;
      for (let j = i; j < d; j++) cov[row + j]! += ci * c[j]!;
    }
  }
  const m = new Matrix(d, d);
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++) {
      const v = cov[i * d + j]! / (n - 1);
      m.set(i, j, v);
      m.set(j, i, v);
    }
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  const kept = order.slice(0, dim);
  const eps = shrink * (kept.reduce((s, [v]) => s + v, 0) / kept.length);
  const projection = new Float32Array(dim * d);
  kept.forEach(([v, col], r) => {
    const k = 1 / Math.sqrt(Math.max(v, 0) + eps);
    for (let i = 0; i < d; i++) projection[r * d + i] = vectors.get(i, col) * k;
  });
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  return { mean: Float32Array.from(mean), projection, eigenvalues: kept.map(([v]) => v), explained: kept.reduce((s, [v]) => s + v, 0) / total, eps };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dim: { type: 'string', default: '128' },
      shrink: { type: 'string', default: '0.1' },
      out: { type: 'string', default: packagePath('models', 'copy', 'whitening.json') },
      model: { type: 'string', default: packagePath('models', 'nsfw') },
      id: { type: 'string' },
    },
  });
  const dim = Number(values.dim);
  const shrink = Number(values.shrink);
  const split = benignSplit();
  if (!split) throw new Error('benign pictures not found: see scripts/copy/images.ts for how to extract them (MODGATE_BENIGN_ROOT)');
  const manifest = await loadManifest(values.model!);
  const embedder = await OfflineEmbedder.open(manifest);
  const { views, used, skipped } = await benignViews(split.fit);
  const t0 = performance.now();
  const embeddings = await embedder.embed(views);
  await embedder.release();
  const embedMs = performance.now() - t0;
  const pca = fitPca(embeddings, dim, shrink);
  const id = values.id ?? `mbv2-pca${dim}-s${String(shrink).replace('.', '')}`;
  const file: WhiteningFile = {
    format: WHITENING_FORMAT,
    id,
    model: manifest.version,
    inputDim: embedder.dim,
    outputDim: dim,
    mean: floatsToBase64(pca.mean),
    projection: floatsToBase64(pca.projection),
    sha256: checksum(pca.mean, pca.projection),
    fit: {
      command: `node --import tsx scripts/copy/fit-whitening.ts --dim ${dim} --shrink ${shrink}`,
      pictures: used,
      frames: views.length,
      skippedUnreadable: skipped.length,
      heldOutForCalibration: split.heldOut.length,
      missingFromRoot: split.missing,
      sources: 'models/copy/benign-images.txt (Debian bookworm opencv-doc 4.6.0+dfsg-12, python3-skimage 0.19.3-8)',
      views: 'whole picture and its 16:9 centre crop, area-scaled to 512 wide',
      shrinkage: pca.eps,
      explainedVariance: Math.round(pca.explained * 1e4) / 1e4,
      topEigenvalues: pca.eigenvalues.slice(0, 8).map((v) => Number(v.toPrecision(4))),
    },
  };
  writeFileSync(values.out!, JSON.stringify(file, null, 2) + '\n');
  console.log(
    `${path.relative(process.cwd(), values.out!)}: ${id}, ${used} pictures (${views.length} frames, ${skipped.length} unreadable), ` +
      `embedding ${(embedMs / views.length).toFixed(1)} ms/frame, explained ${(pca.explained * 100).toFixed(1)} %`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
