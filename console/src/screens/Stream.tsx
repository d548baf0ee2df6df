import type { JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { AccountOf } from '../ui/account-link.tsx';
import type { Bank } from '../api/types.ts';
import type { StoredSignal } from '../api/work.ts';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, Time } from '../ui/components.tsx';
import { EvidenceImage } from '../ui/evidence.tsx';
import { StreamTimeline } from '../ui/stream-timeline.tsx';
import { timelinePoints } from '../ui/timeline-points.ts';
import { ActionChips, ReviewState } from '../ui/decision.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { SuspendDialog } from '../ui/suspend-dialog.tsx';
import { clockText, timeText } from '../ui/format.ts';
import { useNow, useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { LivePlayer } from '../ui/player.tsx';
import { usePush } from '../push/use-push.ts';
import { samplingText, topScores } from '../ui/stream-status.ts';

export function StreamPage(props: { id: string }): JSX.Element {
  const { api, session } = useApp();
  const live = useResource(() => api.streams().then((l) => l.find((s) => s.id === props.id) ?? null), [props.id]);
  const decisions = useResource(() => api.decisions({ streamId: props.id, limit: 200 }), [props.id]);
  const samples = useResource(() => api.samples(props.id).then((r) => r.samples), [props.id]);
  const signals = useResource(() => api.signals(props.id, { limit: 1000 }), [props.id]);
  const banks = useResource(() => api.banks(), []);
  const points = useMemo(() => timelinePoints(samples.data ?? [], signals.data?.signals ?? []), [samples.data, signals.data]);
  usePush(['stream.frame', 'stream.ended', 'decision.created', 'decision.reviewed'], (e) => {
    if (e.type === 'stream.frame' && e.streamId === props.id)
      samples.update((l) =>
        l.some((x) => x.seq === e.seq) ? l : [...l, { seq: e.seq, at: e.at, scores: e.scores, nearestBankDistance: e.nearestBankDistance }].slice(-600),
      );
    if (e.type === 'stream.frame' && e.streamId === props.id)
      live.update(
        (x) =>
          x && {
            ...x,
            frameSeq: e.seq,
            sampling: { ...x.sampling, mode: e.samplingMode, lastFrameAt: e.at, framesSampled: Math.max(x.sampling.framesSampled, e.seq + 1) },
            latest: { at: e.at, scores: e.scores, nearestBankDistance: e.nearestBankDistance },
          },
      );
    else if (e.type === 'stream.ended' && e.streamId === props.id) live.set(null);
    else if ((e.type === 'decision.created' || e.type === 'decision.reviewed') && e.decision.streamId === props.id) {
      decisions.update((l) => [e.decision, ...l.filter((d) => d.id !== e.decision.id)]);
      // The decision's signals are stored by now: read them for the timeline.
      if (e.type === 'decision.created') void signals.reload();
    }
  });
  const now = useNow(1000);
  const [dialog, setDialog] = useState<'cut' | 'suspend' | null>(null);
  const s = live.data;

  return (
    <>
      <PageHead
        title={s ? `@${s.account}` : 'Stream'}
        sub={
          <span class="chips">
            <Mono>{props.id}</Mono>
            {s ? <Badge tone="good">live · {clockText(now - Date.parse(s.startedAt))}</Badge> : live.data === null ? <Badge>not live</Badge> : null}
          </span>
        }
        actions={
          s && (
            <>
              <Button variant="danger" onClick={() => setDialog('cut')}>
                Cut feed…
              </Button>
              <Button onClick={() => setDialog('suspend')}>Suspend account…</Button>
            </>
          )
        }
      />
      {live.error && <ErrorBox error={live.error} retry={live.reload} />}
      <div class="grid-2">
        <Card title="Watch">
          {s?.watch.flv ? (
            <LivePlayer url={s.watch.flv} token={session.token} />
          ) : (
            <div class="player-placeholder">
              <p class="muted">{s ? 'This stream cannot be watched in the browser.' : 'Not live.'}</p>
            </div>
          )}
        </Card>
        <Card title="Stream">
          {live.data === undefined ? (
            <Loading />
          ) : s ? (
            <KeyValues
              items={[
                ['Account', <Link href={`/accounts/${encodeURIComponent(s.account)}`}>@{s.account}</Link>],
                ['Protocol', s.protocol === 'websocket' ? 'browser (WebSocket)' : 'RTMP'],
                ['Started', <Time at={s.startedAt} />],
                ['Play path', s.playPath ? <Mono>{s.playPath}</Mono> : '—'],
                [
                  'Sampling',
                  <span data-testid="stream-sampling">
                    {samplingText(s.sampling.mode)} · {s.sampling.framesSampled} frames
                    {s.sampling.lastFrameAt ? (
                      <>
                        {' '}
                        · last <Time at={s.sampling.lastFrameAt} />
                      </>
                    ) : (
                      ''
                    )}
                  </span>,
                ],
                [
                  'Latest scores',
                  s.latest ? (
                    <span class="chips">
                      {topScores(s.latest.scores).map(([n, v]) => (
                        <span key={n} class="mono small">
                          {n} {v.toFixed(3)}
                        </span>
                      ))}
                      {topScores(s.latest.scores).length === 0 && <span class="muted">no model scores</span>}
                    </span>
                  ) : (
                    <span class="muted">no frame sampled yet</span>
                  ),
                ],
                [
                  'Nearest bank hash',
                  s.latest ? (
                    s.latest.nearestBankDistance === null ? (
                      <span class="muted">none within radius</span>
                    ) : (
                      <strong>distance {s.latest.nearestBankDistance}</strong>
                    )
                  ) : (
                    '—'
                  ),
                ],
              ]}
            />
          ) : (
            <p class="muted">This stream is not live (it ended, or the id is unknown). Its decisions are below; the account page lists how it ended.</p>
          )}
        </Card>
      </div>
      <Card title="Timeline">
        {samples.error || signals.error ? (
          <ErrorBox error={samples.error ?? signals.error} />
        ) : !samples.data || !signals.data ? (
          <Loading what="the timeline" />
        ) : (
          <StreamTimeline points={points} decisions={decisions.data ?? []} radius={minRadius(banks.data?.banks)} />
        )}
        {decisions.error ? (
          <ErrorBox error={decisions.error} />
        ) : !decisions.data ? (
          <Loading />
        ) : decisions.data.length === 0 ? (
          <Empty>No decisions on this stream.</Empty>
        ) : (
          <ol class="timeline">
            {[...decisions.data].reverse().map((d) => (
              <li key={d.id}>
                <span class="timeline-time">{timeText(d.decidedAt)}</span>
                <div>
                  <div class="chips">
                    <Link
                      href={`/reviews/${encodeURIComponent(d.id)}${d.review.status === 'confirmed' || d.review.status === 'overturned' ? `?status=${d.review.status}` : ''}`}
                    >
                      <strong>{d.ruleId}</strong>
                    </Link>
                    <ActionChips actions={d.actions} shadow={d.shadow} /> <ReviewState d={d} />
                  </div>
                  <p class="reason small">{d.reason}</p>
                  {!s && d.accountId && (
                    <span class="muted small">
                      account <AccountOf accountId={d.accountId} streamId={d.streamId} handle={d.account?.handle} />
                    </span>
                  )}
                </div>
              </li>
            ))}
          </ol>
        )}
      </Card>
      <Card title="Stored signals">
        <SignalTable signals={signals.data?.signals ?? []} more={signals.data?.next ?? null} />
      </Card>
      {s && (
        <>
          <ReasonDialog
            open={dialog === 'cut'}
            title={`Cut @${s.account}'s feed`}
            description={<p>Ends this stream now. The account may go live again (suspend it to prevent that).</p>}
            confirmLabel="Cut feed"
            danger
            onClose={() => setDialog(null)}
            onSubmit={async (reason) => {
              await api.cut(s.id, reason);
              toast('Feed cut');
              await live.reload();
            }}
          />
          <SuspendDialog open={dialog === 'suspend'} handle={s.account} personBound onClose={() => setDialog(null)} onDone={live.reload} />
        </>
      )}
    </>
  );
}

const minRadius = (banks: Bank[] | undefined) => (banks && banks.length ? Math.min(...banks.filter((b) => b.enabled).map((b) => b.radius)) : undefined);

/** The stored signals (at or above the storage floor, every bank match), newest first, with their evidence frames. */
function SignalTable(props: { signals: StoredSignal[]; more: number | null }): JSX.Element {
  if (props.signals.length === 0) return <Empty>No signals stored for this stream (none reached the storage floor).</Empty>;
  const rows = [...props.signals].reverse();
  return (
    <div class="table-wrap">
      <table class="table table-compact signal-table" data-testid="signal-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Signal</th>
            <th class="num">Score</th>
            <th>Bank match</th>
            <th>Frame</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, 100).map((x) => (
            <tr key={x.id} data-testid="signal-row">
              <td class="nowrap">
                <Time at={x.observedAt} /> <span class="muted small">· {(x.frameTimeMs / 1000).toFixed(1)} s</span>
              </td>
              <td>
                {x.source} · {x.label}
              </td>
              <td class="num">{x.score === null ? '—' : x.score.toFixed(3)}</td>
              <td>
                {x.match ? (
                  <span>
                    <Link href={`/banks/${encodeURIComponent(x.match.bank)}?entry=${encodeURIComponent(x.match.entryId)}`}>{x.match.bank}</Link> · distance{' '}
                    <strong>{x.match.distance}</strong>
                    {x.match.variant !== 'original' ? ` · ${x.match.variant}` : ''}
                  </span>
                ) : (
                  '—'
                )}
              </td>
              <td>{x.evidence ? <EvidenceImage path={x.evidence.image} alt={`frame of signal ${x.id}`} class="signal-thumb" /> : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(rows.length > 100 || props.more !== null) && (
        <p class="muted small">
          Showing 100 of {props.more !== null ? 'more than ' : ''}
          {rows.length} stored signals, newest first.
        </p>
      )}
    </div>
  );
}
