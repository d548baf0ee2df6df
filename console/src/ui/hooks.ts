import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** When the data was last loaded (epoch ms). */
  loadedAt: number | null;
  reload: () => Promise<void>;
  set: (v: T) => void;
  /** Changes the data in place (push events); no-op before the first load. */
  update: (fn: (v: T) => T) => void;
}

/** Loads `fn` now and whenever `deps` change; stale answers (an older request finishing late) are dropped. */
export function useResource<T>(fn: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean; loadedAt: number | null }>({
    data: undefined,
    error: null,
    loading: true,
    loadedAt: null,
  });
  const seq = useRef(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await fnRef.current();
      if (mine === seq.current) setState({ data, error: null, loading: false, loadedAt: Date.now() });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ ...s, error, loading: false }));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, deps);
  return {
    ...state,
    reload,
    set: (data: T) => setState((s) => ({ ...s, data })),
    update: (fn: (v: T) => T) => setState((s) => (s.data === undefined ? s : { ...s, data: fn(s.data) })),
  };
}

/** Re-renders every `ms` (ages and uptimes tick). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Single-key shortcuts, ignored while typing in a field or when a dialog is open. */
export function useKeys(map: Record<string, (e: KeyboardEvent) => void>, enabled = true): void {
  const ref = useRef(map);
  ref.current = map;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
      if (document.querySelector('dialog[open]')) return;
      const h = ref.current[e.key];
      if (h) {
        e.preventDefault();
        h(e);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [enabled]);
}

/** A media query as state (the phone layout). */
export function useMedia(query: string): boolean {
  const [m, setM] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const mq = window.matchMedia(query);
    const on = () => setM(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [query]);
  return m;
}

/**
 * Runs `fn` now, unless a run is in flight: then once more after it (however many calls came meanwhile).
 * Pushed events re-read a list at once, and a burst costs two requests, not one per event.
 */
export function useCoalesced(fn: () => Promise<void>): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const state = useRef({ running: false, again: false });
  return useCallback(() => {
    const s = state.current;
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    void (async () => {
      do {
        s.again = false;
        try {
          await ref.current();
        } catch {
          // the resource keeps its error for the screen to show
        }
      } while (s.again);
      s.running = false;
    })();
  }, []);
}
