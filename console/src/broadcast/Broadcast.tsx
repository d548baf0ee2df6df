import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, HttpClient } from '../api/client.ts';
import { streamerApi } from '../api/endpoints.ts';
import type { MyAppealRef, StreamerStatus } from '../api/types.ts';
import { errorText } from '../ui/components.tsx';
import { clockText, dateTimeText } from '../ui/format.ts';
import { useNow } from '../ui/hooks.ts';
import { BrowserPublisher, type IngestEnd, type IngestState } from './ingest.ts';
import { categoryWords, explainEnd, type EndExplanation } from './words.ts';

const TOKEN_KEY = 'modgate.broadcast.streamerToken';

interface Devices {
  cameras: MediaDeviceInfo[];
  mics: MediaDeviceInfo[];
}

/** The streamer's page: camera and microphone, preview, go live over the WebSocket ingest, and why a feed ended. */
export function Broadcast(): JSX.Element {
  const video = useRef<HTMLVideoElement>(null);
  const [media, setMedia] = useState<MediaStream | null>(null);
  const [mediaError, setMediaError] = useState<string | null>(null);
  const [devices, setDevices] = useState<Devices>({ cameras: [], mics: [] });
  const [camera, setCamera] = useState('');
  const [mic, setMic] = useState('');
  const [key, setKey] = useState('');
  const [showKey, setShowKey] = useState(false);
  const [state, setState] = useState<IngestState>('idle');
  const [liveSince, setLiveSince] = useState<number | null>(null);
  const [end, setEnd] = useState<(EndExplanation & { at: number }) | null>(null);
  const [warning, setWarning] = useState<string | null>(null);
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? '');
  const [refreshStatus, setRefreshStatus] = useState(0);
  const publisher = useRef<BrowserPublisher | null>(null);
  const now = useNow(1000);

  const openMedia = async (cam?: string, microphone?: string) => {
    setMediaError(null);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: { ...(cam ? { deviceId: { exact: cam } } : {}), width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
        audio: microphone ? { deviceId: { exact: microphone } } : true,
      });
      media?.getTracks().forEach((t) => t.stop());
      setMedia(stream);
      const all = await navigator.mediaDevices.enumerateDevices();
      setDevices({ cameras: all.filter((d) => d.kind === 'videoinput'), mics: all.filter((d) => d.kind === 'audioinput') });
      setCamera(stream.getVideoTracks()[0]?.getSettings().deviceId ?? cam ?? '');
      setMic(stream.getAudioTracks()[0]?.getSettings().deviceId ?? microphone ?? '');
    } catch (err) {
      const name = (err as Error).name;
      setMediaError(
        name === 'NotAllowedError'
          ? 'The browser was not allowed to use the camera and microphone. Allow them in the address bar, then try again.'
          : name === 'NotFoundError'
            ? 'No camera or microphone was found.'
            : `The camera could not be opened: ${(err as Error).message}`,
      );
    }
  };

  useEffect(() => {
    if (video.current) video.current.srcObject = media;
  }, [media]);
  useEffect(() => () => media?.getTracks().forEach((t) => t.stop()), [media]);

  const goLive = (e: Event) => {
    e.preventDefault();
    if (!media || !key.trim()) return;
    setEnd(null);
    setWarning(null);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ingest`;
    const p = new BrowserPublisher(url, media, {
      onState: (s) => {
        setState(s);
        if (s === 'live') setLiveSince(Date.now());
      },
      onEnd: (x: IngestEnd) => {
        publisher.current = null;
        setLiveSince(null);
        if (x.byUser) setEnd({ ...explainEnd({ code: 1000, closeReason: '', ended: null }), at: Date.now() });
        else if (x.code === 0)
          setEnd({
            title: 'This browser cannot stream',
            body: 'It cannot record WebM or MP4 video. Use a current Chrome, Edge or Firefox.',
            words: null,
            suspended: false,
            suspendedUntil: null,
            appealable: false,
            decisionId: null,
            retry: false,
            at: Date.now(),
          });
        else setEnd({ ...explainEnd(x), at: Date.now() });
        setRefreshStatus((n) => n + 1);
      },
      onWarning: setWarning,
    });
    publisher.current = p;
    p.start(key.trim());
  };

  const live = state === 'live';
  const busy = state === 'connecting' || live;

  return (
    <div class="bc">
      <header class="bc-head">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            m
          </span>
          <span class="brand-name">modgate</span>
        </div>
        <span class="bc-title">Go live</span>
      </header>
      <main class="bc-main">
        <section class="bc-preview card">
          <div class="bc-video">
            <video ref={video} autoPlay muted playsInline aria-label="Camera preview" />
            {!media && <div class="bc-video-empty">Camera preview</div>}
            <span class={`bc-status bc-status-${state}`} data-testid="live-status">
              {live && liveSince ? `LIVE ${clockText(now - liveSince)}` : state === 'connecting' ? 'CONNECTING…' : 'OFFLINE'}
            </span>
          </div>
        </section>
        <section class="bc-controls card">
          {!media ? (
            <div>
              <h2>Camera and microphone</h2>
              <p class="muted">Your browser asks for permission. Nothing is sent until you go live.</p>
              <button type="button" class="btn btn-primary" onClick={() => void openMedia()}>
                Turn on camera and microphone
              </button>
              {mediaError && (
                <div class="alert alert-bad" role="alert">
                  {mediaError}
                </div>
              )}
            </div>
          ) : (
            <form onSubmit={goLive} autoComplete="off">
              <label class="field">
                <span>Camera</span>
                <select name="camera" value={camera} disabled={busy} onChange={(e) => void openMedia((e.target as HTMLSelectElement).value, mic)}>
                  {devices.cameras.map((d, i) => (
                    <option key={d.deviceId} value={d.deviceId}>
                      {d.label || `Camera ${i + 1}`}
                    </option>
                  ))}
                </select>
              </label>
              <label class="field">
                <span>Microphone</span>
                <select name="microphone" value={mic} disabled={busy} onChange={(e) => void openMedia(camera, (e.target as HTMLSelectElement).value)}>
                  {devices.mics.map((d, i) => (
                    <option key={d.deviceId} value={d.deviceId}>
                      {d.label || `Microphone ${i + 1}`}
                    </option>
                  ))}
                </select>
              </label>
              <label class="field">
                <span>Stream key</span>
                <span class="input-with-button">
                  <input
                    type={showKey ? 'text' : ('password' as 'text')}
                    name="streamKey"
                    value={key}
                    onInput={(e) => setKey((e.target as HTMLInputElement).value)}
                    placeholder="sk_…"
                    disabled={busy}
                    spellcheck={false}
                    autoComplete="off"
                  />
                  <button type="button" class="btn btn-ghost btn-small" onClick={() => setShowKey(!showKey)}>
                    {showKey ? 'Hide' : 'Show'}
                  </button>
                </span>
                <small class="muted">Kept in this page only; it is never put in a web address.</small>
              </label>
              {busy ? (
                <button type="button" class="btn btn-danger btn-block" onClick={() => publisher.current?.stop()}>
                  End stream
                </button>
              ) : (
                <button type="submit" class="btn btn-primary btn-block" disabled={!key.trim()}>
                  Go live
                </button>
              )}
              {warning && <div class="alert alert-warn">{warning}</div>}
            </form>
          )}
          {end && (
            <div class={`alert ${end.suspended ? 'alert-bad' : end.retry ? 'alert-warn' : 'alert-bad'} bc-end`} role="alert" data-testid="end-explanation">
              <strong>{end.title}</strong>
              <p>{end.body}</p>
              {end.words && <p data-testid="end-words">Why: {end.words}.</p>}
              {end.suspended && (
                <p data-testid="suspension-end">
                  {end.suspendedUntil === 'permanent'
                    ? 'The suspension is permanent.'
                    : end.suspendedUntil
                      ? `The suspension ends ${dateTimeText(end.suspendedUntil)}.`
                      : 'Your account status below says until when.'}
                </p>
              )}
              {end.appealable && (
                <p>
                  <a href="#account">See the decision{end.decisionId ? ` (${end.decisionId})` : ''} and appeal it</a> if you think it was wrong.
                </p>
              )}
            </div>
          )}
        </section>
        <AccountStatus
          token={token}
          refresh={refreshStatus}
          onToken={(t) => {
            setToken(t);
            if (t) sessionStorage.setItem(TOKEN_KEY, t);
            else sessionStorage.removeItem(TOKEN_KEY);
          }}
        />
      </main>
    </div>
  );
}

/** The streamer's own status (GET /api/v1/me) and appeals, with their account token. */
function AccountStatus(props: { token: string; refresh: number; onToken: (t: string) => void }): JSX.Element {
  const [draft, setDraft] = useState('');
  const [me, setMe] = useState<StreamerStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const api = streamerApi(new HttpClient(() => props.token || null));
  const load = async () => {
    if (!props.token) return setMe(null);
    setError(null);
    try {
      setMe(await api.me());
    } catch (err) {
      setMe(null);
      setError(err instanceof ApiError && err.status === 401 ? 'This streamer token is not valid or was revoked.' : errorText(err));
    }
  };
  useEffect(() => {
    void load();
  }, [props.token, props.refresh]);

  return (
    <section class="bc-account card" id="account">
      <header class="card-head">
        <h2>Your account</h2>
        {props.token && (
          <button type="button" class="linklike" onClick={() => props.onToken('')}>
            Forget token
          </button>
        )}
      </header>
      {!props.token ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (draft.trim()) props.onToken(draft.trim());
            setDraft('');
          }}
          autoComplete="off"
        >
          <p class="muted">To see whether you may go live, why a stream was stopped, and to appeal, enter your streamer token (at_…, from the platform).</p>
          <div class="input-with-button">
            <input
              type="password"
              name="streamerToken"
              value={draft}
              onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
              placeholder="at_…"
              spellcheck={false}
              autoComplete="off"
              aria-label="Streamer token"
            />
            <button type="submit" class="btn">
              Show my status
            </button>
          </div>
        </form>
      ) : error ? (
        <div class="alert alert-bad">{error}</div>
      ) : !me ? (
        <p class="muted">Loading…</p>
      ) : (
        <MeView me={me} onAppealed={load} api={api} />
      )}
    </section>
  );
}

function MeView(props: { me: StreamerStatus; api: ReturnType<typeof streamerApi>; onAppealed: () => Promise<void> }): JSX.Element {
  const { me } = props;
  const s = me.activeSuspension;
  const [appealing, setAppealing] = useState<string | null>(null);
  const notLive =
    me.goLive.reason === 'suspended' && s
      ? s.permanent
        ? 'Live streaming is suspended permanently.'
        : `Live streaming is suspended until ${dateTimeText(s.endsAt)}.`
      : me.goLive.reason === 'no_stream_key'
        ? 'Your account has no stream key; ask the platform for one.'
        : me.goLive.reason === 'not_verified' || me.goLive.reason === 'identity_revoked'
          ? 'Live streaming needs a verified identity.'
          : // A ban of the person or the minimum age: the gateway's own words (the ban's court order and end, the age).
            me.goLive.reason === 'banned' || me.goLive.reason === 'under_age' || me.goLive.reason === 'age_unverified'
            ? `${me.goLive.message.charAt(0).toUpperCase()}${me.goLive.message.slice(1)}.`
            : null;
  return (
    <div data-testid="me">
      <p>
        <strong>@{me.handle}</strong> · {me.canGoLive ? <span class="text-good">you may go live</span> : <span class="text-bad">you may not go live now</span>}
        {me.live ? ' · live now' : ''}
      </p>
      {notLive && (
        <div class="alert alert-bad" data-testid="me-suspension">
          {notLive}
          {s && (
            <>
              {' '}
              It was decided by {s.decidedBy === 'rule' ? 'an automatic rule' : 'a moderator'}
              {s.viaOtherAccount ? ', on another account of yours' : ''}.
            </>
          )}
          {s && s.decidedBy === 'moderator' && <p class="small">The moderator wrote: “{s.reason}”</p>}
          {s && (s.appealable || s.appeal) && (
            <AppealControl
              appeal={s.appeal}
              appealable={s.appealable}
              what="suspension"
              open={appealing === s.id}
              onOpen={(o) => setAppealing(o ? s.id : null)}
              send={(text) => props.api.appeal({ suspensionId: s.id }, text)}
              onSent={props.onAppealed}
            />
          )}
          {me.bans
            .filter((b) => b.appealable || b.appeal)
            .map((b) => (
              <div key={b.id} data-ban={b.id}>
                <p class="small">
                  The platform banned you from live streaming{b.endsAt ? ` until ${dateTimeText(b.endsAt)}` : ''}: “{b.reason}”
                </p>
                <AppealControl
                  appeal={b.appeal}
                  appealable={b.appealable}
                  what="ban"
                  open={appealing === b.id}
                  onOpen={(o) => setAppealing(o ? b.id : null)}
                  send={(text) => props.api.appeal({ banId: b.id }, text)}
                  onSent={props.onAppealed}
                />
              </div>
            ))}
        </div>
      )}
      {me.decisions.length > 0 && (
        <>
          <h3>Decisions about your streams</h3>
          <ul class="me-decisions">
            {me.decisions.map((d) => (
              <li key={d.id}>
                <div>
                  <strong>{dateTimeText(d.decidedAt)}</strong> · {d.decidedBy === 'rule' ? 'an automatic rule' : 'a moderator'}
                  {d.enforcement.strike ? ` · ${categoryWords(d.enforcement.strike.category)}` : ''}
                </div>
                <div class="small">
                  {[
                    d.enforcement.cut ? 'stream stopped' : null,
                    d.enforcement.suspension
                      ? d.enforcement.suspension.permanent
                        ? 'suspended permanently'
                        : `suspended until ${dateTimeText(d.enforcement.suspension.until)}`
                      : null,
                    d.enforcement.strike ? 'strike on your account' : null,
                    d.enforcement.warning ? `warning: ${d.enforcement.warning}` : null,
                  ]
                    .filter(Boolean)
                    .join(' · ')}
                  {' · '}
                  {d.reviewStatus === 'pending'
                    ? 'awaiting a moderator'
                    : d.reviewStatus === 'confirmed'
                      ? 'confirmed by a moderator'
                      : d.reviewStatus === 'overturned'
                        ? 'overturned'
                        : ''}
                </div>
                <AppealControl
                  appeal={d.appeal}
                  appealable={d.appealable}
                  what="decision"
                  open={appealing === d.id}
                  onOpen={(o) => setAppealing(o ? d.id : null)}
                  send={(text) => props.api.appeal({ decisionId: d.id }, text)}
                  onSent={props.onAppealed}
                />
              </li>
            ))}
          </ul>
          <p class="muted small">You may appeal each decision once. If it is overturned, its strike is removed and you may go live again at once.</p>
        </>
      )}
      {me.statements.length > 0 && (
        <>
          <h3>Statements of reasons</h3>
          <p class="muted small">Why each restriction on your account was made, on what ground and how it was decided (EU Digital Services Act, Art. 17).</p>
          <ul class="me-statements" data-testid="me-statements">
            {me.statements.map((st) => (
              <li key={st.id} data-statement={st.id}>
                <div>
                  <strong>{dateTimeText(st.decidedAt)}</strong>
                  {st.status === 'overturned' ? <span class="text-good"> · overturned</span> : null}
                </div>
                {st.text.map((line, i) => (
                  <p key={i} class="small">
                    {line}
                  </p>
                ))}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

/**
 * One restriction's appeal: its state once sent, else a button that opens the form (one open at a time,
 * `open`/`onOpen` held by the page).
 */
function AppealControl(props: {
  appeal: MyAppealRef | null;
  appealable: boolean;
  what: 'decision' | 'suspension' | 'ban';
  open: boolean;
  onOpen: (open: boolean) => void;
  send: (statement: string) => Promise<unknown>;
  onSent: () => Promise<void>;
}): JSX.Element | null {
  const [statement, setStatement] = useState('');
  const [error, setError] = useState<string | null>(null);
  if (props.appeal)
    return (
      <div class="small" data-appeal-state={props.appeal.status}>
        Appeal {props.appeal.status === 'open' ? 'sent; a moderator will decide it' : props.appeal.status}
        {props.appeal.outcome?.reason ? `: “${props.appeal.outcome.reason}”` : ''}
      </div>
    );
  if (!props.appealable) return null;
  if (!props.open)
    return (
      <button type="button" class="btn btn-small" onClick={() => props.onOpen(true)}>
        Appeal this {props.what}
      </button>
    );
  return (
    <form
      class="appeal-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          await props.send(statement.trim());
          props.onOpen(false);
          setStatement('');
          await props.onSent();
        } catch (err) {
          setError(errorText(err));
        }
      }}
    >
      <label class="field">
        <span>Why was this {props.what} wrong?</span>
        <textarea rows={3} value={statement} maxLength={2000} onInput={(e) => setStatement((e.target as HTMLTextAreaElement).value)} name="statement" />
      </label>
      {error && <div class="alert alert-bad">{error}</div>}
      <button type="submit" class="btn btn-primary btn-small" disabled={!statement.trim()}>
        Send appeal
      </button>{' '}
      <button type="button" class="btn btn-ghost btn-small" onClick={() => props.onOpen(false)}>
        Cancel
      </button>
    </form>
  );
}
