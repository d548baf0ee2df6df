import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.ts';
import { signIn, type Session } from '../app/session.ts';
import { Button, errorText } from '../ui/components.tsx';

export function SignIn(props: { onSignedIn: (s: Session) => void }): JSX.Element {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return setError('Paste your admin token.');
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await signIn(t));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'This token is not valid, or it was revoked. Ask an operator for a new one.' : errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <form class="signin-card" onSubmit={submit} autoComplete="off">
        <div class="brand brand-large">
          <span class="brand-mark" aria-hidden="true">
            m
          </span>
          <span class="brand-name">modgate</span>
        </div>
        <h1>Sign in to the console</h1>
        <p class="muted">
          For moderators and operators. Use the admin token issued to you with <code>modgate token issue --role moderator|operator NAME</code>.
        </p>
        <label class="field">
          <span>Admin token</span>
          <input
            type="password"
            name="token"
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            placeholder="mg_…"
            autoFocus
            spellcheck={false}
            autoComplete="off"
          />
        </label>
        {error && (
          <div class="alert alert-bad" role="alert">
            {error}
          </div>
        )}
        <Button type="submit" variant="primary" disabled={busy} class="btn-block">
          {busy ? 'Checking…' : 'Sign in'}
        </Button>
        <p class="fine">
          The token is kept in this browser tab only (session storage) and is sent only in the Authorization header. Streamers go live at{' '}
          <a href="/broadcast">/broadcast</a>.
        </p>
      </form>
    </div>
  );
}
