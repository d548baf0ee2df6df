/**
 * The model in this thread, for offline tools and the CLI (`modgate bank add-picture`): no worker pool,
 * the same preprocessing as the live pool (classifiers/onnx/preprocess.ts), embeddings out.
 */
import { OnnxModel } from '../onnx/model.ts';
import { loadManifest, type ResolvedManifest } from '../onnx/manifest.ts';
import { Preprocessor, specFromManifest } from '../onnx/preprocess.ts';
import { ModelCopyDescriber } from './describer.ts';
import type { Picture } from './picture.ts';
import { Whitening } from './whitening.ts';

export class OfflineEmbedder {
  private constructor(
    readonly manifest: ResolvedManifest,
    private readonly model: OnnxModel,
    private readonly pre: Preprocessor,
  ) {}

  static async open(manifest: ResolvedManifest): Promise<OfflineEmbedder> {
    if (!manifest.embedding) throw new Error(`model ${manifest.name} declares no embedding output`);
    return new OfflineEmbedder(manifest, await OnnxModel.load(manifest), new Preprocessor(specFromManifest(manifest)));
  }

  get dim(): number {
    return this.manifest.embedding!.dim;
  }

  /** Raw embeddings (dim floats each) of images already at frame size, in batches. */
  async embed(images: readonly Picture[], batch = 8): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const buf = new Float32Array(batch * this.pre.sampleLength);
    for (let i = 0; i < images.length; i += batch) {
      const part = images.slice(i, i + batch);
      part.forEach((img, j) => this.pre.run(img.rgb, img.width, img.height, buf, j));
      const res = await this.model.run(buf.subarray(0, part.length * this.pre.sampleLength), part.length, true);
      for (let j = 0; j < part.length; j++) out.push(res.embedding!.slice(j * this.dim, (j + 1) * this.dim));
    }
    return out;
  }

  release(): Promise<void> {
    return this.model.release();
  }
}

/** A describer over an in-thread model: loads the whitening, checks it was fit on this model. */
export async function openLocalDescriber(modelDir: string, whiteningFile: string): Promise<{ describer: ModelCopyDescriber; close: () => Promise<void> }> {
  const whitening = await Whitening.load(whiteningFile);
  const manifest = await loadManifest(modelDir);
  if (!manifest.embedding) throw new Error(`model ${manifest.name} declares no embedding output`);
  whitening.checkModel(manifest.version, manifest.embedding.dim);
  const embedder = await OfflineEmbedder.open(manifest);
  const describer = new ModelCopyDescriber(async (p) => (await embedder.embed([p]))[0]!, whitening);
  return { describer, close: () => embedder.release() };
}
