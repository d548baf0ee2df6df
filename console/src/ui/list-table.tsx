import type { ComponentChildren, JSX } from 'preact';
import { Empty, ErrorBox, Loading } from './components.tsx';
import type { Resource } from './hooks.ts';

/**
 * The scaffolding the list screens share (banks, exchanges, incidents, quarantines, opinions, audit): a
 * loaded list's error (with a retry) and loading states, then its table in the scroll box, or a line
 * saying why it is empty.
 */

/** A column: its heading, or its heading and a class for the heading cell (`num` right-aligns). */
export type Column = string | { head: ComponentChildren; class: string };

/** A list as a table: one row per item (the caller's `<tr>`, keyed), or `empty` when there is none. */
export function ListTable<T>(props: {
  items: readonly T[];
  columns: readonly Column[];
  row: (item: T) => ComponentChildren;
  empty: ComponentChildren;
  testId?: string;
  compact?: boolean;
}): JSX.Element {
  if (props.items.length === 0) return <Empty>{props.empty}</Empty>;
  return (
    <div class="table-wrap">
      <table class={`table${props.compact ? ' table-compact' : ''}`} data-testid={props.testId}>
        <thead>
          <tr>
            {props.columns.map((c, i) =>
              typeof c === 'string' ? (
                <th key={i}>{c}</th>
              ) : (
                <th key={i} class={c.class}>
                  {c.head}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.items.map(props.row)}</tbody>
      </table>
    </div>
  );
}

/** What a resource holds once it has loaded; its error (with a retry) or a loading line until then. */
export function Loaded<T>(props: { resource: Resource<T>; what: string; children: (data: T) => ComponentChildren }): JSX.Element {
  const r = props.resource;
  if (r.error) return <ErrorBox error={r.error} retry={r.reload} />;
  if (r.data === undefined) return <Loading what={props.what} />;
  return <>{props.children(r.data)}</>;
}
