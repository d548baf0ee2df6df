import type { JSX } from 'preact';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { HBars, StackedBars } from '../ui/chart.tsx';
import { Button, Card, ErrorBox, Loading, NotAvailable, PageHead, Stat } from '../ui/components.tsx';
import { durationText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';
import { backlogAges, hourly, LIST_CAP, overturnRate, today } from './dashboard-stats.ts';

export function Dashboard(): JSX.Element {
  const { api } = useApp();
  const data = useResource(async () => {
    const [streams, pending, decisions, confirmed, overturned] = await Promise.all([
      api.streams(),
      api.reviews('pending', LIST_CAP),
      api.decisions({ limit: LIST_CAP }),
      api.reviews('confirmed', LIST_CAP),
      api.reviews('overturned', LIST_CAP),
    ]);
    return { streams, pending, decisions, confirmed, overturned, at: Date.now() };
  }, []);

  const head = (
    <PageHead title="Dashboard" sub="The gateway right now, and the last 24 hours" actions={<Button onClick={() => void data.reload()}>Refresh</Button>} />
  );
  if (data.error)
    return (
      <>
        {head}
        <ErrorBox error={data.error} retry={data.reload} />
      </>
    );
  if (!data.data)
    return (
      <>
        {head}
        <Loading what="the dashboard" />
      </>
    );
  const d = data.data;
  const now = d.at;
  const t = today(d.decisions, now);
  const capped = d.decisions.length >= LIST_CAP;
  const oldest = d.pending.length ? Math.min(...d.pending.map((x) => Date.parse(x.decidedAt))) : null;
  const urgent = d.pending.filter((x) => x.review.priority === 'urgent').length;
  const rate = overturnRate(d.confirmed, d.overturned, now);
  const hours = hourly(d.decisions, now);
  const more = capped ? '+' : '';

  return (
    <>
      {head}
      <PushNote loadedAt={data.loadedAt} what="these figures" />
      <div class="stats" data-testid="dashboard-stats">
        <Stat
          label="Live streams"
          value={<Link href="/live">{d.streams.length}</Link>}
          hint={`${d.streams.filter((s) => s.protocol === 'websocket').length} from browsers`}
        />
        <Stat
          label="Review backlog"
          value={<Link href="/reviews">{d.pending.length >= LIST_CAP ? `${LIST_CAP}+` : d.pending.length}</Link>}
          hint={oldest !== null ? `oldest waits ${durationText(now - oldest)}${urgent ? ` · ${urgent} urgent` : ''}` : 'nothing waits'}
          tone={urgent ? 'critical' : d.pending.length ? 'warn' : 'good'}
        />
        <Stat label="Decisions today" value={`${t.decisions}${more}`} hint="enforced, since midnight" />
        <Stat label="Cuts today" value={`${t.cuts}${more}`} tone={t.cuts ? 'bad' : 'neutral'} hint="feeds ended by a rule" />
        <Stat
          label="Overturn rate"
          value={rate.rate === null ? '—' : `${Math.round(rate.rate * 100)} %`}
          hint={rate.reviewed ? `${rate.overturned} of ${plural(rate.reviewed, 'review')}, last 30 days` : 'no reviews in 30 days'}
        />
      </div>
      <div class="grid-2">
        <Card title="Decisions per hour, last 24 h">
          <StackedBars
            title="Decisions per hour"
            labels={hours.map((h) => h.label)}
            series={[
              { label: 'cut', cls: 'chart-bad', values: hours.map((h) => h.cuts) },
              { label: 'review only', cls: 'chart-warn', values: hours.map((h) => h.reviewOnly) },
              { label: 'shadow', cls: 'chart-muted', values: hours.map((h) => h.shadow) },
            ]}
          />
          {capped && <p class="muted small">From the latest {LIST_CAP} decisions; earlier hours may be incomplete.</p>}
        </Card>
        <Card title="Review backlog by age">
          <HBars
            title="Backlog by age"
            rows={backlogAges(d.pending, now).map((r, i) => ({ ...r, cls: i >= 3 ? 'chart-bad' : i >= 2 ? 'chart-warn' : 'chart-a' }))}
          />
        </Card>
        <Card title="Time to cut, last 24 h" class="span-2">
          <NotAvailable feature="stats">
            The median and 95th percentile time from a violating frame's arrival to the cut need a statistics endpoint.
          </NotAvailable>
        </Card>
      </div>
    </>
  );
}
