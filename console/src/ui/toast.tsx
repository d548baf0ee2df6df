import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** Short confirmations of what an action did ("Overturned: 1 strike voided, 1 suspension lifted"). */
interface Toast {
  id: number;
  text: string;
  tone: 'good' | 'bad';
}

let next = 1;
let toasts: Toast[] = [];
const subs = new Set<(t: Toast[]) => void>();
const emit = () => subs.forEach((s) => s(toasts));

export function toast(text: string, tone: 'good' | 'bad' = 'good'): void {
  const t = { id: next++, text, tone };
  toasts = [...toasts, t].slice(-4);
  emit();
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    emit();
  }, 6000);
}

export function Toasts(): JSX.Element {
  const [list, setList] = useState<Toast[]>(toasts);
  useEffect(() => {
    subs.add(setList);
    return () => void subs.delete(setList);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.tone}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
