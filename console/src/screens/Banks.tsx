import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { useApp } from '../app/context.ts';
import { Link, navigate } from '../app/router.tsx';
import { Badge, Button, Card, ErrorBox, PageHead, severityTone, Time } from '../ui/components.tsx';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { ListTable, Loaded } from '../ui/list-table.tsx';

export function Banks(): JSX.Element {
  const { api, isOperator } = useApp();
  const banks = useResource(() => api.banks(), []);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHead
        title="Hash banks"
        sub={
          banks.data
            ? `${banks.data.banks.length} banks · ${banks.data.indexed.toLocaleString()} hashes in the live matcher (revision ${banks.data.revision})`
            : 'Lists of known violating content (PDQ hashes) that every sampled frame is matched against'
        }
        actions={
          <>
            {isOperator && (
              <Button variant="primary" onClick={() => setCreating(!creating)}>
                New bank
              </Button>
            )}
            <Button onClick={() => void banks.reload()}>Refresh</Button>
          </>
        }
      />
      {creating && <CreateBank onCreated={(name) => navigate(`/banks/${encodeURIComponent(name)}`)} />}
      <Card>
        <Loaded resource={banks} what="banks">
          {(data) => (
            <ListTable
              items={data.banks}
              empty={<>No banks yet.{isOperator ? ' Create one, then import a hash list.' : ' An operator creates them.'}</>}
              testId="banks-table"
              columns={[
                'Bank',
                'Category',
                'Severity',
                { head: 'Radius', class: 'num' },
                { head: 'Entries', class: 'num' },
                { head: 'Enabled', class: 'num' },
                'State',
                'Created',
              ]}
              row={(b) => (
                <tr key={b.name} class={`row-click${b.enabled ? '' : ' row-dim'}`} onClick={() => navigate(`/banks/${encodeURIComponent(b.name)}`)}>
                  <td>
                    <Link href={`/banks/${encodeURIComponent(b.name)}`}>
                      <strong>{b.name}</strong>
                    </Link>
                    {b.description && <div class="muted small">{b.description}</div>}
                  </td>
                  <td>{b.default_category}</td>
                  <td>
                    <Badge tone={severityTone(b.default_severity)}>{b.default_severity}</Badge>
                  </td>
                  <td class="num">{b.radius}</td>
                  <td class="num">{b.entries.toLocaleString()}</td>
                  <td class="num">{b.enabledEntries.toLocaleString()}</td>
                  <td>{b.enabled ? <Badge tone="good">matching</Badge> : <Badge>disabled</Badge>}</td>
                  <td>
                    <Time at={b.created_at} />
                  </td>
                </tr>
              )}
            />
          )}
        </Loaded>
      </Card>
    </>
  );
}

function CreateBank(props: { onCreated: (name: string) => void }): JSX.Element {
  const { api } = useApp();
  const [f, setF] = useState({ name: '', category: 'terrorist-violent-extremism', severity: 'critical', radius: '31', description: '' });
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api.createBank({
        name: f.name.trim(),
        category: f.category.trim(),
        severity: f.severity,
        radius: Number(f.radius),
        ...(f.description.trim() ? { description: f.description.trim() } : {}),
      });
      toast(`Bank ${f.name.trim()} created`);
      props.onCreated(f.name.trim());
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="New bank" class="card-narrow">
      <form class="form-grid" onSubmit={submit}>
        <label class="field">
          <span>Name</span>
          <input name="name" value={f.name} onInput={set('name')} placeholder="tve-gifct" spellcheck={false} />
        </label>
        <label class="field">
          <span>Category (what the policy matches on)</span>
          <input name="category" value={f.category} onInput={set('category')} spellcheck={false} />
        </label>
        <label class="field">
          <span>Default severity</span>
          <select name="severity" value={f.severity} onChange={set('severity')}>
            {['low', 'medium', 'high', 'critical'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Match radius (PDQ bits differing, 0–64)</span>
          <input name="radius" type="number" min={0} max={64} value={f.radius} onInput={set('radius')} />
        </label>
        <label class="field span-2">
          <span>Description (optional)</span>
          <input name="description" value={f.description} onInput={set('description')} />
        </label>
        {error !== null && <ErrorBox error={error} />}
        <div>
          <Button type="submit" variant="primary">
            Create bank
          </Button>
        </div>
      </form>
    </Card>
  );
}
