import { diffLines } from 'diff';

/** A line diff (jsdiff) as rows with old/new line numbers; long unchanged runs fold to their edges. */
export interface DiffRow {
  kind: 'same' | 'add' | 'del' | 'fold';
  oldNo: number | null;
  newNo: number | null;
  text: string;
}

export function lineDiff(before: string, after: string, context = 3): { rows: DiffRow[]; added: number; removed: number } {
  const rows: DiffRow[] = [];
  let o = 1;
  let n = 1;
  let added = 0;
  let removed = 0;
  for (const part of diffLines(before, after)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const text of lines) {
      if (part.added) {
        rows.push({ kind: 'add', oldNo: null, newNo: n++, text });
        added++;
      } else if (part.removed) {
        rows.push({ kind: 'del', oldNo: o++, newNo: null, text });
        removed++;
      } else rows.push({ kind: 'same', oldNo: o++, newNo: n++, text });
    }
  }
  return { rows: fold(rows, context), added, removed };
}

function fold(rows: DiffRow[], context: number): DiffRow[] {
  const near = rows.map(() => false);
  rows.forEach((r, i) => {
    if (r.kind === 'same') return;
    for (let j = Math.max(0, i - context); j <= Math.min(rows.length - 1, i + context); j++) near[j] = true;
  });
  const out: DiffRow[] = [];
  let hidden = 0;
  rows.forEach((r, i) => {
    if (near[i]) {
      if (hidden) out.push({ kind: 'fold', oldNo: null, newNo: null, text: `${hidden} unchanged line${hidden === 1 ? '' : 's'}` });
      hidden = 0;
      out.push(r);
    } else hidden++;
  });
  if (hidden) out.push({ kind: 'fold', oldNo: null, newNo: null, text: `${hidden} unchanged line${hidden === 1 ? '' : 's'}` });
  return out;
}
