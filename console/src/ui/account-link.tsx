import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { knownHandle, resolveHandle } from '../api/handles.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { Mono } from './components.tsx';

/** The account of a decision, as a link to its page (decision views carry the handle; older answers are looked up). */
export function AccountOf(props: { accountId: string; streamId: string; handle?: string | null }): JSX.Element {
  const { api } = useApp();
  const [handle, setHandle] = useState<string | null | undefined>(() => props.handle ?? knownHandle(props.accountId, props.streamId) ?? undefined);
  useEffect(() => {
    let live = true;
    if (props.handle) return void setHandle(props.handle);
    const known = knownHandle(props.accountId, props.streamId);
    if (known) setHandle(known);
    else
      resolveHandle(api, props.accountId, props.streamId).then(
        (h) => live && setHandle(h),
        () => live && setHandle(null),
      );
    return () => {
      live = false;
    };
  }, [props.accountId, props.streamId, props.handle]);
  if (handle)
    return (
      <Link href={`/accounts/${encodeURIComponent(handle)}`} class="account-link">
        @{handle}
      </Link>
    );
  return <Mono title={handle === null ? 'handle not known to the console (see docs/console-api.md)' : 'looking up the handle'}>{props.accountId}</Mono>;
}
