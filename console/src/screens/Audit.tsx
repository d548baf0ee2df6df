import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AuditFilter } from '../api/endpoints.ts';
import { useApp } from '../app/context.ts';
import { navigate, useLocation } from '../app/router.tsx';
import { AuditTable } from '../ui/audit-table.tsx';
import { Button, Card, ErrorBox, Loading, PageHead } from '../ui/components.tsx';
import { fromLocalInput } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';

const FIELDS = ['actor', 'action', 'targetType', 'targetId', 'since', 'until'] as const;
const PAGE = 50;

/** Filters live in the URL (they hold no secrets), so a filtered view can be linked and reloaded. */
export function Audit(): JSX.Element {
  const { api } = useApp();
  const { query } = useLocation();
  const filter: AuditFilter = {};
  for (const f of FIELDS) {
    const v = query.get(f);
    if (v) filter[f] = v;
  }
  const before = query.get('before');
  const key = query.toString();
  const page = useResource(
    () =>
      api.audit({
        ...filter,
        ...(filter.since ? { since: String(fromLocalInput(filter.since) ?? filter.since) } : {}),
        ...(filter.until ? { until: String(fromLocalInput(filter.until) ?? filter.until) } : {}),
        before: before ? Number(before) : undefined,
        limit: PAGE,
      }),
    [key],
  );
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ''])));
  const [history, setHistory] = useState<string[]>([]);

  const apply = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const f of FIELDS) if (draft[f]?.trim()) p.set(f, draft[f]!.trim());
    setHistory([]);
    navigate(`/audit${p.toString() ? `?${p}` : ''}`);
  };
  const goOlder = (next: number) => {
    const p = new URLSearchParams(query);
    setHistory([...history, before ?? '']);
    p.set('before', String(next));
    navigate(`/audit?${p}`);
  };
  const goNewer = () => {
    const p = new URLSearchParams(query);
    const prev = history[history.length - 1] ?? '';
    setHistory(history.slice(0, -1));
    if (prev) p.set('before', prev);
    else p.delete('before');
    navigate(`/audit${p.toString() ? `?${p}` : ''}`);
  };
  const input = (f: (typeof FIELDS)[number], label: string, placeholder: string, type: 'text' | 'datetime-local' = 'text') => (
    <label class="field field-inline">
      <span>{label}</span>
      {type === 'text' ? (
        <input
          type="text"
          name={f}
          value={draft[f]}
          placeholder={placeholder}
          onInput={(e) => setDraft({ ...draft, [f]: (e.target as HTMLInputElement).value })}
          spellcheck={false}
        />
      ) : (
        <input type="datetime-local" name={f} value={draft[f]} onInput={(e) => setDraft({ ...draft, [f]: (e.target as HTMLInputElement).value })} />
      )}
    </label>
  );

  return (
    <>
      <PageHead title="Audit log" sub="Every state change, append-only: who did what to which target, and why" />
      <Card>
        <form class="filters" onSubmit={apply}>
          {input('actor', 'Actor', 'token:alice, policy:…')}
          {input('action', 'Action', 'decision.overturn')}
          {input('targetType', 'Target type', 'account, stream, bank…')}
          {input('targetId', 'Target', 'handle or id')}
          {input('since', 'From', '', 'datetime-local')}
          {input('until', 'Until', '', 'datetime-local')}
          <div class="filters-actions">
            <Button type="submit" variant="primary">
              Apply
            </Button>
            <Button
              variant="ghost"
              onClick={() => {
                setDraft(Object.fromEntries(FIELDS.map((f) => [f, ''])));
                setHistory([]);
                navigate('/audit');
              }}
            >
              Clear
            </Button>
          </div>
        </form>
      </Card>
      <Card>
        {page.error ? (
          <ErrorBox error={page.error} retry={page.reload} />
        ) : !page.data ? (
          <Loading what="audit records" />
        ) : (
          <AuditTable records={page.data.records} />
        )}
        <div class="pager">
          <Button small disabled={!before} onClick={goNewer}>
            ← Newer
          </Button>
          <span class="muted">{page.data ? `${page.data.records.length} records${before ? ` before #${before}` : ''}` : ''}</span>
          <Button small disabled={!page.data?.next} onClick={() => page.data?.next && goOlder(page.data.next)}>
            Older →
          </Button>
        </div>
      </Card>
    </>
  );
}
