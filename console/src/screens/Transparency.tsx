import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { TransparencyReport } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { navigate, useLocation } from '../app/router.tsx';
import { HBars, ShareBar } from '../ui/chart.tsx';
import { Button, Card, ErrorBox, KeyValues, Loading, PageHead } from '../ui/components.tsx';
import { latencyText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';

/**
 * The DSA transparency report (Art. 15 and 24) for a period, from GET /api/v1/transparency: the counts
 * an operator files, as charts where a share or a distribution matters, and the exact numbers beside
 * them; JSON and CSV downloads are the API's own answers. Periods are whole UTC days (the report's
 * convention); the URL keeps the period, so a report can be linked.
 */

const DAY = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const utcDay = (v: string) => Date.parse(`${v}T00:00:00Z`);

export function presets(now: number): Array<{ label: string; from: string; to: string }> {
  const d = new Date(now);
  const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const lastMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
  const half = d.getUTCMonth() < 6 ? Date.UTC(d.getUTCFullYear() - 1, 6, 1) : Date.UTC(d.getUTCFullYear(), 0, 1);
  return [
    { label: 'Last 7 days', from: isoDay(today - 6 * DAY), to: isoDay(today) },
    { label: 'Last 30 days', from: isoDay(today - 29 * DAY), to: isoDay(today) },
    { label: 'This month', from: isoDay(monthStart), to: isoDay(today) },
    { label: 'Last month', from: isoDay(lastMonth), to: isoDay(monthStart - DAY) },
    // Art. 24(2)/15: the harmonised reports cover half-years.
    { label: 'Last half-year', from: isoDay(half), to: isoDay(Date.UTC(new Date(half).getUTCFullYear(), new Date(half).getUTCMonth() + 6, 1) - DAY) },
  ];
}

const ms = latencyText;
const pct = (v: number | null) => (v === null ? '—' : `${Math.round(v * 1000) / 10} %`);
const rows = (o: Record<string, number>, cls = 'chart-a') => Object.entries(o).map(([label, value]) => ({ label: label.replace(/_/g, ' '), value, cls }));

function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function Transparency(): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const def = presets(Date.now())[1]!;
  const from = /^\d{4}-\d{2}-\d{2}$/.test(query.get('from') ?? '') ? query.get('from')! : def.from;
  const to = /^\d{4}-\d{2}-\d{2}$/.test(query.get('to') ?? '') ? query.get('to')! : def.to;
  // `to` is the last day shown, inclusive; the API's period is [from, to + 1 day).
  const period = { from: `${from}T00:00:00Z`, to: new Date(utcDay(to) + DAY).toISOString() };
  const report = useResource(() => api.transparency(period.from, period.to), [from, to]);
  const [draft, setDraft] = useState({ from, to });
  const setPeriod = (f: string, t: string) => {
    setDraft({ from: f, to: t });
    navigate(`/transparency?from=${f}&to=${t}`, { replace: true });
  };
  const bad = !(utcDay(draft.to) >= utcDay(draft.from));

  return (
    <>
      <PageHead
        title="Transparency report"
        sub="DSA Art. 15 and 24 counts for a period (UTC days): own-initiative measures, automation, accuracy, appeals, suspensions, bans, orders, notices (modgate’s own layout, not the 2024/2835 template)"
        actions={
          <>
            <Button
              disabled={!report.data}
              onClick={() =>
                report.data && download(`transparency-${from}-${to}.json`, new Blob([JSON.stringify(report.data, null, 2)], { type: 'application/json' }))
              }
            >
              Download JSON
            </Button>
            <Button
              onClick={async () => {
                try {
                  download(`transparency-${from}-${to}.csv`, await api.transparencyCsv(period.from, period.to));
                } catch (err) {
                  toast(String((err as Error).message), 'bad');
                }
              }}
            >
              Download CSV
            </Button>
          </>
        }
      />
      <form
        class="period-bar"
        data-testid="period"
        onSubmit={(e) => {
          e.preventDefault();
          if (!bad) setPeriod(draft.from, draft.to);
        }}
      >
        <label class="field">
          <span>From (UTC)</span>
          <input type="date" name="from" value={draft.from} onInput={(e) => setDraft({ ...draft, from: (e.target as HTMLInputElement).value })} />
        </label>
        <label class="field">
          <span>To, inclusive</span>
          <input type="date" name="to" value={draft.to} onInput={(e) => setDraft({ ...draft, to: (e.target as HTMLInputElement).value })} />
        </label>
        <Button type="submit" variant="primary" disabled={bad}>
          Show
        </Button>
        <span class="segmented" role="group" aria-label="Periods">
          {presets(Date.now()).map((p) => (
            <button type="button" key={p.label} class={p.from === from && p.to === to ? 'active' : ''} onClick={() => setPeriod(p.from, p.to)}>
              {p.label}
            </button>
          ))}
        </span>
        {bad && <span class="text-bad small">The end is before the start.</span>}
      </form>
      {report.error ? <ErrorBox error={report.error} retry={report.reload} /> : !report.data ? <Loading what="the report" /> : <ReportView r={report.data} />}
    </>
  );
}

const Figures = (props: { items: Array<[string, ComponentChildren]>; testid?: string }) => <KeyValues class="figures" {...props} />;

function ReportView(props: { r: TransparencyReport }): JSX.Element {
  const { r } = props;
  const o = r.ownInitiative;
  const a = r.automation;
  return (
    <div class="grid-2" data-testid="transparency-report">
      <Card title="Own-initiative measures" class="span-2">
        <Figures
          testid="own-initiative"
          items={[
            ['Measures', o.decisions],
            ['Feeds removed', o.byRestriction.content_removed],
            ['Accounts suspended', o.byRestriction.account_suspended],
            ['Accounts terminated', o.byRestriction.account_terminated],
          ]}
        />
        <div class="grid-2">
          <div>
            <h3 class="small muted">By detection source</h3>
            <HBars title="Measures by detection source" rows={rows(o.byDetectionSource)} />
          </div>
          <div>
            <h3 class="small muted">By category (statements of reasons)</h3>
            {Object.keys(o.byCategory).length ? (
              <HBars
                title="Measures by category"
                rows={rows(o.byCategory, 'chart-warn').map((x) => ({ ...x, label: x.label.replace(/^STATEMENT CATEGORY /, '').toLowerCase() }))}
              />
            ) : (
              <p class="muted small">No statement categories in this period.</p>
            )}
          </div>
        </div>
      </Card>
      <Card title="Use of automated means">
        <ShareBar
          title="Decisions by automation"
          parts={[
            { label: 'fully automated', value: a.fullyAutomatedDecisions, cls: 'chart-a' },
            { label: 'by a person', value: a.decisions - a.fullyAutomatedDecisions, cls: 'chart-muted' },
          ]}
        />
        <Figures
          testid="automation"
          items={[
            ['Decisions', a.decisions],
            ['Automated detection', `${a.automatedDetection} (${pct(a.automatedDetectionShare)})`],
            ['Fully automated', `${a.fullyAutomatedDecisions} (${pct(a.fullyAutomatedShare)})`],
          ]}
        />
      </Card>
      <Card title="Accuracy (reviews)">
        <ShareBar
          title="Reviewed decisions: confirmed and overturned"
          parts={[
            { label: 'confirmed', value: r.accuracy.confirmed, cls: 'chart-good' },
            { label: 'overturned', value: r.accuracy.overturned, cls: 'chart-bad' },
          ]}
        />
        <Figures
          testid="accuracy"
          items={[
            ['Reviewed', r.accuracy.reviewed],
            ['Overturn rate', pct(r.accuracy.overturnRate)],
          ]}
        />
      </Card>
      <Card title="Complaints (appeals)">
        <ShareBar
          title="Appeals by outcome"
          parts={[
            { label: 'upheld', value: r.appeals.upheld, cls: 'chart-good' },
            { label: 'overturned (reversed)', value: r.appeals.overturned, cls: 'chart-bad' },
            { label: 'open', value: r.appeals.open, cls: 'chart-muted' },
          ]}
        />
        <Figures
          testid="appeals"
          items={[
            ['Received', r.appeals.received],
            ['Median time to decide', ms(r.appeals.medianMsToDecide)],
          ]}
        />
      </Card>
      <Card title="Suspensions (Art. 23)">
        <HBars title="Suspensions by origin" rows={rows(r.suspensions.byOrigin, 'chart-warn')} />
        <Figures
          testid="suspensions"
          items={[
            ['Total', r.suspensions.total],
            ['Temporary', r.suspensions.temporary],
            ['Permanent', r.suspensions.permanent],
          ]}
        />
      </Card>
      <Card title="Bans of a person">
        <Figures
          testid="bans"
          items={[
            ['Total', r.personBans.total],
            ['Court-ordered', r.personBans.courtOrdered],
            ['Platform', r.personBans.platform],
            ['Temporary', r.personBans.temporary],
            ['Permanent', r.personBans.permanent],
            ['Lifted', r.personBans.lifted],
          ]}
        />
      </Card>
      <Card title="Removal orders (TCO, Art. 9 DSA)">
        <Figures
          testid="orders"
          items={[
            ['Received', r.removalOrders.received],
            ['Executed', r.removalOrders.executed],
            ['Within one hour', r.removalOrders.executedWithinDeadline],
            ['Overdue', r.removalOrders.overdue],
            ['Rejected', r.removalOrders.rejected],
            ['Open', r.removalOrders.open],
            ['Median to acknowledge', ms(r.removalOrders.medianMsToAcknowledge)],
            ['Median to execute', ms(r.removalOrders.medianMsToExecute)],
          ]}
        />
        {Object.keys(r.removalOrders.byMemberState).length > 0 && <HBars title="Orders by Member State" rows={rows(r.removalOrders.byMemberState)} />}
      </Card>
      <Card title="Notices (viewer reports, Art. 16)">
        <Figures
          testid="reports"
          items={[
            ['Received', r.viewerReports.received],
            ['Streams reported', r.viewerReports.streamsReported],
            ['Actioned', r.viewerReports.actioned],
            ['Dismissed', r.viewerReports.dismissed],
            ['Median time to action', ms(r.viewerReports.medianMsToAction)],
            ['Decisions on reports', r.viewerReports.decisionsOnReports],
          ]}
        />
        {Object.keys(r.viewerReports.byCategory).length > 0 && <HBars title="Reports by category" rows={rows(r.viewerReports.byCategory, 'chart-warn')} />}
      </Card>
      <Card title="Time to cut">
        <Figures
          testid="time-to-cut"
          items={[
            ['Cuts measured', r.timeToCut.cuts],
            ['Median', ms(r.timeToCut.medianMs)],
            ['95th percentile', ms(r.timeToCut.p95Ms)],
          ]}
        />
        <p class="muted small">
          From the first violating frame's arrival at the gateway (RTMP and WebM browser streams; others from its decoding) to the decision. Period{' '}
          {r.period.from.slice(0, 10)} to {r.period.to.slice(0, 10)} (end exclusive), as of {r.period.asOf.slice(0, 16).replace('T', ' ')} UTC;{' '}
          {plural(r.ownInitiative.decisions + r.viewerReports.decisionsOnReports, 'measure')} in all.
        </p>
      </Card>
    </div>
  );
}
