import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate } from '../app/router.tsx';
import { Button, Card, Empty, ErrorBox, NotAvailable, PageHead } from '../ui/components.tsx';
import { toast } from '../ui/toast.tsx';
import { useResource } from '../ui/hooks.ts';

const HANDLE = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;

export function Accounts(): JSX.Element {
  const { api, isOperator } = useApp();
  const [q, setQ] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const live = useResource(() => api.streams(), []);

  const search = async (e: Event) => {
    e.preventDefault();
    const handle = q.trim().replace(/^@/, '');
    if (!handle) return;
    setBusy(true);
    setError(null);
    try {
      await api.account(handle);
      navigate(`/accounts/${encodeURIComponent(handle)}`);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 404
          ? `No account with the handle “${handle}”. Searching by identity subject is not available yet (see below).`
          : String((err as Error).message),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageHead title="Accounts" sub="Identity, stream keys, strikes, suspensions and history of a streamer's account" />
      <Card>
        <form class="searchbar" onSubmit={search} role="search">
          <input
            type="search"
            name="q"
            placeholder="Account handle, e.g. alice"
            value={q}
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
            aria-label="Account handle"
            autoFocus
            spellcheck={false}
          />
          <Button type="submit" variant="primary" disabled={busy}>
            Open account
          </Button>
        </form>
        {error && <div class="alert alert-warn">{error}</div>}
        <NotAvailable feature="accountSearch" compact>
          Today an account opens by its exact handle; searching by part of a handle or by the identity provider's subject needs a search endpoint.
        </NotAvailable>
      </Card>
      <Card title="Live now">
        {live.error ? (
          <ErrorBox error={live.error} />
        ) : (live.data ?? []).length === 0 ? (
          <Empty>No account is live.</Empty>
        ) : (
          <ul class="pill-list">
            {[...new Set((live.data ?? []).map((s) => s.account))].map((h) => (
              <li key={h}>
                <Link href={`/accounts/${encodeURIComponent(h)}`}>@{h}</Link>
              </li>
            ))}
          </ul>
        )}
      </Card>
      {isOperator && <CreateAccount onCreated={(h) => navigate(`/accounts/${encodeURIComponent(h)}`)} />}
    </>
  );
}

function CreateAccount(props: { onCreated: (handle: string) => void }): JSX.Element {
  const { api } = useApp();
  const [handle, setHandle] = useState('');
  const [subject, setSubject] = useState('');
  const [verified, setVerified] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!HANDLE.test(handle.trim())) return setError(new Error('A handle is 1–64 characters of a-z, 0-9, _ . - (starting with a letter or digit).'));
    try {
      await api.createAccount({ handle: handle.trim(), verified, ...(subject.trim() ? { subject: subject.trim() } : {}) });
      toast(`Account @${handle.trim()} created`);
      props.onCreated(handle.trim());
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Create an account" class="card-narrow">
      <form class="form-grid" onSubmit={submit}>
        <label class="field">
          <span>Handle</span>
          <input name="handle" value={handle} onInput={(e) => setHandle((e.target as HTMLInputElement).value)} spellcheck={false} />
        </label>
        <label class="field">
          <span>Identity subject (optional)</span>
          <input
            name="subject"
            value={subject}
            placeholder="the identity provider's id of the person"
            onInput={(e) => setSubject((e.target as HTMLInputElement).value)}
            spellcheck={false}
          />
        </label>
        <label class="check">
          <input type="checkbox" checked={verified} onChange={(e) => setVerified((e.target as HTMLInputElement).checked)} />
          <span>Identity already verified (only verified accounts may go live)</span>
        </label>
        {error !== null && <ErrorBox error={error} />}
        <div>
          <Button type="submit">Create account</Button>
        </div>
      </form>
    </Card>
  );
}
