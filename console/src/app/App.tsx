import type { JSX } from 'preact';
import { lazy, Suspense } from 'preact/compat';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { HttpClient } from '../api/client.ts';
import { adminApi } from '../api/endpoints.ts';
import { SsePush } from '../push/sse.ts';
import { Loading } from '../ui/components.tsx';
import { Toasts } from '../ui/toast.tsx';
import { SignIn } from '../screens/SignIn.tsx';
import type { AppContext } from './context.ts';
import { LoadBoundary } from './load-boundary.tsx';
import { navigate, useLocation } from './router.tsx';
import { clearSession, loadSession, saveSession, type Session } from './session.ts';

const loadSignedIn = () => import('./SignedIn.tsx');
const SignedIn = lazy(() => loadSignedIn().then((m) => m.SignedIn));

export function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(loadSession);
  const { path } = useLocation();

  const ctx = useMemo<AppContext | null>(() => {
    if (!session) return null;
    const http = new HttpClient(() => session.token);
    const signOut = () => {
      clearSession();
      setSession(null);
      navigate('/sign-in', { replace: true });
    };
    http.onUnauthorized = signOut;
    return { api: adminApi(http), session, push: new SsePush(() => session.token, signOut), isOperator: session.role === 'operator', signOut };
  }, [session]);
  useEffect(() => () => ctx?.push.close(), [ctx]);

  useEffect(() => {
    if (!session && path !== '/sign-in') navigate(`/sign-in${path === '/' ? '' : `?next=${encodeURIComponent(path)}`}`, { replace: true });
  }, [session, path]);

  // Signing in should not wait for the console's code: fetch it while the person pastes the token, once the
  // page has loaded (so it never delays the sign-in form itself).
  useEffect(() => {
    if (session) return;
    const prefetch = () => void loadSignedIn().catch(() => {});
    if (document.readyState === 'complete') prefetch();
    else window.addEventListener('load', prefetch, { once: true });
    return () => window.removeEventListener('load', prefetch);
  }, []);

  if (!ctx) {
    return (
      <>
        <SignIn
          onSignedIn={(s) => {
            saveSession(s);
            setSession(s);
            const next = new URLSearchParams(location.search).get('next');
            navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
          }}
        />
        <Toasts />
      </>
    );
  }
  return (
    <>
      <LoadBoundary>
        <Suspense fallback={<Loading what="the console" />}>
          <SignedIn ctx={ctx} path={path} />
        </Suspense>
      </LoadBoundary>
      <Toasts />
    </>
  );
}
