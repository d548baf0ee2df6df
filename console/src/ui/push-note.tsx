import type { JSX } from 'preact';
import { useApp } from '../app/context.ts';
import { timeText } from './format.ts';

/** Says how fresh a list is while the gateway has no push endpoint (phase 2 removes the need). */
export function PushNote(props: { loadedAt: number | null; what: string }): JSX.Element | null {
  const { push } = useApp();
  if (push.state === 'open') return null;
  return (
    <p class="push-note" data-unavailable="push">
      <span class="dot dot-off" aria-hidden="true" /> Live updates are not available yet: {props.what} as of {props.loadedAt ? timeText(props.loadedAt) : '…'}; press Refresh for newer.
    </p>
  );
}
