import type { JSX } from 'preact';
import type { LiveStream } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { Badge, Button, Empty, ErrorBox, Loading, Mono, NotAvailable, PageHead } from '../ui/components.tsx';
import { clockText, plural } from '../ui/format.ts';
import { useNow, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';

export function Live(): JSX.Element {
  const { api } = useApp();
  const streams = useResource(() => api.streams(), []);
  const now = useNow(1000);
  const list = streams.data ?? [];
  return (
    <>
      <PageHead
        title="Live"
        sub={streams.data ? `${plural(list.length, 'live stream')} · ${list.filter((s) => s.protocol === 'rtmp').length} RTMP, ${list.filter((s) => s.protocol === 'websocket').length} browser` : 'Every live stream the gateway relays'}
        actions={<Button onClick={() => void streams.reload()}>Refresh</Button>}
      />
      <PushNote loadedAt={streams.loadedAt} what="the list" />
      {streams.error ? (
        <ErrorBox error={streams.error} retry={streams.reload} />
      ) : !streams.data ? (
        <Loading what="live streams" />
      ) : list.length === 0 ? (
        <Empty>Nobody is live. Streams appear here when a verified account starts publishing.</Empty>
      ) : (
        <>
          <div class="live-grid" data-testid="live-grid">
            {list.map((s) => (
              <StreamCard key={s.id} s={s} now={now} />
            ))}
          </div>
          <NotAvailable feature="thumbnails" compact>
            Each card will show the stream's latest sampled frame, its sampling mode and its latest scores, pushed as frames are sampled.
          </NotAvailable>
        </>
      )}
    </>
  );
}

function StreamCard(props: { s: LiveStream; now: number }): JSX.Element {
  const { s } = props;
  return (
    <Link href={`/streams/${encodeURIComponent(s.id)}`} class="stream-card" data-stream={s.id}>
      <div class="stream-thumb" aria-hidden="true">
        <span class="live-dot">LIVE</span>
        <span class="stream-thumb-note">no thumbnail yet</span>
      </div>
      <div class="stream-card-body">
        <div class="stream-card-top">
          <strong>@{s.account}</strong>
          <span class="mono uptime">{clockText(props.now - Date.parse(s.startedAt))}</span>
        </div>
        <div class="stream-card-meta">
          <Badge tone="info">{s.protocol === 'websocket' ? 'browser' : 'RTMP'}</Badge>
          <Mono>{s.id}</Mono>
        </div>
      </div>
    </Link>
  );
}
