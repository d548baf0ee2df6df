import type { JSX } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LiveStream } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { usePush } from '../push/use-push.ts';
import { Badge, Button, Empty, ErrorBox, Loading, Mono, PageHead } from '../ui/components.tsx';
import { clockText, plural } from '../ui/format.ts';
import { useNow, useResource } from '../ui/hooks.ts';
import { PushNote } from '../ui/push-note.tsx';
import { samplingText, topScores } from '../ui/stream-status.ts';

export function Live(): JSX.Element {
  const { api } = useApp();
  const streams = useResource(() => api.streams(), []);
  const now = useNow(1000);

  usePush(['stream.started', 'stream.ended', 'stream.frame', 'reset'], (e) => {
    if (e.type === 'reset') return void streams.reload();
    streams.update((list) => {
      if (e.type === 'stream.started') return list.some((s) => s.id === e.stream.id) ? list : [...list, e.stream];
      if (e.type === 'stream.ended') return list.filter((s) => s.id !== e.streamId);
      return list.map((s) =>
        s.id === e.streamId
          ? {
              ...s,
              frameSeq: e.seq,
              sampling: { ...s.sampling, mode: e.samplingMode, lastFrameAt: e.at, framesSampled: Math.max(s.sampling.framesSampled, e.seq + 1) },
              latest: { at: e.at, scores: e.scores, nearestBankDistance: e.nearestBankDistance },
            }
          : s,
      );
    });
  });

  const list = streams.data ?? [];
  return (
    <>
      <PageHead
        title="Live"
        sub={
          streams.data
            ? `${plural(list.length, 'live stream')} · ${list.filter((s) => s.protocol === 'rtmp').length} RTMP, ${list.filter((s) => s.protocol === 'websocket').length} browser`
            : 'Every live stream the gateway relays'
        }
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
        <div class="live-grid" data-testid="live-grid">
          {list.map((s) => (
            <StreamCard key={s.id} s={s} uptime={clockText(now - Date.parse(s.startedAt))} />
          ))}
        </div>
      )}
    </>
  );
}

const StreamCard = memo(function StreamCard(props: { s: LiveStream; uptime: string }): JSX.Element {
  const { s } = props;
  const scores = topScores(s.latest?.scores ?? {});
  return (
    <Link href={`/streams/${encodeURIComponent(s.id)}`} class="stream-card" data-stream={s.id}>
      <div class="stream-thumb">
        <Thumbnail id={s.id} seq={s.frameSeq ?? (s.latest ? 0 : -1)} account={s.account} />
        <span class="live-dot">LIVE</span>
      </div>
      <div class="stream-card-body">
        <div class="stream-card-top">
          <strong>@{s.account}</strong>
          <span class="mono uptime">{props.uptime}</span>
        </div>
        <div class="stream-card-meta">
          <Badge tone="info">{s.protocol === 'websocket' ? 'browser' : 'RTMP'}</Badge>
          <Badge tone={s.sampling.mode === 'off' ? 'warn' : 'neutral'} title="Sampling mode">
            {samplingText(s.sampling.mode)}
          </Badge>
          <Mono>{s.id}</Mono>
        </div>
        <div class="stream-card-scores" data-testid="stream-scores">
          {s.latest === null ? (
            <span class="muted">no frame sampled yet</span>
          ) : (
            <>
              {scores.map(([name, v]) => (
                <span key={name} class={`score${v >= 0.5 ? ' score-hot' : ''}`} title={name}>
                  {name} <strong>{v.toFixed(2)}</strong>
                </span>
              ))}
              <span class={`score${s.latest.nearestBankDistance !== null ? ' score-hot' : ''}`} title="Nearest bank hash (PDQ bits)">
                bank {s.latest.nearestBankDistance === null ? <span class="muted">no match</span> : <strong>d={s.latest.nearestBankDistance}</strong>}
              </span>
            </>
          )}
        </div>
      </div>
    </Link>
  );
});

/** The stream's latest sampled frame; fetched (with the token) when a newer frame is pushed, one request at a time. */
export function Thumbnail(props: { id: string; seq: number; account: string }): JSX.Element {
  const { api } = useApp();
  const [url, setUrl] = useState<string | null>(null);
  const busy = useRef(false);
  const wanted = useRef(props.seq);
  const loaded = useRef(-2);
  wanted.current = props.seq;

  useEffect(() => {
    let alive = true;
    const load = async () => {
      if (busy.current || wanted.current < 0 || wanted.current === loaded.current) return;
      busy.current = true;
      const target = wanted.current;
      try {
        const blob = await api.frame(props.id);
        if (!alive) return;
        loaded.current = target;
        setUrl((old) => {
          if (old) URL.revokeObjectURL(old);
          return URL.createObjectURL(blob);
        });
      } catch {
        loaded.current = target; // not sampled yet or ended: wait for the next push
      } finally {
        busy.current = false;
      }
      if (alive && wanted.current !== loaded.current) void load();
    };
    void load();
    return () => {
      alive = false;
    };
  }, [props.seq]);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);

  return url ? (
    <img class="stream-thumb-img" src={url} alt={`Latest frame of @${props.account}`} data-testid="thumbnail" />
  ) : (
    <span class="stream-thumb-note">no frame yet</span>
  );
}
