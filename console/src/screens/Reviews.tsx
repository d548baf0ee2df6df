import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { knownHandle, rememberHandle } from '../api/handles.ts';
import { usePush } from '../push/use-push.ts';
import type { Decision } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate, useLocation } from '../app/router.tsx';
import { AccountOf } from '../ui/account-link.tsx';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, priorityTone, Time } from '../ui/components.tsx';
import { actionsSummary, ActionChips, EvidenceGrid, ReviewState } from '../ui/decision.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, ago, durationText, plural } from '../ui/format.ts';
import { useKeys, useMedia, useNow, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';
import { toast } from '../ui/toast.tsx';
import { nextAfter, queueOrder } from './queue.ts';

type Status = 'pending' | 'confirmed' | 'overturned';

export function Reviews(props: { selected?: string }): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const status = (['confirmed', 'overturned'].includes(query.get('status') ?? '') ? query.get('status') : 'pending') as Status;
  const queue = useResource(async () => {
    const list = await api.reviews(status, 500);
    for (const d of list) rememberHandle(d.accountId, d.account?.handle ?? null);
    return list;
  }, [status]);
  // Pushed: a new decision joins the waiting queue; a reviewed one (here, elsewhere, or by an appeal) leaves it.
  usePush(['decision.created', 'decision.reviewed', 'reset'], (e) => {
    if (e.type === 'reset') return void queue.reload();
    const d = e.decision;
    if (d.account?.handle) rememberHandle(d.account.id, d.account.handle);
    queue.update((list) => {
      const rest = list.filter((x) => x.id !== d.id);
      return d.review.status === status ? [...rest, d] : rest;
    });
  });
  const banks = useResource(() => api.banks(), []);
  const radii = useMemo(() => new Map((banks.data?.banks ?? []).map((b) => [b.name, b.radius])), [banks.data]);
  const list = useMemo(() => (status === 'pending' ? queueOrder(queue.data ?? []) : (queue.data ?? [])), [queue.data, status]);
  const phone = useMedia('(max-width: 820px)');
  const now = useNow(15_000);
  const [dialog, setDialog] = useState<'confirm' | 'overturn' | null>(null);
  const [addToBank, setAddToBank] = useState(true);

  const selectedId = props.selected ?? (phone ? null : (list[0]?.id ?? null));
  const select = (id: string | null) =>
    navigate(
      id
        ? `/reviews/${encodeURIComponent(id)}${status === 'pending' ? '' : `?status=${status}`}`
        : `/reviews${status === 'pending' ? '' : `?status=${status}`}`,
      { replace: !phone },
    );
  const index = list.findIndex((d) => d.id === selectedId);
  const selected = index >= 0 ? list[index]! : null;
  const canAct = status === 'pending' && selected !== null && selected.review.status === 'pending';

  useKeys({
    j: () => list.length && select(list[Math.min(list.length - 1, index + 1)]!.id),
    k: () => list.length && select(list[Math.max(0, index - 1)]!.id),
    c: () => canAct && setDialog('confirm'),
    o: () => canAct && setDialog('overturn'),
  });

  const reviewed = (id: string, text: string) => {
    const next = nextAfter(list, id);
    queue.set((queue.data ?? []).filter((d) => d.id !== id));
    toast(text);
    select(next);
  };

  const oldest = status === 'pending' && list.length ? Math.min(...list.map((d) => Date.parse(d.decidedAt))) : null;
  const urgent = list.filter((d) => d.review.priority === 'urgent').length;

  const head = (
    <PageHead
      title="Review queue"
      sub={
        status === 'pending' ? (
          <span data-testid="queue-counter">
            <strong>{plural(list.length, 'decision')}</strong> waiting
            {oldest !== null && (
              <>
                {' '}
                · oldest waits <strong>{durationText(now - oldest)}</strong>
              </>
            )}
            {urgent > 0 && (
              <>
                {' '}
                · <Badge tone="critical">{urgent} urgent</Badge>
              </>
            )}
          </span>
        ) : (
          `Recently ${status} decisions`
        )
      }
      actions={
        <>
          <div class="segmented" role="tablist">
            {(['pending', 'confirmed', 'overturned'] as const).map((s) => (
              <Link
                key={s}
                href={s === 'pending' ? '/reviews' : `/reviews?status=${s}`}
                class={s === status ? 'active' : ''}
                role="tab"
                aria-selected={s === status}
              >
                {s === 'pending' ? 'Waiting' : s[0]!.toUpperCase() + s.slice(1)}
              </Link>
            ))}
          </div>
          <Button onClick={() => void queue.reload()} title="Reload the queue">
            Refresh
          </Button>
        </>
      }
    />
  );

  if (queue.error)
    return (
      <>
        {head}
        <ErrorBox error={queue.error} retry={queue.reload} />
      </>
    );
  if (!queue.data)
    return (
      <>
        {head}
        <Loading what="the queue" />
      </>
    );

  const listPane = (
    <div class="queue-list" role="listbox" aria-label="Decisions">
      {list.length === 0 && <Empty>{status === 'pending' ? 'Nothing waits for review. New decisions appear here.' : `No ${status} decisions.`}</Empty>}
      {list.map((d) => (
        <QueueItem key={d.id} d={d} active={d.id === selectedId} now={now} onSelect={() => select(d.id)} />
      ))}
    </div>
  );

  return (
    <>
      {head}
      <PushNote loadedAt={queue.loadedAt} what="the queue" />
      <div class={`split${phone && selected ? ' split-detail' : ''}`}>
        {(!phone || !selected) && listPane}
        {selected ? (
          <ReviewDetail
            key={selected.id}
            d={selected}
            radii={radii}
            canAct={canAct}
            onBack={phone ? () => select(null) : undefined}
            onConfirm={() => setDialog('confirm')}
            onOverturn={() => setDialog('overturn')}
          />
        ) : (
          !phone && list.length > 0 && <Empty>Select a decision.</Empty>
        )}
      </div>
      {selected && (
        <>
          <ReasonDialog
            open={dialog === 'confirm'}
            title="Confirm the violation"
            description={
              <p>
                The decision stands: the strike and suspension stay. <strong>{selected.ruleId}</strong> on stream <Mono>{selected.streamId}</Mono>.
              </p>
            }
            confirmLabel="Confirm violation"
            danger
            placeholder="What the evidence shows"
            onClose={() => setDialog(null)}
            onSubmit={async (reason) => {
              const r = await api.confirm(selected.id, reason, addToBank);
              reviewed(selected.id, r.confirmedBankAdded ? `Confirmed; ${plural(r.confirmedBankAdded, 'frame')} added to the confirmed bank` : 'Confirmed');
            }}
          >
            <label class="check">
              <input type="checkbox" checked={addToBank} onChange={(e) => setAddToBank((e.target as HTMLInputElement).checked)} name="addToBank" />
              <span>
                Add the evidence frames to the <strong>confirmed</strong> bank, so re-streams of this footage by other accounts are matched on their first
                frames
              </span>
            </label>
          </ReasonDialog>
          <ReasonDialog
            open={dialog === 'overturn'}
            title="Overturn the decision"
            description={<p>Voids the strike, lifts the suspension it caused and restores the right to go live at once.</p>}
            confirmLabel="Overturn"
            placeholder="Why the decision was wrong"
            onClose={() => setDialog(null)}
            onSubmit={async (reason) => {
              const r = await api.overturn(selected.id, reason);
              reviewed(selected.id, `Overturned: ${plural(r.strikesVoided, 'strike')} voided, ${plural(r.suspensionsLifted, 'suspension')} lifted`);
            }}
          />
        </>
      )}
    </>
  );
}

function QueueItem(props: { d: Decision; active: boolean; now: number; onSelect: () => void }): JSX.Element {
  const { d } = props;
  const handle = d.account?.handle ?? knownHandle(d.accountId, d.streamId);
  // Scrolled into view when it becomes the selection, not on every render (see Reports.tsx).
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (props.active) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [props.active]);
  return (
    <button
      type="button"
      ref={ref}
      role="option"
      aria-selected={props.active}
      class={`queue-item${props.active ? ' active' : ''}`}
      onClick={props.onSelect}
      data-decision={d.id}
    >
      <div class="queue-item-top">
        <Badge tone={priorityTone(d.review.priority)}>{d.review.priority ?? 'normal'}</Badge>
        <span class="queue-rule">{handle ? `@${handle}` : d.ruleId}</span>
        <span class="queue-age" title={d.decidedAt}>
          {ago(d.decidedAt, props.now)}
        </span>
      </div>
      <div class="queue-item-bottom">
        <span class="queue-summary">
          {handle ? `${d.ruleId} · ` : ''}
          {actionsSummary(d.actions)}
        </span>
        <span class="muted nowrap">{plural(d.evidence.length, 'frame')}</span>
      </div>
    </button>
  );
}

function ReviewDetail(props: {
  d: Decision;
  radii: Map<string, number>;
  canAct: boolean;
  onBack?: () => void;
  onConfirm: () => void;
  onOverturn: () => void;
}): JSX.Element {
  const { api } = useApp();
  const { d } = props;
  const detail = useResource(() => api.decision(d.id), [d.id]);
  return (
    <div class="detail" data-testid="review-detail">
      {props.onBack && (
        <Button variant="ghost" small onClick={props.onBack}>
          ← Queue
        </Button>
      )}
      <div class="detail-head">
        <div>
          <h2>
            {d.ruleId}{' '}
            <span class="detail-who">
              · <AccountOf accountId={d.accountId} streamId={d.streamId} handle={d.account?.handle} /> · {ago(d.decidedAt)}
            </span>
          </h2>
          <div class="detail-meta">
            <ReviewState d={d} /> <ActionChips actions={d.actions} shadow={d.shadow} />
          </div>
        </div>
        {props.canAct && (
          <div class="detail-actions">
            <Button variant="danger" kbd="c" onClick={props.onConfirm}>
              Confirm
            </Button>
            <Button variant="primary" kbd="o" onClick={props.onOverturn}>
              Overturn
            </Button>
          </div>
        )}
      </div>
      <Card title="Evidence">
        {detail.error ? (
          <ErrorBox error={detail.error} retry={detail.reload} />
        ) : (
          <EvidenceGrid decision={d} facts={detail.data?.evidenceFacts} radii={props.radii} />
        )}
      </Card>
      <Card title="Decision">
        <p class="reason">{d.reason}</p>
        <KeyValues
          items={[
            ['Account', <AccountOf accountId={d.accountId} streamId={d.streamId} handle={d.account?.handle} />],
            [
              'Stream',
              <Link href={`/streams/${encodeURIComponent(d.streamId)}`}>
                <Mono>{d.streamId}</Mono>
              </Link>,
            ],
            [
              'Decided',
              <>
                <Time at={d.decidedAt} /> by {actorText(d.decidedBy)}
              </>,
            ],
            ['Policy', <Mono>{d.policyVersion}</Mono>],
            ['Decision id', <Mono>{d.id}</Mono>],
            ...(d.review.status !== 'pending' && d.review.by
              ? ([
                  [
                    'Reviewed',
                    <>
                      {actorText(d.review.by)} · <Time at={d.review.at} /> · “{d.review.reason}”
                    </>,
                  ],
                ] as Array<[string, JSX.Element]>)
              : []),
          ]}
        />
        {detail.data && (detail.data.strikes.length > 0 || detail.data.suspensions.length > 0) && (
          <p class="muted">
            {plural(detail.data.strikes.filter((s) => s.voided_at === null).length, 'active strike')} and{' '}
            {plural(detail.data.suspensions.filter((s) => s.lifted_at === null).length, 'suspension')} come from this decision.
          </p>
        )}
      </Card>
    </div>
  );
}
