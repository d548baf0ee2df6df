import type { JSX } from 'preact';
import type { Decision, EvidenceFacts, HashMatchFact } from '../api/types.ts';
import { Link } from '../app/router.tsx';
import { MatchedEntry } from './bank-entry.tsx';
import { Badge, Mono, priorityTone, severityTone } from './components.tsx';
import { EvidenceImage } from './evidence.tsx';
import { durationText } from './format.ts';

/** One line for a list: "cut · suspend 30 d · strike". */
export function actionsSummary(actions: Decision['actions']): string {
  const a = actions.wouldHave ?? actions;
  const parts: string[] = [];
  if (actions.wouldHave) parts.push('shadow');
  if (a.cut) parts.push('cut');
  if (a.suspend) parts.push(a.suspend.durationMs === null ? 'suspend permanently' : `suspend ${durationText(a.suspend.durationMs)}`);
  if (a.strike) parts.push('strike');
  if (!a.cut && !a.suspend && a.review) parts.push('review only');
  return parts.join(' · ') || 'no action';
}

/** A decision's actions as chips: what happened to the stream and the person. */
export function ActionChips(props: { actions: Decision['actions']; shadow?: boolean }): JSX.Element {
  const a = props.actions.wouldHave ?? props.actions;
  const chips: JSX.Element[] = [];
  if (props.shadow)
    chips.push(
      <Badge key="shadow" tone="neutral" title="a shadow rule: recorded, not enforced">
        shadow · would have
      </Badge>,
    );
  if (a.cut)
    chips.push(
      <Badge key="cut" tone="bad">
        cut
      </Badge>,
    );
  if (a.suspend)
    chips.push(
      <Badge key="sus" tone="bad">
        {a.suspend.durationMs === null ? 'suspend permanently' : `suspend ${durationText(a.suspend.durationMs)}`}
      </Badge>,
    );
  if (a.strike) chips.push(<Badge key="str" tone={severityTone(a.strike.severity)}>{`strike ${a.strike.category}/${a.strike.severity}`}</Badge>);
  if (a.review) chips.push(<Badge key="rev" tone={priorityTone(a.review.priority)}>{`review ${a.review.priority}`}</Badge>);
  if (a.warn)
    chips.push(
      <Badge key="warn" tone="warn">
        warn
      </Badge>,
    );
  return <span class="chips">{chips}</span>;
}

export function ReviewState(props: { d: Decision }): JSX.Element {
  const r = props.d.review;
  if (r.status === 'pending') return <Badge tone="warn">awaiting review</Badge>;
  if (r.status === 'confirmed') return <Badge tone="bad">confirmed</Badge>;
  if (r.status === 'overturned') return <Badge tone="good">overturned</Badge>;
  return <Badge>no review</Badge>;
}

function ScoreBars(props: { scores: EvidenceFacts['scores'] }): JSX.Element | null {
  const rows = Object.entries(props.scores ?? {}).flatMap(([model, labels]) => Object.entries(labels).map(([label, score]) => ({ model, label, score })));
  if (rows.length === 0) return null;
  rows.sort((a, b) => b.score - a.score);
  return (
    <div class="scores">
      {rows.slice(0, 6).map((r) => (
        <div class="score" key={`${r.model}/${r.label}`}>
          <span class="score-label">
            {r.model} · {r.label}
          </span>
          <span class="score-track">
            <span
              class={`score-fill${r.score >= 0.9 ? ' score-hot' : r.score >= 0.6 ? ' score-warm' : ''}`}
              style={{ width: `${Math.round(r.score * 100)}%` }}
            />
          </span>
          <span class="score-value">{r.score.toFixed(2)}</span>
        </div>
      ))}
    </div>
  );
}

/** The bank entry a frame matched, beside the frame: how close, in which orientation, from which bank. */
function MatchCard(props: { m: HashMatchFact; radius: number | null }): JSX.Element {
  const { m } = props;
  return (
    <div class="match-card" data-testid="bank-match">
      <div class="match-head">
        <span class="muted">Matched entry</span>
        <Badge tone={severityTone(m.severity)}>{m.severity}</Badge>
      </div>
      <div class="match-distance">
        <strong>{m.distance}</strong>
        <span>
          of 256 bits differ{props.radius !== null ? ` · bank radius ${props.radius}` : ''}
          {m.variant !== 'original' ? ` · frame ${m.variant}` : ''}
        </span>
      </div>
      <dl class="kv kv-tight">
        <div>
          <dt>Bank</dt>
          <dd>
            <Link href={`/banks/${encodeURIComponent(m.bank)}`}>{m.bank}</Link>
          </dd>
        </div>
        <div>
          <dt>Category</dt>
          <dd>{m.category}</dd>
        </div>
        <div>
          <dt>Entry</dt>
          <dd>
            <Mono>{m.entryId}</Mono>
          </dd>
        </div>
        {m.region && (
          <div>
            <dt>Frame region</dt>
            <dd>{m.region}</dd>
          </div>
        )}
        {m.entryRegion && (
          <div>
            <dt>Entry crop</dt>
            <dd>{m.entryRegion}</dd>
          </div>
        )}
        <div>
          <dt>Frame PDQ</dt>
          <dd>
            <Mono title={m.frameHash}>{`${m.frameHash.slice(0, 16)}…`}</Mono> (quality {m.quality})
          </dd>
        </div>
      </dl>
    </div>
  );
}

/** Evidence frames of a decision with what each frame showed the classifiers. */
export function EvidenceGrid(props: { decision: Decision; facts?: EvidenceFacts[]; radii?: Map<string, number> }): JSX.Element {
  const { decision } = props;
  if (decision.evidence.length === 0)
    return <p class="muted">No evidence frames were kept for this decision (its signals did not reach the evidence floor, or retention has passed).</p>;
  const bySeq = new Map((props.facts ?? []).map((f) => [f.seq, f]));
  return (
    <div class="evidence-list">
      {decision.evidence.map((e) => {
        const seq = Number(e.ref.split('/').pop());
        const f = bySeq.get(seq);
        return (
          <div class={`evidence-item${(f?.matches ?? []).length > 0 ? ' evidence-compare' : ''}`} key={e.ref}>
            <div class="compare-row">
              <figure class="evidence-frame">
                <EvidenceImage path={e.image} alt={`evidence frame ${seq} of stream ${decision.streamId}`} />
                <figcaption>
                  frame {seq}
                  {f ? ` · ${(f.mediaTimeMs / 1000).toFixed(1)} s into the stream` : ''}
                </figcaption>
              </figure>
              {f?.matches?.[0] && <MatchedEntry m={f.matches[0]} />}
            </div>
            {f && (
              <div class="evidence-facts">
                {(f.matches ?? []).map((m) => (
                  <MatchCard key={m.entryId + m.variant} m={m} radius={props.radii?.get(m.bank) ?? null} />
                ))}
                <ScoreBars scores={f.scores} />
                {(f.matches ?? []).length === 0 && Object.keys(f.scores ?? {}).length === 0 && <p class="muted">No scores recorded for this frame.</p>}
              </div>
            )}
          </div>
        );
      })}
    </div>
  );
}
