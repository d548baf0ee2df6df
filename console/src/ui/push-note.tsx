import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../app/context.ts';
import { timeText } from './format.ts';

/** Says how fresh a list is while push is not connected (connecting, reconnecting, or a gateway without it). */
export function PushNote(props: { loadedAt: number | null; what: string }): JSX.Element | null {
  const { push } = useApp();
  const [state, setState] = useState(push.state);
  useEffect(() => {
    setState(push.state);
    return push.onState(setState);
  }, [push]);
  if (state === 'open') return null;
  const why = state === 'unavailable' ? 'Live updates are not available' : state === 'connecting' ? 'Connecting live updates' : 'Live updates reconnecting';
  return (
    <p class="push-note" data-push-state={state}>
      <span class="dot dot-off" aria-hidden="true" /> {why}: {props.what} as of {props.loadedAt ? timeText(props.loadedAt) : '…'}; press Refresh for newer.
    </p>
  );
}
