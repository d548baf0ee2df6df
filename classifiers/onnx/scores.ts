/**
 * Raw model output → per-label scores → the policy-facing (source, label, score) triples the manifest
 * declares. Pure functions, shared by the worker (activation) and the main thread (mapping).
 */
import type { Manifest, SignalMapping } from './manifest.ts';

/** Applies the manifest's activation in place to `n` rows of `k` values. */
export function applyActivation(values: Float32Array, n: number, k: number, activation: Manifest['output']['activation']): void {
  if (activation === 'none') return;
  if (activation === 'sigmoid') {
    for (let i = 0; i < n * k; i++) values[i] = 1 / (1 + Math.exp(-(values[i] as number)));
    return;
  }
  for (let r = 0; r < n; r++) {
    const o = r * k;
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, values[o + j] as number);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp((values[o + j] as number) - max);
      values[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) values[o + j] = (values[o + j] as number) / sum;
  }
}

export function scoresRecord(labels: readonly string[], row: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  labels.forEach((l, i) => (out[l] = row[i] as number));
  return out;
}

export interface SignalScore {
  source: string;
  label: string;
  score: number;
}

/**
 * Sums the mapped labels per declared signal. Clamped to [0, 1] because a Signal score must be a
 * probability-like value; sums of softmax labels never exceed 1, sums of sigmoids or raw outputs may.
 */
export function mapSignals(mappings: readonly SignalMapping[], scores: Record<string, number>): SignalScore[] {
  return mappings.map((m) => {
    let s = 0;
    for (const l of m.sum) s += scores[l] ?? 0;
    const score = Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : 0;
    return { source: m.source, label: m.label, score };
  });
}
