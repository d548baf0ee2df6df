import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import type { Decision } from '../api/types.ts';
import type { TimelinePoint } from './timeline-points.ts';
import { timeText } from './format.ts';

/**
 * A stream's timeline as one SVG by hand: each classifier label's score per sampled frame (lines, 0–1), the
 * nearest bank distance where a bank hash came within radius (dots, lower band: closer is higher), and the
 * decisions as marks across both. Samples come from the gateway's memory and push; stored signals fill in
 * what happened before the page opened (or after the stream ended).
 */

const COLORS = ['#2f6fdf', '#d64545', '#e9a23b', '#1d7f4e', '#8e44ad'];
const W = 1000;
const SCORE_H = 120;
const DIST_H = 50;
const GAP = 14;
const MAX_DISTANCE = 64;

export function StreamTimeline(props: { points: TimelinePoint[]; decisions: readonly Decision[]; radius?: number }): JSX.Element {
  const { points, decisions } = props;
  const labels = useMemo(() => {
    const peak = new Map<string, number>();
    for (const p of points) for (const [k, v] of Object.entries(p.scores)) peak.set(k, Math.max(peak.get(k) ?? 0, v));
    return [...peak.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, COLORS.length)
      .map(([k]) => k);
  }, [points]);
  const times = [...points.map((p) => p.t), ...decisions.map((d) => Date.parse(d.decidedAt))];
  if (times.length === 0) return <p class="muted">No sampled frames or signals yet.</p>;
  const t0 = Math.min(...times);
  const t1 = Math.max(t0 + 1000, ...times);
  const x = (t: number) => ((t - t0) / (t1 - t0)) * W;
  const yScore = (v: number) => SCORE_H - v * (SCORE_H - 4);
  const distTop = SCORE_H + GAP;
  const yDist = (d: number) => distTop + (Math.min(d, MAX_DISTANCE) / MAX_DISTANCE) * DIST_H;
  const H = distTop + DIST_H + 2;
  const withDistance = points.filter((p) => p.distance !== null);
  return (
    <figure class="chart timeline-chart" data-testid="stream-timeline">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        class="chart-svg"
        style={{ height: `${H}px` }}
        role="img"
        aria-label="Scores and bank distance over time"
      >
        {[0, 0.5, 1].map((v) => (
          <line key={v} x1="0" x2={W} y1={yScore(v)} y2={yScore(v)} class="chart-grid" vector-effect="non-scaling-stroke" />
        ))}
        <rect x="0" y={distTop} width={W} height={DIST_H} class="timeline-band" />
        {props.radius !== undefined && (
          <line x1="0" x2={W} y1={yDist(props.radius)} y2={yDist(props.radius)} class="timeline-radius" vector-effect="non-scaling-stroke" />
        )}
        {labels.map((label, i) => {
          const pts = points.filter((p) => p.scores[label] !== undefined);
          return (
            <polyline
              key={label}
              points={pts.map((p) => `${x(p.t).toFixed(1)},${yScore(p.scores[label]!).toFixed(1)}`).join(' ')}
              fill="none"
              stroke={COLORS[i]}
              stroke-width="1.5"
              vector-effect="non-scaling-stroke"
              data-label={label}
            />
          );
        })}
        {withDistance.map((p) => (
          <rect key={p.t} x={x(p.t) - 3} y={yDist(p.distance!) - 3} width="6" height="6" class="timeline-match" data-testid="timeline-match">
            <title>{`${timeText(p.t)}: nearest bank hash at distance ${p.distance}`}</title>
          </rect>
        ))}
        {decisions.map((d) => (
          <g key={d.id} data-testid="timeline-decision">
            <line
              x1={x(Date.parse(d.decidedAt))}
              x2={x(Date.parse(d.decidedAt))}
              y1="0"
              y2={H}
              class={d.review.status === 'overturned' ? 'timeline-decision overturned' : 'timeline-decision'}
              vector-effect="non-scaling-stroke"
            />
            <title>{`${timeText(d.decidedAt)}: ${d.ruleId} (${d.review.status})`}</title>
          </g>
        ))}
      </svg>
      <div class="chart-axis">
        <span>{timeText(t0)}</span>
        <span>{timeText(t1)}</span>
      </div>
      <figcaption class="chart-legend">
        {labels.map((l, i) => (
          <span key={l}>
            <i class="legend-swatch" style={{ background: COLORS[i] }} /> {l}
          </span>
        ))}
        <span>
          <i class="legend-swatch timeline-match-swatch" /> nearest bank hash (lower band; higher is closer, {withDistance.length} frame
          {withDistance.length === 1 ? '' : 's'})
        </span>
        <span>
          <i class="legend-swatch timeline-decision-swatch" /> decision
        </span>
        <span class="muted">{points.length} sampled points</span>
      </figcaption>
    </figure>
  );
}
