import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { parseHashList, type ParsedList } from '../banks/import.ts';
import { useApp } from '../app/context.ts';
import { Link, useLocation } from '../app/router.tsx';
import type { BankEntry, ImportReport } from '../api/work.ts';
import { EvidenceImage } from '../ui/evidence.tsx';
import { AuditTable } from '../ui/audit-table.tsx';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, severityTone, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';

export function BankPage(props: { name: string }): JSX.Element {
  const { api, isOperator } = useApp();
  const banks = useResource(() => api.banks(), [props.name]);
  const history = useResource(() => api.audit({ targetType: 'bank', targetId: props.name, limit: 50 }), [props.name]);
  // Which exchange feeds this bank, and how many of its entries are held (issue 13); neither blocks the page.
  const feeder = useResource(() => api.exchanges().then((l) => l.find((x) => x.bank === props.name) ?? null), [props.name]);
  const held = useResource(() => api.quarantines('open').then((l) => l.filter((q) => q.bank === props.name).length), [props.name]);
  const [toggle, setToggle] = useState(false);
  const bank = banks.data?.banks.find((b) => b.name === props.name);
  const focus = useLocation().query.get('entry');
  const reload = async () => {
    await Promise.all([banks.reload(), history.reload(), held.reload()]);
  };

  if (banks.error) return <ErrorBox error={banks.error} retry={banks.reload} />;
  if (!banks.data) return <Loading what="the bank" />;
  if (!bank)
    return (
      <>
        <PageHead title={props.name} />
        <div class="alert alert-warn">
          No bank named “{props.name}”. <Link href="/banks">All banks</Link>
        </div>
      </>
    );

  const download = async (format: 'csv' | 'plain' | 'hma') => {
    try {
      const blob = await api.exportBank(bank.name, format);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${bank.name}.${format === 'csv' ? 'csv' : 'txt'}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      toast(String((err as Error).message), 'bad');
    }
  };

  return (
    <>
      <PageHead
        title={bank.name}
        sub={
          <span class="chips">
            {bank.enabled ? <Badge tone="good">matching</Badge> : <Badge>disabled</Badge>}
            <BankKindBadge kind={bank.kind} />
            <Badge tone={severityTone(bank.default_severity)}>{bank.default_severity}</Badge>
            <span>{bank.default_category}</span>
            {feeder.data && (
              <span data-testid="bank-feeder">
                fed by <Link href="/exchanges">{feeder.data.name}</Link>
              </span>
            )}
            {held.data ? (
              <Link href={`/quarantines?bank=${encodeURIComponent(bank.name)}`} data-testid="bank-held">
                {plural(held.data, 'entry', 'entries')} quarantined
              </Link>
            ) : null}
          </span>
        }
        actions={
          <>
            <span class="btn-group" role="group" aria-label="Export">
              <Button onClick={() => void download('csv')}>Export CSV</Button>
              <Button onClick={() => void download('plain')}>Plain</Button>
              <Button onClick={() => void download('hma')}>HMA</Button>
            </span>
            {isOperator && (
              <Button variant={bank.enabled ? 'danger' : 'primary'} onClick={() => setToggle(true)}>
                {bank.enabled ? 'Disable bank…' : 'Enable bank…'}
              </Button>
            )}
          </>
        }
      />
      <div class="grid-2">
        <Card title="Bank">
          <KeyValues
            items={[
              ['Entries', `${bank.entries.toLocaleString()} (${bank.enabledEntries.toLocaleString()} enabled)`],
              ['Match radius', `${bank.radius} bits`],
              [
                'Kind',
                bank.kind === 'negative'
                  ? 'negative (“don’t match”): a frame matching it suppresses matches of positive banks'
                  : 'positive: its matches act under the policy',
              ],
              [
                'Matching',
                bank.matching_enabled_ratio >= 1 ? 'all of its content' : `${Math.round(bank.matching_enabled_ratio * 100)} % of its content (gradual rollout)`,
              ],
              [
                'Source',
                feeder.data ? (
                  <>
                    exchange <Link href="/exchanges">{feeder.data.name}</Link> ({feeder.data.kind}), last fetch{' '}
                    {feeder.data.lastFetchAt ? <Time at={feeder.data.lastFetchAt} /> : 'never'}
                  </>
                ) : (
                  'curated here (no exchange feeds it)'
                ),
              ],
              ['Description', bank.description ?? '—'],
              [
                'Created',
                <>
                  <Time at={bank.created_at} /> by {actorText(bank.created_by)}
                </>,
              ],
            ]}
          />
        </Card>
        <ImportCard bank={bank.name} onImported={reload} />
      </div>
      {focus && <EntryFocus bank={bank.name} id={focus} onChanged={reload} />}
      <EntriesCard bank={bank.name} canChange={isOperator} shared={feeder.data != null} onChanged={reload} />
      <Card title="History">
        {history.data ? <AuditTable records={history.data.records} compact /> : history.error ? <ErrorBox error={history.error} /> : <Loading />}
      </Card>
      <ReasonDialog
        open={toggle}
        title={bank.enabled ? `Disable ${bank.name}` : `Enable ${bank.name}`}
        description={
          <p>
            {bank.enabled ? 'Live matching stops using its hashes within a second. Entries are kept.' : 'Live matching uses its hashes again within a second.'}
          </p>
        }
        confirmLabel={bank.enabled ? 'Disable' : 'Enable'}
        danger={bank.enabled === 1}
        reasonRequired={false}
        onClose={() => setToggle(false)}
        onSubmit={async (reason) => {
          await api.setBankEnabled(bank.name, !bank.enabled, reason || undefined);
          toast(bank.enabled ? 'Bank disabled' : 'Bank enabled');
          await reload();
        }}
      />
    </>
  );
}

function ImportCard(props: { bank: string; onImported: () => Promise<void> }): JSX.Element {
  const { api } = useApp();
  const [file, setFile] = useState<{ name: string; blob: File; parsed: ParsedList | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const read = async (f: File | undefined) => {
    setReport(null);
    setError(null);
    if (!f) return setFile(null);
    if (f.size > IMPORT_MAX_BYTES) return setError(new Error('The file is over 64 MiB; import it with `modgate bank import`.'));
    // A preview with the CLI's parser for files a browser reads in a blink; larger ones go straight to the gateway, which streams them.
    setFile({ name: f.name, blob: f, parsed: f.size <= PREVIEW_MAX_BYTES ? parseHashList(await f.text()) : null });
  };
  const p = file?.parsed ?? null;
  const run = async () => {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.importFile(props.bank, file.blob, file.name);
      setReport(r);
      toast(`${r.added} entries added to ${props.bank}`);
      setFile(null);
      await props.onImported();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Import a hash list">
      <p class="muted small">
        Plain (one 64-hex PDQ hash per line), HMA (<code>pdq HASH</code>), CSV with a hash column, or vPDQ lines, up to 64 MiB. The gateway reads the file line
        by line as it arrives; valid lines are added in one transaction, hashes already in the bank are skipped, invalid lines are listed.
      </p>
      <input
        type="file"
        accept=".txt,.csv,.tsv,.hma,text/plain,text/csv"
        onChange={(e) => void read((e.target as HTMLInputElement).files?.[0])}
        aria-label="Hash list file"
        data-testid="import-file"
      />
      {file && (
        <div class="import-report" data-testid="import-report">
          {p ? (
            <>
              <p>
                <strong>{file.name}</strong>: {p.format ?? 'unknown'} format, {plural(p.lines, 'line')} →{' '}
                <strong>{plural(p.entries.length, 'valid entry', 'valid entries')}</strong>
                {p.errors.length > 0 && (
                  <>
                    , <strong class="text-bad">{plural(p.errors.length, 'invalid line')}</strong> (not imported)
                  </>
                )}
              </p>
              <LineErrors errors={p.errors} />
            </>
          ) : (
            <p>
              <strong>{file.name}</strong>: {(file.blob.size / 1024 / 1024).toFixed(1)} MiB, checked by the gateway as it arrives.
            </p>
          )}
          <Button variant="primary" disabled={busy || (p !== null && p.entries.length === 0)} onClick={() => void run()}>
            {busy ? 'Importing…' : p ? `Import ${plural(p.entries.length, 'entry', 'entries')}` : 'Import the file'}
          </Button>
        </div>
      )}
      {report && (
        <div class="import-result" data-testid="import-result">
          <div class={`alert ${report.errorCount ? 'alert-warn' : 'alert-good'}`}>
            {report.format ?? 'empty'} list, {plural(report.lines, 'line')}: <strong>{plural(report.added, 'new entry', 'new entries')}</strong>,{' '}
            {plural(report.duplicates, 'duplicate')} already in the bank
            {report.lowQuality ? `, ${report.lowQuality} skipped for low quality` : ''}
            {report.errorCount ? (
              <>
                , <strong>{plural(report.errorCount, 'invalid line')}</strong> not imported
              </>
            ) : (
              ''
            )}
            .
          </div>
          <LineErrors errors={report.errors} total={report.errorCount} />
        </div>
      )}
      {error !== null && <ErrorBox error={error} />}
    </Card>
  );
}

const IMPORT_MAX_BYTES = 64 * 1024 * 1024;
const PREVIEW_MAX_BYTES = 8 * 1024 * 1024;

function LineErrors(props: { errors: Array<{ line: number; reason: string }>; total?: number }): JSX.Element | null {
  if (props.errors.length === 0) return null;
  const total = props.total ?? props.errors.length;
  return (
    <div class="table-wrap import-errors">
      <table class="table table-compact" data-testid="line-errors">
        <thead>
          <tr>
            <th class="num">Line</th>
            <th>Problem</th>
          </tr>
        </thead>
        <tbody>
          {props.errors.slice(0, 200).map((e) => (
            <tr key={e.line}>
              <td class="num">{e.line}</td>
              <td>{e.reason.replace(/^line \d+: /, '')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {total > 200 && <p class="muted">…and {(total - 200).toLocaleString()} more.</p>}
    </div>
  );
}

const ENTRY_PAGE = 50;

/** The bank's entries a page at a time: filter by hash prefix or text, by state; operators disable or enable one. */
function BankKindBadge(props: { kind: 'positive' | 'negative' }): JSX.Element {
  return props.kind === 'negative' ? (
    <Badge tone="info" title="HMA's “don't match” bank: its matches suppress positive ones">
      negative bank
    </Badge>
  ) : (
    <Badge title="Its matches act under the policy">positive bank</Badge>
  );
}

/** An entry's state: enabled or not, held by a quarantine, and a moderator's opinion of it. */
function EntryState(props: { e: BankEntry }): JSX.Element {
  const { e } = props;
  return (
    <span class="chips" data-testid="entry-state">
      {e.enabled ? <Badge tone="good">enabled</Badge> : <Badge>disabled</Badge>}
      {e.quarantined && (
        <Badge tone="warn" title="Its matches are logged but cut nothing until a moderator decides">
          quarantined
        </Badge>
      )}
      {e.opinion && <Badge tone={e.opinion === 'confirmed' ? 'good' : 'bad'}>{e.opinion}</Badge>}
    </span>
  );
}

/**
 * `shared`: an exchange feeds the bank, so its entries are third-party signals a moderator confirms or
 * deconfirms (a deconfirmation disables the entry and is reported back to the exchange).
 */
function EntriesCard(props: { bank: string; canChange: boolean; shared: boolean; onChanged: () => Promise<void> }): JSX.Element {
  const { api } = useApp();
  const [q, setQ] = useState('');
  const [text, setText] = useState('');
  const [state, setState] = useState<'' | 'true' | 'false'>('');
  const [trail, setTrail] = useState<string[]>([]);
  const [after, setAfter] = useState('');
  const [toggle, setToggle] = useState<BankEntry | null>(null);
  const [opinion, setOpinion] = useState<{ e: BankEntry; opinion: 'confirm' | 'deconfirm' } | null>(null);
  const page = useResource(
    () =>
      api.bankEntries(props.bank, {
        limit: ENTRY_PAGE,
        ...(q ? { q } : {}),
        ...(state ? { enabled: state === 'true' } : {}),
        ...(after ? { after } : {}),
      }),
    [props.bank, q, state, after],
  );
  const reset = () => {
    setTrail([]);
    setAfter('');
  };
  return (
    <Card title="Entries">
      <form
        class="searchbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          reset();
          setQ(text.trim());
        }}
      >
        <input
          type="search"
          placeholder="Hash prefix, or text in the note or source"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          aria-label="Search entries"
          spellcheck={false}
        />
        <select
          aria-label="Entry state"
          value={state}
          onChange={(e) => {
            reset();
            setState((e.target as HTMLSelectElement).value as '' | 'true' | 'false');
          }}
        >
          <option value="">enabled and disabled</option>
          <option value="true">enabled</option>
          <option value="false">disabled</option>
        </select>
        <Button type="submit">Search</Button>
      </form>
      {page.error ? (
        <ErrorBox error={page.error} retry={page.reload} />
      ) : !page.data ? (
        <Loading what="entries" />
      ) : page.data.entries.length === 0 ? (
        <Empty>No entries{q ? ` match “${q}”` : ''}.</Empty>
      ) : (
        <>
          <div class="table-wrap">
            <table class="table table-compact" data-testid="entries-table">
              <thead>
                <tr>
                  <th>Hash</th>
                  <th>Category</th>
                  <th>Source · note</th>
                  <th>Added</th>
                  <th>State</th>
                  {(props.canChange || props.shared) && <th />}
                </tr>
              </thead>
              <tbody>
                {page.data.entries.map((e) => (
                  <tr key={e.id} data-entry={e.id}>
                    <td>
                      <Link href={`/banks/${encodeURIComponent(props.bank)}?entry=${encodeURIComponent(e.id)}`}>
                        <Mono title={e.hash}>{`${e.hash.slice(0, 16)}…`}</Mono>
                      </Link>
                      {e.picture && <span class="muted small"> · picture</span>}
                      {e.derived > 0 && <span class="muted small"> · {e.derived} crops</span>}
                    </td>
                    <td>
                      {e.category} <Badge tone={severityTone(e.severity)}>{e.severity}</Badge>
                    </td>
                    <td class="small">
                      {e.source ?? '—'}
                      {e.note ? ` · ${e.note}` : ''}
                    </td>
                    <td class="small nowrap">
                      <Time at={e.addedAt} /> · {actorText(e.addedBy)}
                    </td>
                    <td>
                      <EntryState e={e} />
                    </td>
                    {(props.canChange || props.shared) && (
                      <td class="nowrap">
                        <span class="btn-group">
                          {props.shared && e.opinion !== 'confirmed' && (
                            <Button small onClick={() => setOpinion({ e, opinion: 'confirm' })}>
                              Confirm…
                            </Button>
                          )}
                          {props.shared && e.opinion !== 'deconfirmed' && (
                            <Button small onClick={() => setOpinion({ e, opinion: 'deconfirm' })}>
                              Deconfirm…
                            </Button>
                          )}
                          {props.canChange && (
                            <Button small variant={e.enabled ? 'ghost' : 'default'} onClick={() => setToggle(e)}>
                              {e.enabled ? 'Disable…' : 'Enable…'}
                            </Button>
                          )}
                        </span>
                      </td>
                    )}
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
                setAfter(trail[trail.length - 1] ?? '');
                setTrail(trail.slice(0, -1));
              }}
            >
              ← Previous
            </Button>
            <span class="muted small" data-testid="entries-page">
              page {trail.length + 1} · {page.data.entries.length} shown
            </span>
            <Button
              small
              disabled={page.data.next === null}
              onClick={() => {
                setTrail([...trail, after]);
                setAfter(page.data!.next!);
              }}
            >
              Next →
            </Button>
          </div>
        </>
      )}
      <ReasonDialog
        open={toggle !== null}
        title={toggle?.enabled ? 'Disable the entry' : 'Enable the entry'}
        description={
          <p>
            {toggle?.enabled
              ? 'Live matching stops using this hash (and its crops) within a second. The entry is kept.'
              : 'Live matching uses this hash again within a second.'}{' '}
            <Mono>{toggle?.hash.slice(0, 16)}…</Mono>
          </p>
        }
        confirmLabel={toggle?.enabled ? 'Disable entry' : 'Enable entry'}
        danger={toggle?.enabled === true}
        reasonRequired={false}
        onClose={() => setToggle(null)}
        onSubmit={async (reason) => {
          const r = await api.setEntryEnabled(props.bank, toggle!.id, !toggle!.enabled, reason || undefined);
          toast(r.enabled ? 'Entry enabled' : 'Entry disabled');
          await Promise.all([page.reload(), props.onChanged()]);
        }}
      />
      <ReasonDialog
        open={opinion !== null}
        title={opinion?.opinion === 'confirm' ? 'Confirm the shared signal' : 'Deconfirm the shared signal'}
        description={
          <p>
            {opinion?.opinion === 'confirm'
              ? 'You agree this hash is what its exchange says it is. The opinion is recorded and reported to the exchange where it takes opinions.'
              : 'A false positive: the entry is disabled (and kept so by later fetches), and the opinion is reported to the exchange where it takes opinions.'}{' '}
            <Mono>{opinion?.e.hash.slice(0, 16)}…</Mono>
          </p>
        }
        confirmLabel={opinion?.opinion === 'confirm' ? 'Confirm' : 'Deconfirm'}
        danger={opinion?.opinion === 'deconfirm'}
        onClose={() => setOpinion(null)}
        onSubmit={async (reason) => {
          const r = await api.giveOpinion(props.bank, opinion!.e.id, opinion!.opinion, reason);
          const o = r.opinion;
          toast(
            r.reportedTo
              ? `Recorded and sent to ${r.reportedTo}`
              : o.delivery === 'pending'
                ? `Recorded; ${o.exchange} did not take it yet${r.reportError ? ` (${r.reportError})` : ''}: it is sent again until it does`
                : o.delivery === 'not_taken'
                  ? `Recorded (${o.exchange} takes no opinions)`
                  : o.delivery === 'rejected'
                    ? `Recorded; ${o.exchange} refused it${r.reportError ? ` (${r.reportError})` : ''}: it is not sent again`
                    : 'Recorded',
            r.reportError ? 'bad' : undefined,
          );
          await Promise.all([page.reload(), props.onChanged()]);
        }}
      />
    </Card>
  );
}

/** One entry opened from a review or a link (`?entry=`): its picture when the bank keeps one, every field. */
function EntryFocus(props: { bank: string; id: string; onChanged: () => Promise<void> }): JSX.Element {
  const { api } = useApp();
  const entry = useResource(() => api.bankEntry(props.bank, props.id), [props.bank, props.id]);
  const e = entry.data;
  return (
    <Card title="Entry" class="entry-focus">
      {entry.error ? (
        <ErrorBox error={entry.error} />
      ) : !e ? (
        <Loading />
      ) : (
        <div class="grid-2" data-testid="entry-focus">
          {e.picture ? (
            <EvidenceImage path={e.picture} alt={`banked picture of entry ${e.id}`} />
          ) : (
            <p class="muted">This entry was banked as a hash only (from a hash list); there is no picture to show.</p>
          )}
          <KeyValues
            items={[
              ['Entry', <Mono>{e.id}</Mono>],
              ['PDQ hash', <Mono>{e.hash}</Mono>],
              ['Category', `${e.category} (${e.severity})`],
              ['Source', e.source ?? '—'],
              ['Note', e.note ?? '—'],
              [
                'Added',
                <>
                  <Time at={e.addedAt} /> by {actorText(e.addedBy)}
                </>,
              ],
              ['State', <EntryState e={e} />],
              ['Derived crops', String(e.derived)],
            ]}
          />
        </div>
      )}
    </Card>
  );
}
