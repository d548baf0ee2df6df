import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Incident } from '../api/exchanges.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate } from '../app/router.tsx';
import { shellStale } from '../app/stale.ts';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, Stat, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, durationText } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { ListTable } from '../ui/list-table.tsx';

/**
 * Crisis incidents (issue 13, GIFCT's Content Incident Protocol): while one is active every live stream is
 * sampled at full rate, its policy overlay applies, and each new entry in its banks is pushed to partners and
 * scanned retroactively against the recent frames of every stream. Operators declare and end one; moderators
 * read the list, the timeline and the counts (the API enforces the same split).
 */
export function Incidents(): JSX.Element {
  const { api, isOperator } = useApp();
  const list = useResource(() => api.incidents(), []);
  const active = list.data?.find((i) => i.status === 'active') ?? null;
  return (
    <>
      <PageHead
        title="Incidents"
        sub="Crisis mode: full-rate sampling, a stricter policy overlay and retroactive scans while an incident is active"
        actions={<Button onClick={() => void list.reload()}>Refresh</Button>}
      />
      {list.error ? (
        <ErrorBox error={list.error} retry={list.reload} />
      ) : !list.data ? (
        <Loading what="incidents" />
      ) : (
        <>
          {active ? (
            <div class="alert alert-bad incident-active" data-testid="incident-active">
              <strong>Active:</strong> <Link href={`/incidents/${encodeURIComponent(active.id)}`}>{active.name}</Link>, declared <Time at={active.declaredAt} />{' '}
              by {actorText(active.declaredBy)}.
            </div>
          ) : (
            isOperator && <DeclareIncident onDeclared={(id) => navigate(`/incidents/${encodeURIComponent(id)}`)} />
          )}
          <Card title="All incidents">
            <ListTable
              items={list.data}
              empty={<>No incident was ever declared.{isOperator ? '' : ' An operator declares one.'}</>}
              testId="incidents-table"
              columns={['Incident', 'Banks', 'State', 'Declared', 'Lasted']}
              row={(i) => (
                <tr key={i.id} class="row-click" data-incident={i.id} onClick={() => navigate(`/incidents/${encodeURIComponent(i.id)}`)}>
                  <td>
                    <Link href={`/incidents/${encodeURIComponent(i.id)}`}>
                      <strong>{i.name}</strong>
                    </Link>
                    <div class="muted small">{i.description}</div>
                  </td>
                  <td>{i.banks.join(', ')}</td>
                  <td>
                    <IncidentState i={i} />
                  </td>
                  <td class="nowrap">
                    <Time at={i.declaredAt} />
                  </td>
                  <td>{i.endedAt ? durationText(Date.parse(i.endedAt) - Date.parse(i.declaredAt)) : '—'}</td>
                </tr>
              )}
            />
          </Card>
        </>
      )}
    </>
  );
}

function IncidentState(props: { i: Incident }): JSX.Element {
  return props.i.status === 'active' ? <Badge tone="critical">active</Badge> : <Badge>ended</Badge>;
}

/** Operators: name, description, the banks whose new entries are scanned and shared at once, an optional policy overlay. */
function DeclareIncident(props: { onDeclared: (id: string) => void }): JSX.Element {
  const { api } = useApp();
  const banks = useResource(() => api.banks(), []);
  const versions = useResource(() => api.policyVersions(), []);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [overlay, setOverlay] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim() || !description.trim()) return setError(new Error('An incident needs a name and a description.'));
    if (chosen.length === 0) return setError(new Error('Choose at least one bank: its new entries are scanned retroactively and shared at once.'));
    setBusy(true);
    try {
      const r = await api.declareIncident({
        name: name.trim(),
        description: description.trim(),
        banks: chosen,
        ...(overlay ? { overlayVersionId: Number(overlay) } : {}),
        ...(reason.trim() ? { reason: reason.trim() } : {}),
      });
      toast(`Incident “${r.incident.name}” declared`);
      shellStale();
      props.onDeclared(r.incident.id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Declare an incident" class="card-narrow">
      <form class="form-grid" onSubmit={submit} data-testid="declare-incident">
        <label class="field">
          <span>Name</span>
          <input name="name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="Attack livestream, 14 March" />
        </label>
        <label class="field">
          <span>Policy overlay (optional: a stored version laid over the active policy)</span>
          <select name="overlay" value={overlay} onChange={(e) => setOverlay((e.target as HTMLSelectElement).value)}>
            <option value="">none</option>
            {(versions.data ?? [])
              .filter((v) => !v.active)
              .map((v) => (
                <option key={v.id} value={String(v.id)}>
                  #{v.id} {v.comment ?? ''}
                </option>
              ))}
          </select>
        </label>
        <label class="field span-2">
          <span>Description</span>
          <textarea name="description" rows={2} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </label>
        <fieldset class="field span-2 bank-choice">
          <legend>Banks (new entries in them are scanned against recent frames and pushed to partners at once)</legend>
          {banks.error ? (
            <ErrorBox error={banks.error} />
          ) : !banks.data ? (
            <Loading what="banks" />
          ) : (
            banks.data.banks
              .filter((b) => b.kind !== 'negative')
              .map((b) => (
                <label key={b.name} class="check">
                  <input
                    type="checkbox"
                    name="bank"
                    value={b.name}
                    checked={chosen.includes(b.name)}
                    onChange={(e) => setChosen((e.target as HTMLInputElement).checked ? [...chosen, b.name] : chosen.filter((x) => x !== b.name))}
                  />{' '}
                  {b.name} <span class="muted small">({b.default_category})</span>
                </label>
              ))
          )}
        </fieldset>
        <label class="field span-2">
          <span>Reason (optional; recorded in the audit log)</span>
          <input name="reason" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </label>
        {error !== null && <ErrorBox error={error} />}
        <div>
          <Button type="submit" variant="danger" disabled={busy}>
            {busy ? 'Declaring…' : 'Declare incident'}
          </Button>
        </div>
      </form>
    </Card>
  );
}

const KIND_TEXT: Record<string, string> = {
  declared: 'declared',
  applied: 'applied on a node',
  entry_added: 'entry banked',
  retro_cut: 'retroactive cut',
  retro_flag: 'retroactive flag (stream had ended)',
  stream_escalated: 'stream sampled at full rate',
  ended: 'ended',
};

/** One incident: what it covers, its counts and its timeline; operators end it with a reason. */
export function IncidentPage(props: { id: string }): JSX.Element {
  const { api, isOperator } = useApp();
  const report = useResource(() => api.incident(props.id), [props.id]);
  const [ending, setEnding] = useState(false);
  if (report.error) return <ErrorBox error={report.error} retry={report.reload} />;
  if (!report.data) return <Loading what="the incident" />;
  const { incident: i, counts, timeline } = report.data;
  return (
    <>
      <PageHead
        title={i.name}
        sub={
          <span class="chips">
            <IncidentState i={i} />
            <Mono>{i.id}</Mono>
            <Link href="/incidents">All incidents</Link>
          </span>
        }
        actions={
          isOperator &&
          i.status === 'active' && (
            <Button variant="danger" onClick={() => setEnding(true)}>
              End incident…
            </Button>
          )
        }
      />
      <div class="stats" data-testid="incident-counts">
        <Stat label="Entries banked" value={counts.entriesAdded} />
        <Stat label="Retroactive cuts" value={counts.retroCuts} tone={counts.retroCuts ? 'bad' : 'neutral'} />
        <Stat label="Retroactive flags" value={counts.retroFlags} tone={counts.retroFlags ? 'warn' : 'neutral'} />
        <Stat label="Streams at full rate" value={counts.streamsEscalated} />
        <Stat label="Decisions meanwhile" value={counts.decisions} />
        <Stat label="Partners sharing its banks" value={counts.partners} />
      </div>
      <div class="grid-2">
        <Card title="Incident">
          <KeyValues
            items={[
              ['Description', i.description],
              [
                'Banks',
                <span class="chips">
                  {i.banks.map((b) => (
                    <Link key={b} href={`/banks/${encodeURIComponent(b)}`}>
                      {b}
                    </Link>
                  ))}
                </span>,
              ],
              ['Policy overlay', i.overlayVersionId === null ? 'none' : `version #${i.overlayVersionId}`],
              [
                'Declared',
                <>
                  <Time at={i.declaredAt} /> by {actorText(i.declaredBy)}
                  {i.declareReason ? ` — ${i.declareReason}` : ''}
                </>,
              ],
              [
                'Ended',
                i.endedAt ? (
                  <>
                    <Time at={i.endedAt} /> by {actorText(i.endedBy)}
                    {i.endReason ? ` — ${i.endReason}` : ''}
                  </>
                ) : (
                  'still active'
                ),
              ],
            ]}
          />
        </Card>
        <Card title="Timeline">
          {timeline.length === 0 ? (
            <Empty>Nothing recorded yet.</Empty>
          ) : (
            <ol class="timeline" data-testid="incident-timeline">
              {timeline.map((e, n) => (
                <li key={n} data-kind={e.kind}>
                  <span class="timeline-time">
                    <Time at={e.at} />
                  </span>
                  <div>
                    <strong>{KIND_TEXT[e.kind] ?? e.kind}</strong>
                    {e.streamId && (
                      <>
                        {' '}
                        · <Link href={`/streams/${encodeURIComponent(e.streamId)}`}>{e.streamId}</Link>
                      </>
                    )}
                    {e.node && <span class="muted small"> · node {e.node}</span>}
                    {e.detail && <div class="muted small mono">{detailText(e.detail)}</div>}
                  </div>
                </li>
              ))}
            </ol>
          )}
        </Card>
      </div>
      <ReasonDialog
        open={ending}
        title={`End “${i.name}”`}
        description={<p>Sampling goes back to each stream's normal mode and the active policy applies alone. The incident and its timeline are kept.</p>}
        confirmLabel="End incident"
        danger
        onClose={() => setEnding(false)}
        onSubmit={async (reason) => {
          report.set(await api.endIncident(i.id, reason));
          shellStale();
          toast('Incident ended');
        }}
      />
    </>
  );
}

const detailText = (d: Record<string, unknown>) =>
  Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
