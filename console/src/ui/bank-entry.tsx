import type { JSX } from 'preact';
import type { HashMatchFact } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { Badge, ErrorBox, Mono, severityTone } from './components.tsx';
import { EvidenceImage } from './evidence.tsx';
import { actorText } from './format.ts';
import { useResource } from './hooks.ts';
import { differingBits } from './bits.ts';

/** The 256 bits as a 16×16 grid, differing bits marked: how close the frame came, at a glance. */
function BitGrid(props: { bits: boolean[] }): JSX.Element {
  const n = props.bits.filter(Boolean).length;
  return (
    <svg class="bit-grid" viewBox="0 0 16 16" role="img" aria-label={`${n} of 256 bits differ`} data-testid="bit-grid">
      {props.bits.map((d, i) => (
        <rect key={i} x={i % 16} y={Math.floor(i / 16)} width="0.9" height="0.9" class={d ? 'bit-diff' : 'bit-same'} />
      ))}
    </svg>
  );
}

/**
 * The bank entry a frame matched, shown beside the frame: its banked picture when the bank keeps one (a picture
 * banked with `bank add-picture`, or a confirmed decision's evidence), else its hash and where it came from.
 */
export function MatchedEntry(props: { m: HashMatchFact }): JSX.Element {
  const { api } = useApp();
  const { m } = props;
  const entry = useResource(() => api.bankEntry(m.bank, m.entryId), [m.bank, m.entryId]);
  const e = entry.data;
  const bits = e && m.variant === 'original' && !m.region ? differingBits(m.frameHash, e.hash) : null;
  return (
    <figure class="entry-side" data-testid="matched-entry">
      {entry.error ? (
        <ErrorBox error={entry.error} retry={entry.reload} />
      ) : !e ? (
        <div class="evidence-loading" aria-busy="true" />
      ) : e.picture ? (
        <EvidenceImage path={e.picture} alt={`banked picture of entry ${e.id}`} class="entry-picture" />
      ) : (
        <div class="entry-hash" data-testid="entry-hash-only">
          <span class="muted small">The bank keeps this entry's hash only</span>
          <Mono title={e.hash}>
            {e.hash.match(/.{16}/g)!.map((part, i) => (
              <span key={i} class="hash-line">
                {part}
              </span>
            ))}
          </Mono>
        </div>
      )}
      <figcaption>
        <div class="chips">
          <span class="muted">Banked entry</span>
          <Link href={`/banks/${encodeURIComponent(m.bank)}?entry=${encodeURIComponent(m.entryId)}`}>{m.bank}</Link>
          <Badge tone={severityTone(m.severity)}>{m.severity}</Badge>
          {e && !e.enabled && <Badge>disabled</Badge>}
        </div>
        {e && (
          <div class="small entry-facts">
            {e.category}
            {e.source ? <> · from {e.source}</> : null}
            {e.note ? <> · “{e.note}”</> : null} · added by {actorText(e.addedBy)}
          </div>
        )}
        {bits && (
          <div class="bit-row">
            <BitGrid bits={bits} />
            <span class="small muted">differing bits, frame vs entry</span>
          </div>
        )}
      </figcaption>
    </figure>
  );
}
