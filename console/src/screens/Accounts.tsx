import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { IdentityStatus } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate, useLocation } from '../app/router.tsx';
import { Badge, Button, Card, Empty, ErrorBox, Loading, Mono, PageHead, Time } from '../ui/components.tsx';
import { toast } from '../ui/toast.tsx';
import { useResource } from '../ui/hooks.ts';

const HANDLE = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;

const PAGE = 25;
const STATUSES = ['', 'verified', 'pending', 'unverified', 'revoked'] as const;

export function Accounts(): JSX.Element {
  const { api, isOperator } = useApp();
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const status = (STATUSES as readonly string[]).includes(query.get('status') ?? '') ? (query.get('status') as (typeof STATUSES)[number]) : '';
  const suspended = query.get('suspended') === 'true';
  const after = query.get('after') ?? '';
  const [text, setText] = useState(q);
  const [trail, setTrail] = useState<string[]>([]);
  const results = useResource(
    () =>
      api.searchAccounts({
        limit: PAGE,
        ...(q ? { q: q.replace(/^@/, '') } : {}),
        ...(status ? { status: status as IdentityStatus } : {}),
        ...(suspended ? { suspended: true } : {}),
        ...(after ? { after } : {}),
      }),
    [q, status, suspended, after],
  );
  const go = (next: { q?: string; status?: string; suspended?: boolean; after?: string }) => {
    const p = new URLSearchParams();
    const v = { q, status, suspended, after: '', ...next };
    if (v.q) p.set('q', v.q);
    if (v.status) p.set('status', v.status);
    if (v.suspended) p.set('suspended', 'true');
    if (v.after) p.set('after', v.after);
    const s = p.toString();
    navigate(`/accounts${s ? `?${s}` : ''}`, { replace: true });
  };
  const submit = (e: Event) => {
    e.preventDefault();
    setTrail([]);
    go({ q: text.trim() });
  };
  const live = useResource(() => api.streams(), []);

  return (
    <>
      <PageHead title="Accounts" sub="Find a streamer's account by handle or by the identity provider's subject (all accounts of one person)" />
      <Card>
        <form class="searchbar" onSubmit={submit} role="search">
          <input
            type="search"
            name="q"
            placeholder="Handle prefix, e.g. ali, or an identity subject"
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
            aria-label="Search accounts"
            autoFocus
            spellcheck={false}
          />
          <select
            aria-label="Identity status"
            value={status}
            onChange={(e) => {
              setTrail([]);
              go({ status: (e.target as HTMLSelectElement).value });
            }}
          >
            {STATUSES.map((st) => (
              <option key={st} value={st}>
                {st === '' ? 'any identity status' : st}
              </option>
            ))}
          </select>
          <label class="check">
            <input
              type="checkbox"
              checked={suspended}
              onChange={(e) => {
                setTrail([]);
                go({ suspended: (e.target as HTMLInputElement).checked });
              }}
            />
            <span>suspended</span>
          </label>
          <Button type="submit" variant="primary">
            Search
          </Button>
        </form>
        {results.error ? (
          <ErrorBox error={results.error} retry={results.reload} />
        ) : !results.data ? (
          <Loading what="accounts" />
        ) : results.data.accounts.length === 0 ? (
          <Empty>{q ? `No account matches “${q}”.` : 'No accounts match these filters.'}</Empty>
        ) : (
          <>
            <div class="table-wrap">
              <table class="table" data-testid="account-results">
                <thead>
                  <tr>
                    <th>Account</th>
                    <th>Identity</th>
                    <th>Subject</th>
                    <th>State</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {results.data.accounts.map((a) => (
                    <tr key={a.id} data-account={a.handle}>
                      <td>
                        <Link href={`/accounts/${encodeURIComponent(a.handle)}`}>@{a.handle}</Link>
                      </td>
                      <td>
                        <Badge tone={a.identity.status === 'verified' ? 'good' : a.identity.status === 'revoked' ? 'bad' : 'warn'}>{a.identity.status}</Badge>
                      </td>
                      <td>
                        {a.identity.subject ? (
                          <Link href={`/accounts?q=${encodeURIComponent(a.identity.subject)}`} title="All accounts of this person">
                            <Mono>{a.identity.subject}</Mono>
                          </Link>
                        ) : (
                          <span class="muted">—</span>
                        )}
                      </td>
                      <td class="chips">
                        {a.live && <Badge tone="good">live</Badge>}
                        {a.suspended && <Badge tone="bad">suspended</Badge>}
                        {!a.live && !a.suspended && <span class="muted">—</span>}
                      </td>
                      <td>
                        <Time at={a.createdAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div class="pager">
              <Button
                small
                disabled={trail.length === 0}
                onClick={() => {
                  const prev = trail[trail.length - 1] ?? '';
                  setTrail(trail.slice(0, -1));
                  go({ after: prev });
                }}
              >
                ← Previous
              </Button>
              <span class="muted small">
                {results.data.accounts.length} shown{trail.length ? ` · page ${trail.length + 1}` : ''}
              </span>
              <Button
                small
                disabled={results.data.next === null}
                onClick={() => {
                  setTrail([...trail, after]);
                  go({ after: results.data!.next! });
                }}
              >
                Next →
              </Button>
            </div>
          </>
        )}
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
