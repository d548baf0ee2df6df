import type { ComponentChildren, JSX } from 'preact';
import { lazy, Suspense } from 'preact/compat';
import { useErrorBoundary } from 'preact/hooks';
import { Loading } from '../ui/components.tsx';
import { Accounts } from '../screens/Accounts.tsx';
import { AccountPage } from '../screens/Account.tsx';
import { Appeals } from '../screens/Appeals.tsx';
import { Audit } from '../screens/Audit.tsx';
import { BankPage } from '../screens/Bank.tsx';
import { Banks } from '../screens/Banks.tsx';
import { Dashboard } from '../screens/Dashboard.tsx';
import { Live } from '../screens/Live.tsx';
import { NotFound, OperatorsOnly } from '../screens/NotFound.tsx';
import { Reports } from '../screens/Reports.tsx';
import { Reviews } from '../screens/Reviews.tsx';
import { StreamPage } from '../screens/Stream.tsx';
import { AppCtx, type AppContext } from './context.ts';
import { match } from './router.tsx';
import { Shell } from './Shell.tsx';

/**
 * The signed-in console: the shell and its screens. A chunk of its own, so the sign-in page (what a cold
 * first load shows) parses only preact, the API client and the form; App.tsx starts loading this chunk at
 * once when a session exists and right after the sign-in form is up otherwise.
 */

// Operators only: zod + yaml (the gateway's own policy validation) load only when the editor opens.
const PolicyEditor = lazy(() => import('../screens/Policy.tsx').then((m) => m.Policy));
const TransparencyPage = lazy(() => import('../screens/Transparency.tsx').then((m) => m.Transparency));
// Hash sharing and crisis mode (issue 13): visited rarely, so they load when opened.
const ExchangesPage = lazy(() => import('../screens/Exchanges.tsx').then((m) => m.Exchanges));
const IncidentsPage = lazy(() => import('../screens/Incidents.tsx').then((m) => m.Incidents));
const IncidentPage = lazy(() => import('../screens/Incidents.tsx').then((m) => m.IncidentPage));
const QuarantinesPage = lazy(() => import('../screens/Quarantines.tsx').then((m) => m.Quarantines));
const OpinionsPage = lazy(() => import('../screens/Quarantines.tsx').then((m) => m.Opinions));

export function SignedIn(props: { ctx: AppContext; path: string }): JSX.Element {
  return (
    <AppCtx.Provider value={props.ctx}>
      <Shell path={props.path}>
        <ScreenBoundary key={props.path}>{route(props.path, props.ctx)}</ScreenBoundary>
      </Shell>
    </AppCtx.Provider>
  );
}

/** A screen that throws while rendering (an answer of an unexpected shape) says so; the rest of the console stays usable. */
function ScreenBoundary(props: { children: ComponentChildren }): JSX.Element {
  const [error, reset] = useErrorBoundary();
  if (error)
    return (
      <div class="alert alert-bad" role="alert">
        <strong>This screen failed to show.</strong> {String((error as Error).message ?? error)}{' '}
        <button type="button" class="btn btn-small" onClick={reset}>
          Try again
        </button>
      </div>
    );
  return <>{props.children}</>;
}

function route(path: string, ctx: AppContext): JSX.Element {
  let m: Record<string, string> | null;
  if (path === '/' || path === '/sign-in') return <Dashboard />;
  if (path === '/live') return <Live />;
  if ((m = match('/streams/:id', path))) return <StreamPage id={m.id!} />;
  if (path === '/reviews') return <Reviews />;
  if ((m = match('/reviews/:id', path))) return <Reviews selected={m.id} />;
  if (path === '/appeals') return <Appeals />;
  if ((m = match('/appeals/:id', path))) return <Appeals selected={m.id} />;
  if (path === '/accounts') return <Accounts />;
  if ((m = match('/accounts/:handle', path))) return <AccountPage handle={m.handle!} />;
  if (path === '/banks') return <Banks />;
  if ((m = match('/banks/:name', path))) return <BankPage name={m.name!} />;
  if (path === '/exchanges') return lazily(<ExchangesPage />, 'exchanges');
  if (path === '/incidents') return lazily(<IncidentsPage />, 'incidents');
  if ((m = match('/incidents/:id', path))) return lazily(<IncidentPage id={m.id!} />, 'the incident');
  if (path === '/quarantines') return lazily(<QuarantinesPage />, 'quarantined entries');
  if (path === '/opinions') return lazily(<OpinionsPage />, 'opinions');
  if (path === '/policy') {
    if (!ctx.isOperator) return <OperatorsOnly />;
    return (
      <Suspense fallback={<Loading what="the policy editor" />}>
        <PolicyEditor />
      </Suspense>
    );
  }
  if (path === '/audit') return <Audit />;
  if (path === '/reports') return <Reports />;
  if (path === '/transparency') {
    if (!ctx.isOperator) return <OperatorsOnly what="The transparency report" />;
    return (
      <Suspense fallback={<Loading what="the transparency report" />}>
        <TransparencyPage />
      </Suspense>
    );
  }
  return <NotFound />;
}

const lazily = (screen: JSX.Element, what: string) => <Suspense fallback={<Loading what={what} />}>{screen}</Suspense>;
