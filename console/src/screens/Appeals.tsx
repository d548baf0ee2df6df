import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { rememberHandle } from '../api/handles.ts';
import type { Appeal } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate, useLocation } from '../app/router.tsx';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, Time } from '../ui/components.tsx';
import { ActionChips, EvidenceGrid, ReviewState } from '../ui/decision.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, ago, durationText, plural } from '../ui/format.ts';
import { usePush } from '../push/use-push.ts';
import { useKeys, useMedia, useNow, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';
import { toast } from '../ui/toast.tsx';

type Status = 'open' | 'upheld' | 'overturned';

export function Appeals(props: { selected?: string }): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const status = (['upheld', 'overturned'].includes(query.get('status') ?? '') ? query.get('status') : 'open') as Status;
  const appeals = useResource(async () => {
    const list = await api.appeals(status, 200);
    for (const a of list) rememberHandle(a.accountId, a.account);
    return list;
  }, [status]);
  // Appeals are few: a pushed change reloads the list.
  usePush(['appeal.created', 'appeal.decided', 'reset'], () => void appeals.reload());
  const phone = useMedia('(max-width: 820px)');
  const now = useNow(15_000);
  const [dialog, setDialog] = useState<'uphold' | 'overturn' | null>(null);
  const list = appeals.data ?? [];
  const suffix = status === 'open' ? '' : `?status=${status}`;
  const selectedId = props.selected ?? (phone ? null : (list[0]?.id ?? null));
  const select = (id: string | null) => navigate(id ? `/appeals/${encodeURIComponent(id)}${suffix}` : `/appeals${suffix}`, { replace: !phone });
  const index = list.findIndex((a) => a.id === selectedId);
  const selected = index >= 0 ? list[index]! : null;

  useKeys({
    j: () => list.length && select(list[Math.min(list.length - 1, index + 1)]!.id),
    k: () => list.length && select(list[Math.max(0, index - 1)]!.id),
  });

  const decided = (id: string, text: string) => {
    const i = list.findIndex((a) => a.id === id);
    const next = list[i + 1]?.id ?? list[i - 1]?.id ?? null;
    appeals.set(list.filter((a) => a.id !== id));
    toast(text);
    select(next);
  };
  const oldest = status === 'open' && list.length ? Math.min(...list.map((a) => Date.parse(a.createdAt))) : null;

  return (
    <>
      <PageHead
        title="Appeals"
        sub={
          status === 'open' ? (
            <>
              {plural(list.length, 'open appeal')}
              {oldest !== null && (
                <>
                  {' '}
                  · oldest waits <strong>{durationText(now - oldest)}</strong>
                </>
              )}
            </>
          ) : (
            `Recently ${status} appeals`
          )
        }
        actions={
          <>
            <div class="segmented" role="tablist">
              {(['open', 'upheld', 'overturned'] as const).map((s) => (
                <Link
                  key={s}
                  href={s === 'open' ? '/appeals' : `/appeals?status=${s}`}
                  class={s === status ? 'active' : ''}
                  role="tab"
                  aria-selected={s === status}
                >
                  {s[0]!.toUpperCase() + s.slice(1)}
                </Link>
              ))}
            </div>
            <Button onClick={() => void appeals.reload()}>Refresh</Button>
          </>
        }
      />
      <PushNote loadedAt={appeals.loadedAt} what="the appeals" />
      {appeals.error ? (
        <ErrorBox error={appeals.error} retry={appeals.reload} />
      ) : !appeals.data ? (
        <Loading what="appeals" />
      ) : (
        <div class={`split${phone && selected ? ' split-detail' : ''}`}>
          {(!phone || !selected) && (
            <div class="queue-list" role="listbox" aria-label="Appeals">
              {list.length === 0 && <Empty>{status === 'open' ? 'No open appeals.' : `No ${status} appeals.`}</Empty>}
              {list.map((a) => (
                <button
                  type="button"
                  key={a.id}
                  role="option"
                  aria-selected={a.id === selectedId}
                  class={`queue-item${a.id === selectedId ? ' active' : ''}`}
                  onClick={() => select(a.id)}
                >
                  <div class="queue-item-top">
                    <span class="queue-rule">@{a.account ?? a.accountId}</span>
                    <span class="queue-age">{ago(a.createdAt, now)}</span>
                  </div>
                  <div class="queue-item-bottom">
                    <span class="muted clamp">{a.statement}</span>
                  </div>
                </button>
              ))}
            </div>
          )}
          {selected && <AppealDetail key={selected.id} a={selected} onBack={phone ? () => select(null) : undefined} onDecide={setDialog} />}
        </div>
      )}
      {selected && (
        <>
          <ReasonDialog
            open={dialog === 'overturn'}
            title="Overturn on appeal"
            description={
              <p>
                {selected.target.kind === 'decision'
                  ? 'The streamer was right: the strike is voided, the suspension lifted, and they may go live again at once. They see your reason.'
                  : `The streamer was right: the ${selected.target.kind} is lifted and they may go live again at once. They see your reason.`}
              </p>
            }
            confirmLabel="Overturn"
            placeholder="Why the decision was wrong (the streamer reads this)"
            onClose={() => setDialog(null)}
            onSubmit={async (reason) => {
              await api.decideAppeal(selected.id, 'overturn', reason);
              decided(selected.id, `Appeal granted: ${selected.target.kind === 'decision' ? 'decision overturned' : `${selected.target.kind} lifted`}`);
            }}
          />
          <ReasonDialog
            open={dialog === 'uphold'}
            title={`Uphold the ${selected.target.kind}`}
            description={<p>The {selected.target.kind} stands. The streamer sees your reason.</p>}
            confirmLabel="Uphold"
            danger
            placeholder="Why the decision stands (the streamer reads this)"
            onClose={() => setDialog(null)}
            onSubmit={async (reason) => {
              await api.decideAppeal(selected.id, 'uphold', reason);
              decided(selected.id, `Appeal refused: ${selected.target.kind} upheld`);
            }}
          />
        </>
      )}
    </>
  );
}

function AppealDetail(props: { a: Appeal; onBack?: () => void; onDecide: (o: 'uphold' | 'overturn') => void }): JSX.Element {
  const { api } = useApp();
  const { a } = props;
  const d = a.decision;
  const detail = useResource(() => (d ? api.decision(d.id) : Promise.resolve(null)), [d?.id]);
  return (
    <div class="detail" data-testid="appeal-detail">
      {props.onBack && (
        <Button variant="ghost" small onClick={props.onBack}>
          ← Appeals
        </Button>
      )}
      <div class="detail-head">
        <div>
          <h2>Appeal by {a.account ? <Link href={`/accounts/${encodeURIComponent(a.account)}`}>@{a.account}</Link> : <Mono>{a.accountId}</Mono>}</h2>
          <div class="detail-meta">
            <Badge tone={a.status === 'open' ? 'warn' : a.status === 'overturned' ? 'good' : 'bad'}>{a.status}</Badge> filed <Time at={a.createdAt} />
          </div>
        </div>
        {a.status === 'open' && (
          <div class="detail-actions">
            <Button variant="danger" onClick={() => props.onDecide('uphold')}>
              Uphold
            </Button>
            <Button variant="primary" onClick={() => props.onDecide('overturn')}>
              Overturn
            </Button>
          </div>
        )}
      </div>
      <Card title="The streamer's statement">
        <blockquote class="statement">{a.statement}</blockquote>
        {a.status !== 'open' && (
          <p class="muted">
            {a.status === 'overturned' ? 'Overturned' : 'Upheld'} by {actorText(a.decidedBy)} <Time at={a.decidedAt} />: “{a.outcomeReason}”
          </p>
        )}
      </Card>
      {d ? (
        <>
          <Card title={<>Original decision · {d.ruleId}</>}>
            <div class="detail-meta">
              <ReviewState d={d} /> <ActionChips actions={d.actions} shadow={d.shadow} />
            </div>
            <p class="reason">{d.reason}</p>
            <KeyValues
              items={[
                [
                  'Decided',
                  <>
                    <Time at={d.decidedAt} /> by {actorText(d.decidedBy)}
                  </>,
                ],
                [
                  'Stream',
                  <Link href={`/streams/${encodeURIComponent(d.streamId)}`}>
                    <Mono>{d.streamId}</Mono>
                  </Link>,
                ],
                [
                  'Decision',
                  <Link
                    href={`/reviews/${encodeURIComponent(d.id)}${d.review.status === 'confirmed' || d.review.status === 'overturned' ? `?status=${d.review.status}` : ''}`}
                  >
                    <Mono>{d.id}</Mono>
                  </Link>,
                ],
              ]}
            />
          </Card>
          <Card title="Evidence">
            <EvidenceGrid decision={d} facts={detail.data?.evidenceFacts} />
          </Card>
        </>
      ) : a.restriction ? (
        <Card title={a.restriction.kind === 'ban' ? 'The platform ban appealed' : 'The suspension appealed'}>
          <p class="reason">{a.restriction.reason}</p>
          <KeyValues
            items={[
              [
                'Set',
                <>
                  <Time at={a.restriction.startsAt} /> by {actorText(a.restriction.by)}
                </>,
              ],
              ['Ends', a.restriction.endsAt ? <Time at={a.restriction.endsAt} /> : 'when lifted'],
              ['Category', a.restriction.category ?? <span class="muted">not given</span>],
              [
                'Lifted',
                a.restriction.liftedAt ? (
                  <>
                    <Time at={a.restriction.liftedAt} />: “{a.restriction.liftReason}”
                  </>
                ) : (
                  <span class="muted">in force</span>
                ),
              ],
              [a.restriction.kind === 'ban' ? 'Ban' : 'Suspension', <Mono>{a.restriction.id}</Mono>],
            ]}
          />
          <p class="muted small">
            No decision or evidence behind it: it was set by a person on the account
            {a.restriction.kind === 'ban' ? ' (a ban of the person, every account of theirs)' : ''}.
          </p>
        </Card>
      ) : (
        <p class="muted">
          What this appeal contests ({a.target.kind} {a.target.id}) could not be loaded.
        </p>
      )}
    </div>
  );
}
