import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

type PlayerState = 'loading' | 'playing' | 'error' | 'unsupported';

/**
 * Watch live: the gateway's HTTP-FLV (GET /api/v1/streams/{id}/live.flv) in mpegts.js, which fetches it
 * with the Authorization header (the token never goes in a URL). mpegts.js (~200 KB) loads only when a
 * stream page opens, so the console's first load stays small. Muted so the browser lets it start itself.
 */
export function LivePlayer(props: { url: string; token: string }): JSX.Element {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<PlayerState>('loading');
  const [detail, setDetail] = useState('');

  useEffect(() => {
    let alive = true;
    let destroy: (() => void) | null = null;
    setState('loading');
    void import('mpegts.js')
      .then(({ default: mpegts }) => {
        if (!alive || !video.current) return;
        if (!mpegts.isSupported()) return setState('unsupported');
        const player = mpegts.createPlayer(
          { type: 'flv', isLive: true, url: new URL(props.url, location.origin).href },
          { headers: { Authorization: `Bearer ${props.token}` }, enableStashBuffer: false, liveBufferLatencyChasing: true, lazyLoad: false },
        );
        player.on(mpegts.Events.ERROR, (type: string, info: string) => {
          setDetail(`${type}: ${info}`);
          setState('error');
        });
        player.attachMediaElement(video.current);
        player.load();
        void Promise.resolve(player.play()).catch(() => {});
        destroy = () => player.destroy();
      })
      .catch((err: unknown) => {
        setDetail(String((err as Error).message ?? err));
        setState('error');
      });
    return () => {
      alive = false;
      destroy?.();
    };
  }, [props.url, props.token]);

  return (
    <div class="player">
      <video ref={video} muted playsInline controls data-testid="player" data-state={state} onPlaying={() => setState('playing')} />
      {state === 'unsupported' && <p class="player-note">This browser cannot play live video (no Media Source Extensions).</p>}
      {state === 'error' && <p class="player-note">The live video stopped ({detail}). It ends when the stream ends; reload the page to try again.</p>}
    </div>
  );
}
