import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../app/context.ts';

/**
 * Evidence thumbnails are behind the bearer token, which an <img src> cannot send: they are fetched as
 * blobs and shown through object URLs, kept in a small cache so paging through the queue does not refetch.
 */
const cache = new Map<string, Promise<string>>();
const MAX = 200;

function load(path: string, fetchBlob: (p: string) => Promise<Blob>): Promise<string> {
  let p = cache.get(path);
  if (!p) {
    p = fetchBlob(path).then((b) => URL.createObjectURL(b));
    p.catch(() => cache.delete(path));
    cache.set(path, p);
    if (cache.size > MAX) {
      const [oldest, url] = cache.entries().next().value as [string, Promise<string>];
      cache.delete(oldest);
      void url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
  }
  return p;
}

export function EvidenceImage(props: { path: string; alt: string; class?: string }): JSX.Element {
  const { api } = useApp();
  const [state, setState] = useState<{ url: string | null; failed: boolean }>({ url: null, failed: false });
  useEffect(() => {
    let live = true;
    setState({ url: null, failed: false });
    load(props.path, (p) => api.evidence(p)).then(
      (url) => live && setState({ url, failed: false }),
      () => live && setState({ url: null, failed: true }),
    );
    return () => {
      live = false;
    };
  }, [props.path]);
  if (state.failed) return <div class={`evidence-missing ${props.class ?? ''}`}>Evidence frame unavailable (past retention or not kept)</div>;
  if (!state.url) return <div class={`evidence-loading ${props.class ?? ''}`} aria-busy="true" />;
  return <img src={state.url} alt={props.alt} class={`evidence ${props.class ?? ''}`} loading="lazy" />;
}
