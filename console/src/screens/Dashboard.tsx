import type { JSX } from 'preact';
import type { Stats } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { usePush } from '../push/use-push.ts';
import { HBars, StackedBars } from '../ui/chart.tsx';
import { Button, Card, ErrorBox, Loading, PageHead, Stat } from '../ui/components.tsx';
import { durationText, latencyText, plural } from '../ui/format.ts';
import { useCoalesced, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';

/** Local midnight: "today" is the viewer's day, not UTC's. */
export function startOfToday(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const msText = latencyText;

/**
 * The gateway at a glance, from GET /api/v1/stats (computed in the database). Push keeps it current: a
 * stream starting or ending, a decision taken or reviewed, a viewer report re-reads the figures at once
 * (one request in flight at a time; a burst of events costs one more), so the live count and the
 * backlog move without a refresh and without polling.
 */
export function Dashboard(): JSX.Element {
  const { api } = useApp();
  const data = useResource(() => api.stats(new Date(startOfToday(Date.now())).toISOString()), []);
  const reread = useCoalesced(data.reload);
  usePush(['stream.started', 'stream.ended', 'decision.created', 'decision.reviewed', 'report.created', 'reset'], reread);

  const head = (
    <PageHead title="Dashboard" sub="The gateway right now, and the last 24 hours" actions={<Button onClick={() => void data.reload()}>Refresh</Button>} />
  );
  if (!data.data)
    return (
      <>
        {head}
        {data.error ? <ErrorBox error={data.error} retry={data.reload} /> : <Loading what="the dashboard" />}
      </>
    );
  const s: Stats = data.data;
  const hourLabel = (iso: string) => `${String(new Date(iso).getHours()).padStart(2, '0')}:00`;
  const rate = s.overturn.rate;

  return (
    <>
      {head}
      <PushNote loadedAt={data.loadedAt} what="these figures" />
      {data.error ? <ErrorBox error={data.error} retry={data.reload} /> : null}
      <div class="stats" data-testid="dashboard-stats">
        <Stat
          label="Live streams"
          value={
            <Link href="/live" data-testid="stat-live">
              {String(s.live.streams)}
            </Link>
          }
          hint={`${s.live.rtmp} RTMP · ${s.live.websocket} from browsers`}
        />
        <Stat
          label="Review backlog"
          value={
            <Link href="/reviews" data-testid="stat-backlog">
              {String(s.backlog.pending)}
            </Link>
          }
          hint={
            s.backlog.oldestAgeMs !== null
              ? `oldest ${durationText(s.backlog.oldestAgeMs)} · median ${durationText(s.backlog.medianAgeMs ?? 0)}${s.backlog.urgent ? ` · ${s.backlog.urgent} urgent` : ''}`
              : 'nothing waits'
          }
          tone={s.backlog.urgent ? 'critical' : s.backlog.pending ? 'warn' : 'good'}
        />
        <Stat
          label="Decisions today"
          value={<span data-testid="stat-decisions">{s.today.decisions}</span>}
          hint={`${s.today.cuts} ${s.today.cuts === 1 ? 'cut' : 'cuts'} · ${plural(s.today.suspensions, 'suspension')}`}
          tone={s.today.cuts ? 'bad' : 'neutral'}
        />
        <Stat
          label="Time to cut (24 h)"
          value={<span data-testid="stat-time-to-cut">{msText(s.timeToCut.medianMs)}</span>}
          hint={s.timeToCut.cuts ? `median · p95 ${msText(s.timeToCut.p95Ms)} · ${plural(s.timeToCut.cuts, 'cut')}` : 'no cuts in 24 h'}
        />
        <Stat
          label="Overturn rate"
          value={<span data-testid="stat-overturn">{rate === null ? '—' : `${Math.round(rate * 100)} %`}</span>}
          hint={s.overturn.reviewed ? `${s.overturn.overturned} of ${plural(s.overturn.reviewed, 'review')}, 30 days` : 'no reviews in 30 days'}
        />
      </div>
      {s.reports.open > 0 && (
        <p class="alert alert-warn" data-testid="open-reports">
          <Link href="/reports">
            {plural(s.reports.open, 'open viewer report')} on {plural(s.reports.streams, 'stream')}
          </Link>{' '}
          wait for a moderator.
        </p>
      )}
      <div class="grid-2">
        <Card title="Decisions per hour, last 24 h">
          <StackedBars
            title="Decisions per hour"
            labels={s.hourly.map((h) => hourLabel(h.start))}
            series={[
              { label: 'cut', cls: 'chart-bad', values: s.hourly.map((h) => h.cuts) },
              { label: 'other enforced', cls: 'chart-warn', values: s.hourly.map((h) => h.other) },
              { label: 'shadow', cls: 'chart-muted', values: s.hourly.map((h) => h.shadow) },
            ]}
          />
        </Card>
        <Card title="Review backlog by age">
          <HBars
            title="Backlog by age"
            rows={s.backlog.byAge.map((r, i) => ({ label: r.label, value: r.count, cls: i >= 3 ? 'chart-bad' : i >= 2 ? 'chart-warn' : 'chart-a' }))}
          />
        </Card>
        <Card title="Time to cut, last 24 h" class="span-2">
          <div data-testid="time-to-cut">
            <HBars
              title="Cuts by time from the first violating frame to the cut"
              rows={s.timeToCut.byTime.map((r, i) => ({ label: r.label, value: r.count, cls: i >= 5 ? 'chart-bad' : i >= 3 ? 'chart-warn' : 'chart-a' }))}
            />
            <p class="muted small">
              From the first violating frame's arrival at the gateway (RTMP and WebM browser streams; others from its decoding) to the decision (the feed ends
              at once).{' '}
              {s.timeToCut.cuts ? `Median ${msText(s.timeToCut.medianMs)}, 95th percentile ${msText(s.timeToCut.p95Ms)}.` : 'No cut in the last 24 hours.'}
            </p>
          </div>
        </Card>
      </div>
    </>
  );
}
