import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { LineError } from './lines.ts';

/**
 * The policy text editor: a plain textarea (native undo, selection, IME and accessibility) with a line
 * gutter that marks the lines the validation errors point at.
 */
export function PolicyTextEditor(props: {
  value: string;
  onInput: (v: string) => void;
  errors: LineError[];
  jumpTo: { line: number; n: number } | null;
}): JSX.Element {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = props.value.split('\n').length;
  const bad = new Map<number, string>();
  for (const e of props.errors) if (e.line !== null && !bad.has(e.line)) bad.set(e.line, `${e.path}: ${e.message}`);

  useEffect(() => {
    const j = props.jumpTo;
    const t = area.current;
    if (!j || !t) return;
    const starts = [0];
    for (let i = 0; i < props.value.length; i++) if (props.value[i] === '\n') starts.push(i + 1);
    const start = starts[j.line - 1] ?? 0;
    const end = (starts[j.line] ?? props.value.length + 1) - 1;
    t.focus();
    t.setSelectionRange(start, end);
    const lh = parseFloat(getComputedStyle(t).lineHeight) || 20;
    t.scrollTop = Math.max(0, (j.line - 4) * lh);
  }, [props.jumpTo]);

  return (
    <div class="code-editor">
      <div class="code-gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <div key={i} class={bad.has(i + 1) ? 'gutter-line gutter-bad' : 'gutter-line'} title={bad.get(i + 1)} data-line={i + 1}>
            {i + 1}
          </div>
        ))}
      </div>
      <textarea
        ref={area}
        class="code-text"
        value={props.value}
        spellcheck={false}
        autoComplete="off"
        wrap="off"
        aria-label="Policy text (YAML or JSON)"
        onInput={(e) => props.onInput((e.target as HTMLTextAreaElement).value)}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop;
        }}
      />
    </div>
  );
}
