import { useEffect, useRef } from 'preact/hooks';
import { useApp } from '../app/context.ts';
import type { PushEvent, PushEventType } from './push.ts';

/** Calls `handler` for each pushed event of `types` while the component is mounted. */
export function usePush<T extends PushEventType>(types: readonly T[], handler: (event: Extract<PushEvent, { type: T }>) => void): void {
  const { push } = useApp();
  const ref = useRef(handler);
  ref.current = handler;
  const key = types.join(',');
  useEffect(() => push.subscribe(types, (e) => ref.current(e)), [push, key]);
}
