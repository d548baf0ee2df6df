import type { JSX } from 'preact';

/**
 * Two hand-drawn SVG charts are all the dashboard needs (a chart library would outweigh the console):
 * stacked bars over time, and horizontal bars for a distribution.
 */
export interface Series {
  label: string;
  /** CSS class for the fill (chart-a, chart-b, chart-c). */
  cls: string;
  values: number[];
}

export function StackedBars(props: { series: Series[]; labels: string[]; height?: number; title: string }): JSX.Element {
  const h = props.height ?? 140;
  const n = props.labels.length;
  const totals = props.labels.map((_, i) => props.series.reduce((a, s) => a + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const w = 100 / n;
  const ticks = [0, Math.ceil(max / 2), max];
  return (
    <figure class="chart">
      <svg viewBox={`0 0 100 ${h}`} preserveAspectRatio="none" role="img" aria-label={props.title} class="chart-svg" style={{ height: `${h}px` }}>
        {ticks.map((t) => (
          <line key={t} x1="0" x2="100" y1={h - (t / max) * (h - 4)} y2={h - (t / max) * (h - 4)} class="chart-grid" vector-effect="non-scaling-stroke" />
        ))}
        {props.labels.map((label, i) => {
          let y = h;
          return (
            <g key={label}>
              <title>{`${label}: ${props.series.map((s) => `${s.label} ${s.values[i] ?? 0}`).join(', ')}`}</title>
              {props.series.map((s) => {
                const v = s.values[i] ?? 0;
                const bh = (v / max) * (h - 4);
                y -= bh;
                return v > 0 ? <rect key={s.label} x={i * w + w * 0.12} width={w * 0.76} y={y} height={bh} class={s.cls} /> : null;
              })}
            </g>
          );
        })}
      </svg>
      <div class="chart-axis">
        <span>{props.labels[0]}</span>
        <span>{props.labels[Math.floor(n / 2)]}</span>
        <span>{props.labels[n - 1]}</span>
      </div>
      <figcaption class="chart-legend">
        {props.series.map((s) => (
          <span key={s.label}>
            <i class={`legend-swatch ${s.cls}`} /> {s.label} ({s.values.reduce((a, b) => a + b, 0)})
          </span>
        ))}
        <span class="muted">max {max} per bar</span>
      </figcaption>
    </figure>
  );
}

export function HBars(props: { rows: Array<{ label: string; value: number; cls?: string }>; title: string }): JSX.Element {
  const max = Math.max(1, ...props.rows.map((r) => r.value));
  return (
    <div class="hbars" role="img" aria-label={props.title}>
      {props.rows.map((r) => (
        <div class="hbar" key={r.label}>
          <span class="hbar-label">{r.label}</span>
          <span class="hbar-track">
            <span class={`hbar-fill ${r.cls ?? 'chart-a'}`} style={{ width: `${(r.value / max) * 100}%` }} />
          </span>
          <span class="hbar-value">{r.value}</span>
        </div>
      ))}
    </div>
  );
}

/** One 100 % bar split into parts (automated vs. human, outcomes of appeals): shares read better than counts there. */
export function ShareBar(props: { parts: Array<{ label: string; value: number; cls: string }>; title: string }): JSX.Element {
  const total = props.parts.reduce((a, p) => a + p.value, 0);
  return (
    <figure class="chart share" role="img" aria-label={props.title}>
      <div class="share-track">
        {total > 0 &&
          props.parts.map((p) =>
            p.value > 0 ? (
              <span key={p.label} class={`share-part ${p.cls}`} style={{ width: `${(p.value / total) * 100}%` }} title={`${p.label}: ${p.value}`} />
            ) : null,
          )}
      </div>
      <figcaption class="chart-legend">
        {props.parts.map((p) => (
          <span key={p.label}>
            <i class={`legend-swatch ${p.cls}`} /> {p.label} {p.value}
            {total > 0 ? ` (${Math.round((p.value / total) * 100)} %)` : ''}
          </span>
        ))}
        {total === 0 && <span class="muted">none in this period</span>}
      </figcaption>
    </figure>
  );
}
