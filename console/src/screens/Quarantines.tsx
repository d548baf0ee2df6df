import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { EntryQuarantine, Opinion, QuarantineStatus } from '../api/exchanges.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate, useLocation } from '../app/router.tsx';
import { shellStale } from '../app/stale.ts';
import { Badge, Button, Card, Mono, PageHead, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, durationText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { ListTable, Loaded } from '../ui/list-table.tsx';

const STATUSES: Array<QuarantineStatus | 'all'> = ['open', 'cleared', 'removed', 'all'];

/** Why an entry is held, in a moderator's words (the flood guard's numbers, or the partner that deconfirmed it). */
export function quarantineWhy(q: EntryQuarantine): string {
  const d = q.detail;
  if (q.reason === 'flood') {
    const streams = typeof d.streams === 'number' ? d.streams : null;
    const windowMs = typeof d.windowMs === 'number' ? d.windowMs : null;
    const baseline = typeof d.baseline === 'number' ? d.baseline : null;
    return `Flood guard: matched ${streams === null ? 'many' : plural(streams, 'stream')}${windowMs ? ` within ${durationText(windowMs)}` : ''}${baseline !== null ? ` (baseline ${baseline})` : ''}`;
  }
  return `A partner deconfirmed it${typeof d.partner === 'string' ? ` (${d.partner})` : ''}`;
}

/**
 * Quarantined bank entries (issue 13): the flood guard holds an entry that suddenly matches far more streams
 * than its baseline, and a partner's deconfirmation holds one we serve. A held entry's matches are logged
 * but cut nothing until a moderator clears it (it acts again) or removes it (disabled).
 */
export function Quarantines(): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const status = (STATUSES.includes(query.get('status') as QuarantineStatus) ? query.get('status') : 'open') as QuarantineStatus | 'all';
  const bank = query.get('bank');
  const list = useResource(() => api.quarantines(status), [status]);
  const [pending, setPending] = useState<{ q: EntryQuarantine; verdict: 'clear' | 'remove' } | null>(null);
  const rows = (list.data ?? []).filter((q) => !bank || q.bank === bank);
  const setStatus = (s: string) => navigate(`/quarantines?status=${s}${bank ? `&bank=${encodeURIComponent(bank)}` : ''}`, { replace: true });
  return (
    <>
      <PageHead
        title="Quarantined entries"
        sub={
          list.data && status === 'open'
            ? `${plural(rows.length, 'entry', 'entries')} held${bank ? ` in ${bank}` : ''}: matches are logged, nothing is cut until a moderator decides`
            : 'Bank entries the flood guard or a partner held for a moderator'
        }
        actions={<Button onClick={() => void list.reload()}>Refresh</Button>}
      />
      <div class="screen-tabs">
        <div class="segmented" role="tablist" aria-label="Quarantine state">
          {STATUSES.map((s) => (
            <button key={s} type="button" role="tab" aria-selected={s === status} class={s === status ? 'active' : ''} onClick={() => setStatus(s)}>
              {s}
            </button>
          ))}
        </div>
        {bank && (
          <Link href={`/quarantines?status=${status}`} class="btn btn-small btn-ghost">
            {bank} only · show all banks
          </Link>
        )}
      </div>
      <Card>
        <Loaded resource={list} what="quarantines">
          {() => (
            <ListTable
              items={rows}
              empty={<>{status === 'open' ? 'Nothing is quarantined.' : `No ${status === 'all' ? '' : `${status} `}quarantines.`}</>}
              testId="quarantines-table"
              columns={['Held', 'Entry', 'Why', 'State', '']}
              row={(q) => (
                <tr key={q.id} data-quarantine={q.id}>
                  <td class="nowrap">
                    <Time at={q.at} />
                  </td>
                  <td>
                    <Link href={`/banks/${encodeURIComponent(q.bank)}?entry=${encodeURIComponent(q.entryId)}`}>
                      {q.bank} · <Mono>{q.entryId}</Mono>
                    </Link>
                  </td>
                  <td>{quarantineWhy(q)}</td>
                  <td>
                    {q.status === 'open' ? (
                      <Badge tone="warn">held</Badge>
                    ) : (
                      <span>
                        <Badge tone={q.status === 'cleared' ? 'good' : 'neutral'}>{q.status}</Badge>{' '}
                        <span class="muted small">
                          by {actorText(q.handledBy)}
                          {q.handledAt ? (
                            <>
                              {' '}
                              <Time at={q.handledAt} />
                            </>
                          ) : null}
                          {q.handleReason ? ` — ${q.handleReason}` : ''}
                        </span>
                      </span>
                    )}
                  </td>
                  <td class="nowrap">
                    {q.status === 'open' && (
                      <span class="btn-group">
                        <Button small onClick={() => setPending({ q, verdict: 'clear' })}>
                          Clear…
                        </Button>
                        <Button small variant="danger" onClick={() => setPending({ q, verdict: 'remove' })}>
                          Remove…
                        </Button>
                      </span>
                    )}
                  </td>
                </tr>
              )}
            />
          )}
        </Loaded>
      </Card>
      <ReasonDialog
        open={pending !== null}
        title={pending?.verdict === 'clear' ? 'Clear the quarantine' : 'Remove the entry'}
        description={
          <p>
            {pending?.verdict === 'clear'
              ? 'A false alarm: the entry matches and acts again (a cleared flood is not held by the flood guard again).'
              : 'The entry is disabled: live matching stops using it. It is kept, and can be enabled on its bank page.'}{' '}
            <Mono>{pending?.q.entryId}</Mono>
          </p>
        }
        confirmLabel={pending?.verdict === 'clear' ? 'Clear' : 'Remove entry'}
        danger={pending?.verdict === 'remove'}
        onClose={() => setPending(null)}
        onSubmit={async (reason) => {
          if (!pending) return;
          const done = await api.resolveQuarantine(pending.q.id, pending.verdict, reason);
          list.update((l) => (status === 'open' ? l.filter((x) => x.id !== done.id) : l.map((x) => (x.id === done.id ? done : x))));
          shellStale();
          toast(pending.verdict === 'clear' ? 'Quarantine cleared: the entry acts again' : 'Entry removed (disabled)');
        }}
      />
    </>
  );
}

const CATEGORY_TEXT: Record<Opinion['category'], string> = {
  positive_class: 'confirmed (positive)',
  negative_class: 'deconfirmed (false positive)',
  investigation_seed: 'investigation seed',
};

/** Opinions of shared signals: ours (reported to the exchange that fed the entry) and our partners' of what we serve. */
export function Opinions(): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const mine = query.get('mine');
  const list = useResource(() => api.opinions({ ...(mine ? { mine: mine === 'true' } : {}), limit: 500 }), [mine]);
  const show = (m: string | null) => navigate(`/opinions${m ? `?mine=${m}` : ''}`, { replace: true });
  return (
    <>
      <PageHead
        title="Opinions"
        sub="Confirmations and deconfirmations of shared signals: given here (sent back to their exchange) and received from partners"
        actions={<Button onClick={() => void list.reload()}>Refresh</Button>}
      />
      <div class="screen-tabs segmented" role="tablist" aria-label="Whose opinions">
        {(
          [
            [null, 'all'],
            ['true', 'given here'],
            ['false', 'from partners'],
          ] as const
        ).map(([m, label]) => (
          <button key={label} type="button" role="tab" aria-selected={mine === m} class={mine === m ? 'active' : ''} onClick={() => show(m)}>
            {label}
          </button>
        ))}
      </div>
      <Card>
        <Loaded resource={list} what="opinions">
          {(data) => (
            <ListTable
              items={data}
              empty={<>No opinions yet. Confirm or deconfirm an entry of an exchange-fed bank on its bank page.</>}
              testId="opinions-table"
              columns={['When', 'Signal', 'Opinion', 'By', 'Reported']}
              row={(o) => (
                <tr key={o.id} data-opinion={o.id}>
                  <td class="nowrap">
                    <Time at={o.at} />
                  </td>
                  <td>
                    {o.bank && o.entryId ? (
                      <Link href={`/banks/${encodeURIComponent(o.bank)}?entry=${encodeURIComponent(o.entryId)}`}>
                        {o.bank} · <Mono title={o.hash}>{`${o.hash.slice(0, 16)}…`}</Mono>
                      </Link>
                    ) : (
                      <Mono title={o.hash}>{`${o.signalType} ${o.hash.slice(0, 16)}…`}</Mono>
                    )}
                  </td>
                  <td>
                    <Badge tone={o.category === 'negative_class' ? 'warn' : o.category === 'positive_class' ? 'good' : 'info'}>
                      {CATEGORY_TEXT[o.category]}
                    </Badge>
                    {o.tags.length > 0 && <span class="muted small"> {o.tags.join(', ')}</span>}
                    {o.reason && <div class="small">{o.reason}</div>}
                  </td>
                  <td>{o.isMine ? actorText(o.actor) : o.source}</td>
                  <td class="small" data-testid="opinion-reported">
                    <Delivery o={o} />
                  </td>
                </tr>
              )}
            />
          )}
        </Loaded>
      </Card>
    </>
  );
}

/** Where our opinion went: the outbox retries a pending one with back-off until its exchange takes it. */
function Delivery(props: { o: Opinion }): JSX.Element {
  const { o } = props;
  if (!o.isMine) return <>—</>;
  if (o.delivery === 'delivered')
    return (
      <>
        sent to {o.exchange}
        {o.reportedAt ? (
          <>
            {' '}
            <Time at={o.reportedAt} />
          </>
        ) : null}
      </>
    );
  if (o.delivery === 'pending')
    return (
      <span class={o.reportError ? 'text-bad' : ''}>
        pending for {o.exchange} ({plural(o.attempts, 'attempt')}
        {o.reportError ? `; last: ${o.reportError}` : ''}
        {o.nextAttemptAt ? `; next in ${durationText(Math.max(0, o.nextAttemptAt - Date.now()))}` : ''})
      </span>
    );
  if (o.delivery === 'not_taken') return <>kept here ({o.exchange ?? 'its exchange'} takes no opinions)</>;
  if (o.delivery === 'rejected')
    return (
      <span class="text-bad">
        refused by {o.exchange}
        {o.reportError ? ` (${o.reportError})` : ''}: kept here, not sent again
      </span>
    );
  return <>kept here (no exchange fed the entry)</>;
}
