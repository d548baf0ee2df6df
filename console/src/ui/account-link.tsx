import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { knownHandle, resolveHandle } from '../api/handles.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { Mono } from './components.tsx';

/** The account of a decision, as a link to its page once the handle is known. */
export function AccountOf(props: { accountId: string; streamId: string }): JSX.Element {
  const { api } = useApp();
  const [handle, setHandle] = useState<string | null | undefined>(() => knownHandle(props.accountId, props.streamId) ?? undefined);
  useEffect(() => {
    let live = true;
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
  }, [props.accountId, props.streamId]);
  if (handle)
    return (
      <Link href={`/accounts/${encodeURIComponent(handle)}`} class="account-link">
        @{handle}
      </Link>
    );
  return <Mono title={handle === null ? 'handle not known to the console (see docs/console-api.md)' : 'looking up the handle'}>{props.accountId}</Mono>;
}
