import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ModelCopyDescriber } from '../../classifiers/copy/describer.ts';
import { openLocalDescriber } from '../../classifiers/copy/embedder.ts';
import type { Picture } from '../../classifiers/copy/picture.ts';
import { Whitening } from '../../classifiers/copy/whitening.ts';
import { loadManifest, type ResolvedManifest } from '../../classifiers/onnx/manifest.ts';
import type { OnnxPool } from '../../classifiers/onnx/pool.ts';
import { packagePath } from '../../package/root.ts';
import type { Config } from '../config.ts';

/** The shipped whitening (scripts/copy/fit-whitening.ts; models/copy/MODEL_CARD.md). */
export const BUILTIN_WHITENING = packagePath('models', 'copy', 'whitening.json');

/**
 * The copy descriptor's whitening for this gateway, or null when the descriptor is off (sampling off,
 * `classifiers.copy.enabled: false`, or the shipped file absent). A configured file that is missing or
 * invalid refuses the start, as a broken model does.
 */
export async function loadCopyWhitening(config: Config, log: Logger): Promise<Whitening | null> {
  const c = config.classifiers.copy;
  if (!config.sampling.enabled || !c.enabled) return null;
  const file = c.whitening ? path.resolve(c.whitening) : BUILTIN_WHITENING;
  if (!c.whitening && !existsSync(file)) {
    log.warn({ file }, 'copy descriptor off: no whitening file');
    return null;
  }
  return Whitening.load(file);
}

/** Is this the model the whitening was fit on (its embedding then feeds the copy descriptor)? */
export function feedsCopy(whitening: Whitening | null, m: ResolvedManifest): boolean {
  return whitening !== null && m.version === whitening.model && m.embedding?.dim === whitening.inputDim;
}

/** The live pool's embedding of one picture (a forward pass of its own: banking, or a live frame's extra view). */
export function poolEmbedder(pool: OnnxPool): (p: Picture) => Promise<Float32Array> {
  return async (p) => {
    const r = await pool.classify(p);
    if (!r.embedding) throw new Error('the model pool returns no embeddings');
    return r.embedding;
  };
}

/** Descriptors for banking (a confirmed decision's frames) from the live pool's embeddings. */
export function poolDescriber(pool: OnnxPool, whitening: Whitening): ModelCopyDescriber {
  return new ModelCopyDescriber(poolEmbedder(pool), whitening);
}

/**
 * The CLI's describer (`modgate bank add-picture`): the model in this process. Null when the descriptor is
 * off or its model is not here (the pictures are then banked by PDQ alone, as before).
 */
export async function openCliDescriber(config: Config): Promise<Awaited<ReturnType<typeof openLocalDescriber>> | null> {
  const c = config.classifiers.copy;
  if (!c.enabled) return null;
  const file = c.whitening ? path.resolve(c.whitening) : BUILTIN_WHITENING;
  if (!existsSync(file)) return null;
  const whitening = await Whitening.load(file);
  for (const dir of config.classifiers.models?.map((m) => path.resolve(m)) ?? [packagePath('models', 'nsfw')]) {
    const manifest = await loadManifest(dir).catch(() => null);
    if (manifest && feedsCopy(whitening, manifest) && existsSync(manifest.modelPath)) return openLocalDescriber(manifest.manifestPath, file);
  }
  return null;
}
