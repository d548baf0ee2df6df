import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { MAX_ENTRIES_PER_REQUEST, parseHashList, type ParsedList } from '../banks/import.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { AuditTable } from '../ui/audit-table.tsx';
import { Badge, Button, Card, ErrorBox, KeyValues, Loading, NotAvailable, PageHead, severityTone, Time } from '../ui/components.tsx';
import { ReasonDialog } from '../ui/dialog.tsx';
import { actorText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';

export function BankPage(props: { name: string }): JSX.Element {
  const { api, isOperator } = useApp();
  const banks = useResource(() => api.banks(), [props.name]);
  const history = useResource(() => api.audit({ targetType: 'bank', targetId: props.name, limit: 50 }), [props.name]);
  const [toggle, setToggle] = useState(false);
  const bank = banks.data?.banks.find((b) => b.name === props.name);
  const reload = async () => {
    await Promise.all([banks.reload(), history.reload()]);
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
            <Badge tone={severityTone(bank.default_severity)}>{bank.default_severity}</Badge>
            <span>{bank.default_category}</span>
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
      <Card title="Entries">
        <NotAvailable feature="bankEntries">
          Browsing the entries page by page, and disabling one entry, need endpoints the gateway does not have yet; the export above holds every enabled entry.
        </NotAvailable>
      </Card>
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
  const [file, setFile] = useState<{ name: string; parsed: ParsedList } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<string | null>(null);
  const read = async (f: File | undefined) => {
    setResult(null);
    setError(null);
    if (!f) return setFile(null);
    if (f.size > 64 * 1024 * 1024) return setError(new Error('The file is over 64 MiB; import it with `modgate bank import`.'));
    setFile({ name: f.name, parsed: parseHashList(await f.text()) });
  };
  const p = file?.parsed;
  const tooMany = p !== undefined && p.entries.length > MAX_ENTRIES_PER_REQUEST;
  const run = async () => {
    if (!p || p.entries.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.addEntries(
        props.bank,
        p.entries.map((e) => ({
          hash: e.hash,
          ...(e.category ? { category: e.category } : {}),
          ...(e.severity ? { severity: e.severity } : {}),
          ...(e.note ? { note: e.note } : {}),
          ...(e.source ? { source: e.source } : {}),
        })),
      );
      setResult(`Imported: ${plural(r.added, 'new entry', 'new entries')}, ${plural(r.duplicates, 'duplicate')} already in the bank.`);
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
        Plain (one 64-hex PDQ hash per line), HMA (<code>pdq HASH</code>) or CSV with a hash column. Checked here line by line with the CLI's parser; valid
        lines are added in one transaction, hashes already in the bank are skipped.
      </p>
      <input
        type="file"
        accept=".txt,.csv,.tsv,.hma,text/plain,text/csv"
        onChange={(e) => void read((e.target as HTMLInputElement).files?.[0])}
        aria-label="Hash list file"
        data-testid="import-file"
      />
      {p && (
        <div class="import-report" data-testid="import-report">
          <p>
            <strong>{file!.name}</strong>: {p.format ?? 'unknown'} format, {plural(p.lines, 'line')} →{' '}
            <strong>{plural(p.entries.length, 'valid entry', 'valid entries')}</strong>
            {p.errors.length > 0 && (
              <>
                , <strong class="text-bad">{plural(p.errors.length, 'invalid line')}</strong> (not imported)
              </>
            )}
          </p>
          {p.errors.length > 0 && (
            <div class="table-wrap import-errors">
              <table class="table table-compact">
                <thead>
                  <tr>
                    <th class="num">Line</th>
                    <th>Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {p.errors.slice(0, 200).map((e) => (
                    <tr key={e.line}>
                      <td class="num">{e.line}</td>
                      <td>{e.reason.replace(/^line \d+: /, '')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {p.errors.length > 200 && <p class="muted">…and {p.errors.length - 200} more.</p>}
            </div>
          )}
          {tooMany ? (
            <div class="alert alert-warn">
              {p.entries.length.toLocaleString()} entries is more than one request can add at once ({MAX_ENTRIES_PER_REQUEST.toLocaleString()}). Import this
              file with <code>modgate bank import {props.bank} FILE</code>; the console will take it whole once the file import endpoint exists.
            </div>
          ) : (
            <Button variant="primary" disabled={busy || p.entries.length === 0} onClick={() => void run()}>
              {busy ? 'Importing…' : `Import ${plural(p.entries.length, 'entry', 'entries')}`}
            </Button>
          )}
        </div>
      )}
      {result && <div class="alert alert-good">{result}</div>}
      {error !== null && <ErrorBox error={error} />}
    </Card>
  );
}
