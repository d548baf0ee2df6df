import type { JSX } from 'preact';
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { Exchange, ExchangeKind } from '../api/exchanges.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { Badge, Button, Card, ErrorBox, Mono, PageHead, Time } from '../ui/components.tsx';
import { durationText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { ListTable, Loaded } from '../ui/list-table.tsx';

const KIND_TEXT: Record<ExchangeKind, string> = {
  modgate: 'modgate partner feed',
  tat: "Tech Against Terrorism's hash list",
  hashlist: 'hash list URL or file (HMA / ThreatExchange / TAT format)',
};

/**
 * Hash exchanges this gateway fetches from (issue 13): each feeds a bank of its own. Everyone sees the
 * status (last fetch, checkpoint, errors, counts) and the records set aside as malformed; operators add
 * one, fetch now, and enable or disable it.
 */
export function Exchanges(): JSX.Element {
  const { api, isOperator } = useApp();
  const list = useResource(() => api.exchanges(), []);
  const [adding, setAdding] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const replace = (x: Exchange) => list.update((l) => l.map((e) => (e.name === x.name ? x : e)));
  const fetchNow = async (name: string) => {
    setBusy(name);
    try {
      const run = await api.fetchExchange(name);
      replace(run.exchange);
      if (run.error) toast(`Fetch from ${name} failed: ${run.error}`, 'bad');
      else
        toast(
          `${name}: ${plural(run.pages, 'page')}, ${plural(run.upserts, 'entry', 'entries')} added, ${plural(run.deletes, 'deletion')}${run.quarantined ? `, ${run.quarantined} set aside` : ''}`,
        );
    } catch (err) {
      toast(String((err as Error).message), 'bad');
    } finally {
      setBusy(null);
    }
  };
  const toggle = async (x: Exchange) => {
    setBusy(x.name);
    try {
      replace(await api.setExchangeEnabled(x.name, !x.enabled));
      toast(x.enabled ? `${x.name} disabled` : `${x.name} enabled`);
    } catch (err) {
      toast(String((err as Error).message), 'bad');
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <PageHead
        title="Exchanges"
        sub="Hash-sharing sources this gateway fetches from; each one feeds a bank of its own"
        actions={
          <>
            {isOperator && (
              <Button variant="primary" onClick={() => setAdding(!adding)}>
                Add exchange
              </Button>
            )}
            <Button onClick={() => void list.reload()}>Refresh</Button>
          </>
        }
      />
      {adding && (
        <AddExchange
          onAdded={(x) => {
            setAdding(false);
            list.update((l) => [...l.filter((e) => e.name !== x.name), x]);
          }}
        />
      )}
      <Card>
        <Loaded resource={list} what="exchanges">
          {(data) => (
            <ListTable
              items={data}
              empty={<>No exchanges.{isOperator ? ' Add one to receive a partner’s or a hash list’s hashes.' : ' An operator adds them.'}</>}
              testId="exchanges-table"
              columns={[
                'Exchange',
                'Bank',
                'State',
                'Last fetch',
                'Checkpoint',
                { head: 'Added', class: 'num' },
                { head: 'Deleted', class: 'num' },
                { head: 'Set aside', class: 'num' },
                '',
              ]}
              row={(x) => (
                <Fragment key={x.name}>
                  <tr data-exchange={x.name} class={x.enabled ? '' : 'row-dim'}>
                    <td>
                      <strong>{x.name}</strong>
                      <div class="muted small">
                        {KIND_TEXT[x.kind] ?? x.kind} · <Mono>{x.url}</Mono>
                        {x.hasCredential ? ' · credential stored' : ''}
                      </div>
                    </td>
                    <td>
                      <Link href={`/banks/${encodeURIComponent(x.bank)}`}>{x.bank}</Link>
                    </td>
                    <td data-testid="exchange-state">
                      <ExchangeState x={x} />
                    </td>
                    <td class="small">
                      {x.lastFetchAt ? <Time at={x.lastFetchAt} /> : 'never'}
                      {x.lastSuccessAt && x.lastSuccessAt !== x.lastFetchAt && (
                        <div class="muted">
                          last success <Time at={x.lastSuccessAt} />
                        </div>
                      )}
                      {x.enabled && x.nextFetchAt && <div class="muted">next in {durationText(Math.max(0, x.nextFetchAt - Date.now()))}</div>}
                      {x.lastError && (
                        <div class="text-bad" data-testid="exchange-error">
                          {x.lastError}
                          {x.lastErrorAt ? (
                            <>
                              {' '}
                              (<Time at={x.lastErrorAt} />)
                            </>
                          ) : null}
                        </div>
                      )}
                    </td>
                    <td>
                      {x.checkpoint ? <Mono title={x.checkpoint}>{x.checkpoint.length > 24 ? `${x.checkpoint.slice(0, 24)}…` : x.checkpoint}</Mono> : '—'}
                    </td>
                    <td class="num" data-testid="exchange-upserts">
                      {x.upserts.toLocaleString()}
                    </td>
                    <td class="num">{x.deletes.toLocaleString()}</td>
                    <td class="num">
                      {x.quarantined > 0 ? (
                        <button type="button" class="linklike" onClick={() => setOpen(open === x.name ? null : x.name)}>
                          {x.quarantined.toLocaleString()}
                        </button>
                      ) : (
                        '0'
                      )}
                    </td>
                    <td class="nowrap">
                      {isOperator && (
                        <span class="btn-group">
                          <Button small disabled={busy === x.name} onClick={() => void fetchNow(x.name)}>
                            {busy === x.name ? 'Working…' : 'Fetch now'}
                          </Button>
                          <Button small variant={x.enabled ? 'ghost' : 'default'} disabled={busy === x.name} onClick={() => void toggle(x)}>
                            {x.enabled ? 'Disable' : 'Enable'}
                          </Button>
                        </span>
                      )}
                    </td>
                  </tr>
                  {open === x.name && (
                    <tr>
                      <td colSpan={9}>
                        <SetAside name={x.name} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              )}
            />
          )}
        </Loaded>
      </Card>
    </>
  );
}

function ExchangeState(props: { x: Exchange }): JSX.Element {
  const { x } = props;
  if (!x.enabled) return <Badge>disabled</Badge>;
  if (x.failures > 0) return <Badge tone="bad">{plural(x.failures, 'failed fetch', 'failed fetches')}</Badge>;
  if (x.lastSuccessAt === null) return <Badge tone="info">not fetched yet</Badge>;
  return <Badge tone="good">fetching</Badge>;
}

/** Pages and records of an exchange set aside as malformed: what they were and why (the checkpoint moved past them). */
function SetAside(props: { name: string }): JSX.Element {
  const { api } = useApp();
  const records = useResource(() => api.exchangeQuarantine(props.name), [props.name]);
  return (
    <Loaded resource={records} what="">
      {(data) => (
        <ListTable
          items={data}
          empty="Nothing set aside."
          testId="exchange-set-aside"
          compact
          columns={['When', 'Why', 'Checkpoint', 'Record']}
          row={(r) => (
            <tr key={r.id}>
              <td class="nowrap">
                <Time at={r.at} />
              </td>
              <td>{r.reason}</td>
              <td>{r.checkpoint ? <Mono>{r.checkpoint.slice(0, 24)}</Mono> : '—'}</td>
              <td>
                <Mono>{r.raw.length > 160 ? `${r.raw.slice(0, 160)}…` : r.raw}</Mono>
              </td>
            </tr>
          )}
        />
      )}
    </Loaded>
  );
}

function AddExchange(props: { onAdded: (x: Exchange) => void }): JSX.Element {
  const { api } = useApp();
  const [f, setF] = useState({
    name: '',
    kind: 'hashlist' as ExchangeKind,
    url: '',
    bank: '',
    category: 'terrorism',
    severity: 'critical',
    credential: '',
    interval: '300',
  });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const x = await api.addExchange({
        name: f.name.trim(),
        kind: f.kind,
        url: f.url.trim(),
        ...(f.bank.trim() ? { bank: f.bank.trim() } : {}),
        category: f.category.trim(),
        severity: f.severity as 'critical',
        ...(f.credential ? { credential: f.credential } : {}),
        intervalMs: Math.round(Number(f.interval) * 1000),
      });
      toast(`Exchange ${x.name} added; it feeds ${x.bank}`);
      props.onAdded(x);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Add an exchange" class="card-narrow">
      <form class="form-grid" onSubmit={submit} data-testid="add-exchange">
        <label class="field">
          <span>Name</span>
          <input name="name" value={f.name} onInput={set('name')} placeholder="partner-a" spellcheck={false} />
        </label>
        <label class="field">
          <span>Kind</span>
          <select name="kind" value={f.kind} onChange={set('kind')}>
            {(Object.keys(KIND_TEXT) as ExchangeKind[]).map((k) => (
              <option key={k} value={k}>
                {k} — {KIND_TEXT[k]}
              </option>
            ))}
          </select>
        </label>
        <label class="field span-2">
          <span>{f.kind === 'hashlist' ? 'URL or file path of the list' : 'Base URL'}</span>
          <input name="url" value={f.url} onInput={set('url')} spellcheck={false} />
        </label>
        <label class="field">
          <span>Bank it feeds (default exchange-NAME, created if absent)</span>
          <input name="bank" value={f.bank} onInput={set('bank')} spellcheck={false} />
        </label>
        <label class="field">
          <span>Credential (stored sealed, never shown again)</span>
          <input name="credential" type="password" autocomplete="off" value={f.credential} onInput={set('credential')} />
        </label>
        <label class="field">
          <span>New bank's category</span>
          <input name="category" value={f.category} onInput={set('category')} spellcheck={false} />
        </label>
        <label class="field">
          <span>New bank's severity</span>
          <select name="severity" value={f.severity} onChange={set('severity')}>
            {['low', 'medium', 'high', 'critical'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Seconds between fetches</span>
          <input name="interval" type="number" min={1} max={86400} value={f.interval} onInput={set('interval')} />
        </label>
        {error !== null && <ErrorBox error={error} />}
        <div>
          <Button type="submit" variant="primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add exchange'}
          </Button>
        </div>
      </form>
    </Card>
  );
}
