import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api/client.ts';
import type { BacktestResult, PolicyErrorItem } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link, navigate, useLocation } from '../app/router.tsx';
import { Badge, Button, Card, Empty, ErrorBox, Loading, Mono, PageHead, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, fromLocalInput, plural, toLocalInput } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { lineDiff } from '../policy/diff.ts';
import { PolicyTextEditor } from '../policy/Editor.tsx';
import { locateErrors, type LineError } from '../policy/lines.ts';
import { formatOf, validatePolicyText } from '../policy/validate.ts';

type Tab = 'edit' | 'diff' | 'backtest' | 'versions';
const TABS: Array<[Tab, string]> = [
  ['edit', 'Editor'],
  ['diff', 'Changes'],
  ['backtest', 'Backtest'],
  ['versions', 'Versions'],
];
const DRAFT_KEY = 'modgate.console.policyDraft';

/** Operators edit, check, dry-run and publish the policy here; every version is kept and can be rolled back to. */
export function Policy(): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const tab = (TABS.find(([t]) => t === query.get('tab'))?.[0] ?? 'edit') as Tab;
  const active = useResource(() => api.policy(), []);
  const versions = useResource(() => api.policyVersions(), []);
  const [draft, setDraft] = useState<string | null>(() => sessionStorage.getItem(DRAFT_KEY));
  const [serverErrors, setServerErrors] = useState<{ text: string; errors: PolicyErrorItem[] } | null>(null);
  const [jump, setJump] = useState<{ line: number; n: number } | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [rollback, setRollback] = useState<number | null>(null);

  const text = draft ?? active.data?.text ?? '';
  useEffect(() => {
    if (draft === null) sessionStorage.removeItem(DRAFT_KEY);
    else sessionStorage.setItem(DRAFT_KEY, draft);
  }, [draft]);
  const check = useMemo(() => validatePolicyText(text), [text]);
  // The gateway's verdict on this exact text wins over the browser's (it is the one that refused it).
  const errors: LineError[] = serverErrors && serverErrors.text === text ? locateErrors(text, serverErrors.errors) : check.ok ? [] : check.errors;
  const dirty = active.data !== undefined && text !== active.data.text;
  const diff = useMemo(() => (active.data ? lineDiff(active.data.text, text) : null), [active.data?.text, text]);
  const setTab = (t: Tab) => navigate(t === 'edit' ? '/policy' : `/policy?tab=${t}`, { replace: true });
  const viewing = /^\d+$/.test(query.get('v') ?? '') ? Number(query.get('v')) : null;

  if (active.error) return <ErrorBox error={active.error} retry={active.reload} />;
  if (!active.data) return <Loading what="the policy" />;
  const a = active.data;

  return (
    <>
      <PageHead
        title="Policy"
        sub={
          <span class="chips">
            <span>
              Active: <strong>{(a.policy as { name?: string }).name}</strong> <Mono>{(a.policy as { version?: string }).version}</Mono>
            </span>
            {a.versionId === 0 ? <Badge>shipped default</Badge> : <Badge tone="info">version {a.versionId}</Badge>}
            {dirty && <Badge tone="warn">unpublished changes</Badge>}
          </span>
        }
        actions={
          <>
            {dirty && (
              <Button
                variant="ghost"
                onClick={() => {
                  setDraft(null);
                  setServerErrors(null);
                }}
              >
                Discard changes
              </Button>
            )}
            <Button
              variant="primary"
              disabled={!dirty || errors.length > 0}
              onClick={() => setPublishing(true)}
              title={errors.length ? 'Fix the errors first' : dirty ? '' : 'No changes to publish'}
            >
              Publish…
            </Button>
          </>
        }
      />
      <div class="tabs" role="tablist">
        {TABS.map(([t, label]) => (
          <button key={t} type="button" role="tab" aria-selected={t === tab} class={t === tab ? 'tab active' : 'tab'} onClick={() => setTab(t)}>
            {label}
            {t === 'edit' && errors.length > 0 && <span class="tab-count tab-count-bad">{errors.length}</span>}
            {t === 'diff' && diff && diff.added + diff.removed > 0 && <span class="tab-count">{`+${diff.added} −${diff.removed}`}</span>}
          </button>
        ))}
      </div>

      {tab === 'edit' && (
        <div class="policy-edit">
          <PolicyTextEditor
            value={text}
            onInput={(v) => {
              setDraft(v);
            }}
            errors={errors}
            jumpTo={jump}
          />
          <aside class="policy-side">
            {errors.length > 0 ? (
              <div class="alert alert-bad" data-testid="policy-errors">
                <strong>{plural(errors.length, 'error')}</strong>
                {serverErrors?.text === text ? ' (refused by the gateway)' : ''}
                <ul class="error-list">
                  {errors.map((e, i) => (
                    <li key={i}>
                      <button
                        type="button"
                        class="linklike"
                        onClick={() => e.line !== null && setJump({ line: e.line, n: Date.now() })}
                        data-error-line={e.line ?? ''}
                      >
                        {e.line !== null ? `Line ${e.line}` : 'Document'}
                      </button>{' '}
                      <Mono>{e.path}</Mono>: {e.message}
                    </li>
                  ))}
                </ul>
              </div>
            ) : (
              check.ok && (
                <div class="alert alert-good" data-testid="policy-valid">
                  Valid: <strong>{check.name}</strong> <Mono>{check.version}</Mono>, {plural(check.rules, 'rule')}.
                </div>
              )
            )}
            <p class="muted small">
              Checked as you type with the gateway's own validator; the gateway checks again on publish. Every field is documented in docs/policy.md. A rule
              with <code>shadow: true</code> records what it would have done without enforcing it.
            </p>
          </aside>
        </div>
      )}

      {tab === 'diff' && diff && (
        <Card title={dirty ? `Changes against the active policy (+${diff.added} −${diff.removed})` : 'No changes against the active policy'}>
          {dirty ? <DiffView rows={diff.rows} /> : <Empty>Edit the policy to see its changes here.</Empty>}
        </Card>
      )}

      {tab === 'backtest' && <Backtest text={text} valid={errors.length === 0} versions={versions.data ?? []} />}

      {tab === 'versions' && (
        <Card title="Versions">
          {versions.error ? (
            <ErrorBox error={versions.error} />
          ) : !versions.data ? (
            <Loading />
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid="policy-versions">
                <thead>
                  <tr>
                    <th>Version</th>
                    <th>Published</th>
                    <th>By</th>
                    <th>Comment</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {versions.data.map((v) => (
                    <tr key={v.id}>
                      <td>
                        <strong>#{v.id}</strong> {v.id === a.versionId && <Badge tone="good">active</Badge>}
                      </td>
                      <td>
                        <Time at={v.createdAt} />
                      </td>
                      <td>{actorText(v.author)}</td>
                      <td>{v.comment ?? <span class="muted">—</span>}</td>
                      <td class="cell-actions">
                        <Button
                          small
                          aria-pressed={viewing === v.id}
                          onClick={() => navigate(viewing === v.id ? '/policy?tab=versions' : `/policy?tab=versions&v=${v.id}`, { replace: true })}
                        >
                          {viewing === v.id ? 'Hide text' : 'Show text'}
                        </Button>{' '}
                        {v.id !== a.versionId && (
                          <Button small onClick={() => setRollback(v.id)}>
                            Roll back to #{v.id}
                          </Button>
                        )}
                      </td>
                    </tr>
                  ))}
                  <tr class="row-dim">
                    <td>
                      <strong>shipped default</strong> {a.versionId === 0 && <Badge tone="good">active</Badge>}
                    </td>
                    <td colSpan={3}>policy/default.yaml, active until the first version is published</td>
                    <td class="cell-actions">
                      {a.versionId !== 0 && (
                        <Button small onClick={() => setRollback(0)}>
                          Roll back to the shipped default
                        </Button>
                      )}
                    </td>
                  </tr>
                </tbody>
              </table>
            </div>
          )}
          {viewing !== null && <VersionText id={viewing} activeText={a.text} activeId={a.versionId} />}
        </Card>
      )}

      <ReasonDialog
        open={publishing}
        title="Publish this policy"
        description={
          <p>
            It becomes the active policy on every gateway within a second and applies to running streams.{' '}
            {diff ? `${plural(diff.added, 'line')} added, ${plural(diff.removed, 'line')} removed.` : ''} Have you backtested it?
          </p>
        }
        reasonLabel="Comment"
        placeholder="What changes and why (kept with the version)"
        confirmLabel="Publish"
        onClose={() => setPublishing(false)}
        onSubmit={async (comment) => {
          try {
            const r = await api.submitPolicy(text, formatOf(text), comment);
            toast(`Published version ${r.versionId}`);
            setDraft(null);
            setServerErrors(null);
            await Promise.all([active.reload(), versions.reload()]);
          } catch (err) {
            if (err instanceof ApiError && Array.isArray(err.body.errors)) {
              setServerErrors({ text, errors: err.body.errors as PolicyErrorItem[] });
              setTab('edit');
            }
            throw err;
          }
        }}
      />
      <ReasonDialog
        open={rollback !== null}
        title={rollback === 0 ? 'Roll back to the shipped default' : `Roll back to version ${rollback ?? ''}`}
        description={
          rollback === 0 ? (
            <p>The shipped default (policy/default.yaml) is stored as a new version and becomes the active policy on every gateway within a second.</p>
          ) : (
            <p>Version {rollback} becomes the active policy on every gateway within a second.</p>
          )
        }
        confirmLabel="Roll back"
        onClose={() => setRollback(null)}
        onSubmit={async (reason) => {
          if (rollback === null) return;
          const r = await api.rollback(rollback, reason);
          toast(rollback === 0 ? `The shipped default is active (version ${r.versionId})` : `Version ${rollback} is active`);
          setDraft(null);
          await Promise.all([active.reload(), versions.reload()]);
        }}
      />
    </>
  );
}

/** One stored version: its comment and text, and what it changes against the active policy. */
function VersionText(props: { id: number; activeText: string; activeId: number }): JSX.Element {
  const { api } = useApp();
  const v = useResource(() => api.policyVersion(props.id), [props.id]);
  const [show, setShow] = useState<'diff' | 'text'>('diff');
  const diff = useMemo(() => (v.data ? lineDiff(props.activeText, v.data.text) : null), [v.data?.text, props.activeText]);
  if (v.error) return <ErrorBox error={v.error} retry={v.reload} />;
  if (!v.data || !diff) return <Loading what={`version ${props.id}`} />;
  const same = props.activeId === props.id || (diff.added === 0 && diff.removed === 0);
  return (
    <div class="version-detail" data-testid="policy-version-text" data-version={props.id}>
      <h3>
        Version #{v.data.id} {v.data.active && <Badge tone="good">active</Badge>}
      </h3>
      <p class="muted">
        Published <Time at={v.data.createdAt} /> by {actorText(v.data.author)} · {v.data.comment ? `“${v.data.comment}”` : 'no comment'}
      </p>
      <div class="segmented" role="tablist">
        <button type="button" role="tab" aria-selected={show === 'diff'} class={show === 'diff' ? 'active' : ''} onClick={() => setShow('diff')}>
          Diff against the active version {same ? '' : `(+${diff.added} −${diff.removed})`}
        </button>
        <button type="button" role="tab" aria-selected={show === 'text'} class={show === 'text' ? 'active' : ''} onClick={() => setShow('text')}>
          Text ({v.data.format})
        </button>
      </div>
      {show === 'text' ? (
        <pre class="code version-text" data-testid="version-text">
          {v.data.text}
        </pre>
      ) : same ? (
        <Empty>This version's text is the active policy's.</Empty>
      ) : (
        <div class="version-text">
          <p class="muted small">− lines of the active policy, + lines of version #{v.data.id}.</p>
          <DiffView rows={diff.rows} testid="version-diff" />
        </div>
      )}
    </div>
  );
}

function DiffView(props: { rows: ReturnType<typeof lineDiff>['rows']; testid?: string }): JSX.Element {
  return (
    <div class="diff" data-testid={props.testid ?? 'policy-diff'}>
      {props.rows.map((r, i) => (
        <div key={i} class={`diff-row diff-${r.kind}`}>
          <span class="diff-no">{r.oldNo ?? ''}</span>
          <span class="diff-no">{r.newNo ?? ''}</span>
          <span class="diff-sign">{r.kind === 'add' ? '+' : r.kind === 'del' ? '−' : ''}</span>
          <span class="diff-text">{r.text}</span>
        </div>
      ))}
    </div>
  );
}

function Backtest(props: { text: string; valid: boolean; versions: Array<{ id: number }> }): JSX.Element {
  const { api } = useApp();
  const [since, setSince] = useState(() => toLocalInput(Date.now() - 7 * 86_400_000));
  const [until, setUntil] = useState(() => toLocalInput(Date.now() + 60_000));
  const [baseline, setBaseline] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<BacktestResult | null>(null);
  const run = async (e: Event) => {
    e.preventDefault();
    const s = fromLocalInput(since);
    const u = fromLocalInput(until);
    if (s === null || u === null) return setError(new Error('Choose both ends of the period.'));
    setBusy(true);
    setError(null);
    try {
      setResult(
        await api.backtest({
          text: props.text,
          since: new Date(s).toISOString(),
          until: new Date(u).toISOString(),
          maxExamples: 5,
          ...(baseline ? { baselineVersionId: Number(baseline) } : {}),
        }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Card title="Backtest the edited policy">
        <form class="filters" onSubmit={run}>
          <label class="field field-inline">
            <span>From</span>
            <input type="datetime-local" name="since" value={since} onInput={(e) => setSince((e.target as HTMLInputElement).value)} />
          </label>
          <label class="field field-inline">
            <span>Until</span>
            <input type="datetime-local" name="until" value={until} onInput={(e) => setUntil((e.target as HTMLInputElement).value)} />
          </label>
          <label class="field field-inline">
            <span>Compare with</span>
            <select value={baseline} onChange={(e) => setBaseline((e.target as HTMLSelectElement).value)}>
              <option value="">the active policy</option>
              {props.versions.map((v) => (
                <option key={v.id} value={v.id}>
                  version {v.id}
                </option>
              ))}
            </select>
          </label>
          <div class="filters-actions">
            <Button type="submit" variant="primary" disabled={busy || !props.valid}>
              {busy ? 'Replaying…' : 'Run backtest'}
            </Button>
          </div>
        </form>
        <p class="muted small">
          Replays the stored signals of the period under both policies and reports which decisions would differ. Nothing is enforced. At most 31 days at once.
        </p>
        {!props.valid && <div class="alert alert-warn">Fix the policy's errors first.</div>}
        {error !== null && <ErrorBox error={error} />}
      </Card>
      {result && <BacktestReportView r={result} />}
    </>
  );
}

function BacktestReportView(props: { r: BacktestResult }): JSX.Element {
  const { r } = props;
  const t = r.totals;
  const rows: Array<[string, keyof typeof t.baseline]> = [
    ['Decisions (enforced)', 'enforced'],
    ['Shadow decisions', 'shadow'],
    ['Cuts', 'cuts'],
    ['Suspensions', 'suspensions'],
    ['Permanent suspensions', 'permanentSuspensions'],
    ['Strikes', 'strikes'],
    ['Reviews', 'reviews'],
  ];
  const changedRules = r.rules.filter((x) => x.added.enforced + x.added.shadow + x.removed.enforced + x.removed.shadow + x.changed + x.retimed > 0);
  return (
    <div data-testid="backtest-report">
      <Card title={`Result: ${plural(t.streamsAffected, 'stream')} of ${r.streams} would be treated differently`}>
        <div class="stats stats-compact">
          <div class="stat">
            <div class="stat-label">Added</div>
            <div class="stat-value">{t.added}</div>
          </div>
          <div class="stat">
            <div class="stat-label">Removed</div>
            <div class="stat-value">{t.removed}</div>
          </div>
          <div class="stat">
            <div class="stat-label">Changed</div>
            <div class="stat-value">{t.changed}</div>
          </div>
          <div class="stat">
            <div class="stat-label">Retimed</div>
            <div class="stat-value">{t.retimed}</div>
          </div>
          <div class="stat">
            <div class="stat-label">Newly cut / no longer cut</div>
            <div class="stat-value">
              {t.streamsNewlyCut} / {t.streamsNoLongerCut}
            </div>
          </div>
        </div>
        <div class="table-wrap">
          <table class="table table-compact">
            <thead>
              <tr>
                <th />
                <th class="num">Baseline{r.baseline.versionId ? ` (#${r.baseline.versionId})` : ''}</th>
                <th class="num">Edited</th>
                {t.recorded && <th class="num">Recorded</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map(([label, k]) => (
                <tr key={k} class={t.baseline[k] !== t.candidate[k] ? 'row-changed' : ''}>
                  <td>{label}</td>
                  <td class="num">{t.baseline[k]}</td>
                  <td class="num">{t.candidate[k]}</td>
                  {t.recorded && <td class="num">{t.recorded[k]}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p class="muted small">
          {plural(r.streams, 'stream')}, {plural(r.signals, 'stored signal')} from <Time at={r.since} /> to <Time at={r.until} />.
        </p>
        {r.notes.length > 0 && (
          <ul class="notes">
            {r.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Per rule">
        <div class="table-wrap">
          <table class="table" data-testid="backtest-rules">
            <thead>
              <tr>
                <th>Rule</th>
                <th class="num">Baseline</th>
                <th class="num">Edited</th>
                <th class="num">Added</th>
                <th class="num">Removed</th>
                <th class="num">Changed</th>
                <th class="num">Retimed</th>
                <th class="num">Same</th>
              </tr>
            </thead>
            <tbody>
              {r.rules.map((x) => (
                <tr key={x.ruleId} class={changedRules.includes(x) ? 'row-changed' : ''}>
                  <td>
                    <strong>{x.ruleId}</strong> {!x.inCandidate && <Badge>removed</Badge>} {!x.inBaseline && <Badge tone="info">new</Badge>}
                  </td>
                  <td class="num">
                    {x.baseline.enforced}
                    {x.baseline.shadow ? ` +${x.baseline.shadow}s` : ''}
                  </td>
                  <td class="num">
                    {x.candidate.enforced}
                    {x.candidate.shadow ? ` +${x.candidate.shadow}s` : ''}
                  </td>
                  <td class="num">{x.added.enforced + x.added.shadow}</td>
                  <td class="num">{x.removed.enforced + x.removed.shadow}</td>
                  <td class="num">{x.changed}</td>
                  <td class="num">{x.retimed}</td>
                  <td class="num">{x.unchanged}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
      {changedRules.length > 0 && (
        <Card title="Examples">
          {changedRules.map((x) => (
            <div key={x.ruleId} class="examples">
              <h3>{x.ruleId}</h3>
              {x.examples.map((ex, i) => (
                <div key={i} class="example">
                  <div class="chips">
                    <Badge tone={ex.change === 'added' ? 'bad' : ex.change === 'removed' ? 'good' : 'warn'}>{ex.change}</Badge>
                    <Link href={`/streams/${encodeURIComponent(ex.streamId)}`}>
                      <Mono>{ex.streamId}</Mono>
                    </Link>
                    <Time at={ex.at} />
                  </div>
                  <div class="example-diff">
                    <div>
                      <span class="muted">before</span> {ex.baseline?.summary ?? <em>no decision</em>}
                    </div>
                    <div>
                      <span class="muted">after</span> {ex.candidate?.summary ?? <em>no decision</em>}
                    </div>
                  </div>
                  {ex.differences.length > 0 && <div class="small">{ex.differences.join('; ')}</div>}
                </div>
              ))}
            </div>
          ))}
        </Card>
      )}
    </div>
  );
}
