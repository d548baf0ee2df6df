import type { SamplingMode } from '../api/types.ts';

/** How a stream is sampled, in a moderator's words. */
export function samplingText(mode: SamplingMode): string {
  switch (mode) {
    case 'full':
      return 'every frame';
    case 'keyframe':
      return 'keyframes';
    case 'adaptive-full':
      return 'adaptive · every frame';
    case 'adaptive-keyframe':
      return 'adaptive · keyframes';
    case 'remote':
      return 'on another node';
    default:
      return 'not sampled';
  }
}

/** The highest score per classifier source, highest first (at most three). */
export function topScores(scores: Record<string, Record<string, number>>): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [source, labels] of Object.entries(scores)) {
    let best: [string, number] | null = null;
    for (const [label, v] of Object.entries(labels)) if (!best || v > best[1]) best = [`${source}.${label}`, v];
    if (best) out.push(best);
  }
  return out.sort((a, b) => b[1] - a[1]).slice(0, 3);
}
