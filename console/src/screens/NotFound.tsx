import type { JSX } from 'preact';
import { Link } from '../app/router.tsx';
import { PageHead } from '../ui/components.tsx';

export function NotFound(): JSX.Element {
  return (
    <>
      <PageHead title="Page not found" />
      <p>
        There is no console page at <code>{location.pathname}</code>. <Link href="/">Back to the dashboard</Link>.
      </p>
    </>
  );
}

/** A moderator who opens an operator page (a bookmark, a shared link) learns why instead of seeing a broken screen. */
export function OperatorsOnly(props: { what?: string }): JSX.Element {
  return (
    <>
      <PageHead title="Operators only" />
      <div class="alert alert-warn" data-testid="operators-only">
        {props.what ? (
          <>{props.what} is for operators. Your token has the moderator role; the gateway refuses it too.</>
        ) : (
          <>
            The policy editor is for operators. Your token has the moderator role; the gateway refuses policy changes from it. Ask an operator if a rule needs
            changing.
          </>
        )}
      </div>
    </>
  );
}
