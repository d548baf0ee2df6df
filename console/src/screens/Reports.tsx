import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ReportCategory, ReportedStream } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate } from '../app/router.tsx';
import { usePush } from '../push/use-push.ts';
import { Badge, Button, Empty, ErrorBox, Loading, Mono, PageHead, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { ago, clockText, plural } from '../ui/format.ts';
import { useCoalesced, useKeys, useNow, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';
import { SuspendDialog } from '../ui/suspend-dialog.tsx';
import { toast } from '../ui/toast.tsx';
import { Thumbnail } from './Live.tsx';

/** What viewers chose, in a moderator's words; the most urgent first. */
export const CATEGORY_TEXT: Record<ReportCategory, string> = {
  imminent_harm: 'imminent harm',
  terrorism: 'terrorism',
  child_safety: 'child safety',
  violence: 'violence',
  self_harm: 'self-harm',
  hate: 'hate',
  other: 'other',
};
const URGENT: ReadonlySet<string> = new Set(['imminent_harm', 'child_safety', 'terrorism', 'self_harm']);

type Pending = { kind: 'cut' | 'suspend' | 'dismiss'; item: ReportedStream } | null;

/**
 * Viewer reports in real time (DSA notices; Ofcom's "a human acts in real time"): every reported stream
 * with its live frame, what viewers reported and how many of them independently, oldest report first
 * among equals (the gateway's order). A new report is pushed (report.created) and the list re-read; the
 * frames follow the sampler's pushes. Cut or suspend closes the stream's reports as actioned, dismiss as
 * dismissed, each with the moderator's reason (audited). Keys, as in the review queue: j/k select a stream,
 * c cuts it, s suspends its account, d dismisses its reports, w opens its page to watch.
 */
export function Reports(): JSX.Element {
  const { api } = useApp();
  const reports = useResource(() => api.reports('open'), []);
  const now = useNow(1000);
  const [pending, setPending] = useState<Pending>(null);
  const reread = useCoalesced(reports.reload);

  usePush(['report.created', 'stream.ended', 'stream.frame', 'reset'], (e) => {
    if (e.type === 'stream.frame') {
      return reports.update((list) =>
        list.map((r) =>
          r.streamId === e.streamId && r.live
            ? { ...r, live: { ...r.live, frameSeq: e.seq, latest: { at: e.at, scores: e.scores, nearestBankDistance: e.nearestBankDistance } } }
            : r,
        ),
      );
    }
    if (e.type === 'stream.ended') return reports.update((list) => list.map((r) => (r.streamId === e.streamId ? { ...r, live: null } : r)));
    // A new report re-reads the queue at once; a burst costs one more read, not one per report.
    reread();
  });

  const list = reports.data ?? [];
  // The selection follows the stream, not the position: a report arriving above it does not move it.
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const index = Math.max(
    0,
    list.findIndex((r) => r.streamId === selectedId),
  );
  const selected = list[index] ?? null;
  const act = (kind: 'cut' | 'suspend' | 'dismiss') => {
    if (!selected || (kind === 'cut' && !selected.live) || (kind === 'suspend' && !selected.account)) return;
    setPending({ kind, item: selected });
  };
  useKeys(
    {
      j: () => list.length && setSelectedId(list[Math.min(list.length - 1, index + 1)]!.streamId),
      k: () => list.length && setSelectedId(list[Math.max(0, index - 1)]!.streamId),
      c: () => act('cut'),
      s: () => act('suspend'),
      d: () => act('dismiss'),
      w: () => selected && navigate(`/streams/${encodeURIComponent(selected.streamId)}`),
    },
    pending === null,
  );
  const resolved = async (item: ReportedStream, action: 'cut' | 'suspended' | 'none', reason: string) => {
    const r = await api.resolveReports(item.streamId, action, reason);
    reports.update((l) => l.filter((x) => x.streamId !== item.streamId));
    toast(`${plural(r.resolved, 'report')} ${action === 'none' ? 'dismissed' : 'closed as actioned'}`);
  };

  return (
    <>
      <PageHead
        title="Viewer reports"
        sub={reports.data ? `${plural(list.length, 'reported stream')} waiting · most independent reports first` : 'Streams viewers reported, in real time'}
        actions={<Button onClick={() => void reports.reload()}>Refresh</Button>}
      />
      <PushNote loadedAt={reports.loadedAt} what="the queue" />
      {reports.error ? (
        <ErrorBox error={reports.error} retry={reports.reload} />
      ) : !reports.data ? (
        <Loading what="viewer reports" />
      ) : list.length === 0 ? (
        <Empty>No open viewer reports. A report appears here the moment a viewer sends it.</Empty>
      ) : (
        <div class="report-list" data-testid="reports-queue" aria-label="Reported streams (j/k to move, c cut, s suspend, d dismiss, w watch)">
          {list.map((r) => (
            <ReportCard
              key={r.streamId}
              r={r}
              now={now}
              active={r === selected}
              onSelect={() => setSelectedId(r.streamId)}
              act={(kind) => {
                setSelectedId(r.streamId);
                setPending({ kind, item: r });
              }}
            />
          ))}
        </div>
      )}

      <ReasonDialog
        open={pending?.kind === 'cut'}
        title={pending ? `Cut ${pending.item.account ? `@${pending.item.account}` : 'this stream'}` : 'Cut'}
        description={<p>Ends the stream now and closes its reports as actioned. The account may go live again (suspend it to prevent that).</p>}
        confirmLabel="Cut feed"
        danger
        onClose={() => setPending(null)}
        onSubmit={async (reason) => {
          if (!pending) return;
          await api.cut(pending.item.streamId, reason);
          await resolved(pending.item, 'cut', reason);
        }}
      />
      <ReasonDialog
        open={pending?.kind === 'dismiss'}
        title="Dismiss these reports"
        description={<p>Nothing is done to the stream; its reports are closed as dismissed. New reports raise it again.</p>}
        confirmLabel="Dismiss"
        onClose={() => setPending(null)}
        onSubmit={async (reason) => {
          if (pending) await resolved(pending.item, 'none', reason);
        }}
      />
      {pending?.kind === 'suspend' && pending.item.account && (
        <SuspendDialog
          open
          handle={pending.item.account}
          personBound
          onClose={() => setPending(null)}
          onDone={async (reason) => {
            await resolved(pending.item, 'suspended', reason);
          }}
        />
      )}
    </>
  );
}

function ReportCard(props: {
  r: ReportedStream;
  now: number;
  active: boolean;
  onSelect: () => void;
  act: (kind: 'cut' | 'suspend' | 'dismiss') => void;
}): JSX.Element {
  const { r } = props;
  const cats = Object.entries(r.categories).sort((a, b) => Number(URGENT.has(b[0])) - Number(URGENT.has(a[0])) || b[1] - a[1]);
  const urgent = cats.some(([c]) => URGENT.has(c));
  // Scrolled into view when it becomes the selection, not on every render: the queue re-renders each second
  // (ages), and a moderator who scrolled away was pulled back to the selection within a second.
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (props.active) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [props.active]);
  return (
    <article
      ref={ref}
      aria-current={props.active ? 'true' : undefined}
      class={`report-card${urgent ? ' report-urgent' : ''}${props.active ? ' active' : ''}`}
      data-report-stream={r.streamId}
      onClick={props.onSelect}
    >
      <div class="stream-thumb report-thumb">
        {r.live ? (
          <>
            <Thumbnail id={r.streamId} seq={r.live.frameSeq ?? (r.live.latest ? 0 : -1)} account={r.account ?? r.streamId} />
            <span class="live-dot">LIVE</span>
          </>
        ) : (
          <span class="stream-thumb-note">stream ended</span>
        )}
      </div>
      <div class="report-body">
        <div class="report-top">
          <strong>{r.account ? <Link href={`/accounts/${encodeURIComponent(r.account)}`}>@{r.account}</Link> : 'unknown account'}</strong>
          {r.live && <span class="mono uptime">{clockText(props.now - Date.parse(r.live.startedAt))}</span>}
        </div>
        <div class="chips" data-testid="report-categories">
          {cats.map(([c, n]) => (
            <Badge key={c} tone={URGENT.has(c) ? 'critical' : 'warn'}>
              {CATEGORY_TEXT[c as ReportCategory] ?? c} ×{n}
            </Badge>
          ))}
        </div>
        <p class="report-count" data-testid="report-count">
          <strong>{plural(r.independentReports, 'independent report')}</strong>
          {r.reports > r.independentReports ? ` (${r.reports} in all)` : ''} · first {ago(r.firstAt, props.now)}, latest <Time at={r.lastAt} />
        </p>
        {r.notes.length > 0 && (
          <ul class="report-notes">
            {r.notes.slice(-3).map((n) => (
              <li key={n.at + n.note}>
                “{n.note}” <span class="muted small">— {CATEGORY_TEXT[n.category]}</span>
              </li>
            ))}
          </ul>
        )}
        <div class="report-actions">
          <Link href={`/streams/${encodeURIComponent(r.streamId)}`} class="btn btn-small">
            Watch
          </Link>
          {r.live && (
            <Button small variant="danger" kbd={props.active ? 'c' : undefined} onClick={() => props.act('cut')}>
              Cut…
            </Button>
          )}
          {r.account && (
            <Button small kbd={props.active ? 's' : undefined} onClick={() => props.act('suspend')}>
              Suspend…
            </Button>
          )}
          <Button small kbd={props.active ? 'd' : undefined} onClick={() => props.act('dismiss')}>
            Dismiss…
          </Button>
          <Mono>{r.streamId}</Mono>
        </div>
      </div>
    </article>
  );
}
