/** What the timeline reads of a sample and a stored signal (api/work.ts `Sample`, `StoredSignal`). */
interface Sample {
  at: string;
  scores: Record<string, Record<string, number>>;
  nearestBankDistance: number | null;
}
interface StoredSignal {
  observedAt: string;
  source: string;
  label: string;
  score: number | null;
  match: { distance: number } | null;
}

export interface TimelinePoint {
  t: number;
  scores: Record<string, number>;
  distance: number | null;
}

/** Samples and stored signals as one time series (a sample and a stored signal of the same frame merge). */
export function timelinePoints(samples: readonly Sample[], signals: readonly StoredSignal[]): TimelinePoint[] {
  const byT = new Map<number, TimelinePoint>();
  const at = (t: number) => {
    let p = byT.get(t);
    if (!p) byT.set(t, (p = { t, scores: {}, distance: null }));
    return p;
  };
  for (const s of samples) {
    const p = at(Date.parse(s.at));
    for (const [model, labels] of Object.entries(s.scores)) for (const [label, v] of Object.entries(labels)) p.scores[`${model}/${label}`] = v;
    if (s.nearestBankDistance !== null) p.distance = p.distance === null ? s.nearestBankDistance : Math.min(p.distance, s.nearestBankDistance);
  }
  for (const s of signals) {
    const p = at(Date.parse(s.observedAt));
    if (s.match) p.distance = p.distance === null ? s.match.distance : Math.min(p.distance, s.match.distance);
    else if (s.score !== null) p.scores[`${s.source}/${s.label}`] = s.score;
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}
