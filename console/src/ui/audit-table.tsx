import { Fragment, type JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AuditRecord } from '../api/types.ts';
import { Link } from '../app/router.tsx';
import { Mono, Time } from './components.tsx';
import { ListTable } from './list-table.tsx';
import { actorText } from './format.ts';

function targetLink(r: AuditRecord): JSX.Element {
  const id = <Mono>{r.targetId}</Mono>;
  if (r.targetType === 'account') return <Link href={`/accounts/${encodeURIComponent(r.targetId)}`}>@{r.targetId}</Link>;
  if (r.targetType === 'stream') return <Link href={`/streams/${encodeURIComponent(r.targetId)}`}>{id}</Link>;
  if (r.targetType === 'bank') return <Link href={`/banks/${encodeURIComponent(r.targetId)}`}>{r.targetId}</Link>;
  if (r.targetType === 'decision') return <Link href={`/reviews/${encodeURIComponent(r.targetId)}`}>{id}</Link>;
  return id;
}

/** Audit records, newest first; a row opens to its full detail. */
export function AuditTable(props: { records: AuditRecord[]; compact?: boolean }): JSX.Element {
  const [open, setOpen] = useState<number | null>(null);
  return (
    <ListTable
      items={props.records}
      empty="No audit records."
      testId="audit-table"
      compact={props.compact}
      columns={['When', 'Actor', 'Action', 'Target', 'Reason']}
      row={(r) => (
        <Fragment key={r.id}>
          <tr class={`row-click${open === r.id ? ' row-open' : ''}`} onClick={() => setOpen(open === r.id ? null : r.id)} data-action={r.action}>
            <td class="nowrap">
              <Time at={r.at} />
            </td>
            <td>{actorText(r.actor)}</td>
            <td>
              <code class="action">{r.action}</code>
            </td>
            <td>
              <span class="muted">{r.targetType}</span> {targetLink(r)}
            </td>
            <td class="cell-reason">{r.reason ?? <span class="muted">—</span>}</td>
          </tr>
          {open === r.id && (
            <tr class="row-detail">
              <td colSpan={5}>
                <div class="muted">
                  Record #{r.id} · {r.actor} · {r.at}
                </div>
                {r.reason && <p class="reason">{r.reason}</p>}
                {r.detail && <pre class="json">{JSON.stringify(r.detail, null, 2)}</pre>}
              </td>
            </tr>
          )}
        </Fragment>
      )}
    />
  );
}
