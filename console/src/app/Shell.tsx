import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Incident } from '../api/exchanges.ts';
import { Badge } from '../ui/components.tsx';
import { useKeys } from '../ui/hooks.ts';
import { usePush } from '../push/use-push.ts';
import { useApp } from './context.ts';
import { Link, navigate } from './router.tsx';
import { SHELL_STALE } from './stale.ts';

interface NavItem {
  href: string;
  label: string;
  key: string;
  operator?: boolean;
  count?: 'reviews' | 'appeals' | 'reports' | 'quarantines';
}

const NAV: NavItem[] = [
  { href: '/', label: 'Dashboard', key: 'd' },
  { href: '/live', label: 'Live', key: 'l' },
  { href: '/reviews', label: 'Review queue', key: 'r', count: 'reviews' },
  { href: '/appeals', label: 'Appeals', key: 'a', count: 'appeals' },
  { href: '/reports', label: 'Viewer reports', key: 'v', count: 'reports' },
  { href: '/accounts', label: 'Accounts', key: 'u' },
  { href: '/banks', label: 'Hash banks', key: 'b' },
  { href: '/quarantines', label: 'Quarantined entries', key: 'q', count: 'quarantines' },
  { href: '/exchanges', label: 'Exchanges', key: 'e' },
  { href: '/opinions', label: 'Opinions', key: 'o' },
  { href: '/incidents', label: 'Incidents', key: 'i' },
  { href: '/policy', label: 'Policy', key: 'p', operator: true },
  { href: '/audit', label: 'Audit log', key: 'g' },
  { href: '/transparency', label: 'Transparency', key: 't', operator: true },
];

const isActive = (href: string, path: string) =>
  href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`) || (href === '/live' && path.startsWith('/streams/'));

export function Shell(props: { path: string; children: ComponentChildren }): JSX.Element {
  const { api, session, isOperator, signOut } = useApp();
  const [counts, setCounts] = useState<{ reviews: number | null; appeals: number | null; reports: number | null; quarantines: number | null }>({
    reviews: null,
    appeals: null,
    reports: null,
    quarantines: null,
  });
  // An active crisis incident is shown on every screen (no push event for incidents: read with the counters).
  const [incident, setIncident] = useState<Incident | null>(null);
  const [help, setHelp] = useState(false);
  const items = NAV.filter((n) => !n.operator || isOperator);

  // Counters are read on each navigation and again whenever a decision or appeal is pushed.
  const [pushed, setPushed] = useState(0);
  const bump = useRef<ReturnType<typeof setTimeout> | null>(null);
  usePush(['decision.created', 'decision.reviewed', 'appeal.created', 'appeal.decided', 'report.created', 'reset'], () => {
    // A burst of decisions re-reads the counters once.
    bump.current ??= setTimeout(() => {
      bump.current = null;
      setPushed((n) => n + 1);
    }, 1000);
  });
  // A screen that changed what the counters or the banner show (an incident ended, a quarantine resolved) says so.
  useEffect(() => {
    const again = () => setPushed((n) => n + 1);
    window.addEventListener(SHELL_STALE, again);
    return () => window.removeEventListener(SHELL_STALE, again);
  }, []);
  useEffect(() => {
    let live = true;
    const orNull = <T,>(p: Promise<T>) => p.catch(() => null);
    Promise.all([
      api.reviews('pending', 500).then((d) => d.length),
      api.appeals('open', 500).then((a) => a.length),
      orNull(api.reports('open').then((r) => r.length)),
      orNull(api.quarantines('open').then((q) => q.length)),
    ]).then(
      ([reviews, appeals, reports, quarantines]) => live && setCounts({ reviews, appeals, reports, quarantines }),
      () => {},
    );
    void orNull(api.incidents()).then((l) => live && l && setIncident(l.find((i) => i.status === 'active') ?? null));
    return () => {
      live = false;
    };
  }, [props.path, pushed]);

  // Shift+letter jumps to a section; plain letters stay free for the queue (j/k/c/o).
  useKeys(Object.fromEntries([...items.map((n) => [n.key.toUpperCase(), () => navigate(n.href)]), ['?', () => setHelp((h) => !h)]]));

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <aside class="nav" aria-label="Sections">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            m
          </span>
          <span class="brand-name">modgate</span>
        </div>
        <nav>
          {items.map((n) => {
            const c = n.count ? counts[n.count] : null;
            return (
              <Link
                key={n.href}
                href={n.href}
                class={`nav-link${isActive(n.href, props.path) ? ' active' : ''}`}
                aria-current={isActive(n.href, props.path) ? 'page' : undefined}
              >
                <span>{n.label}</span>
                {c !== null && c > 0 && (
                  <span class={`nav-count${n.count !== 'appeals' ? ' nav-count-hot' : ''}`} data-count={n.count}>
                    {c >= 500 ? '500+' : c}
                  </span>
                )}
              </Link>
            );
          })}
        </nav>
        <div class="nav-foot">
          <Badge tone={isOperator ? 'info' : 'neutral'} title={`signed in ${session.signedInAt}`}>
            {session.name ? `${session.name} · ${session.role}` : session.role}
          </Badge>
          <button type="button" class="linklike" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
            Shortcuts
          </button>
          <button type="button" class="linklike" onClick={signOut}>
            Sign out
          </button>
        </div>
      </aside>
      <main id="main" class="main" tabIndex={-1}>
        {incident && (
          <div class="incident-banner" role="status" data-testid="incident-banner">
            <span>
              Incident active: <Link href={`/incidents/${encodeURIComponent(incident.id)}`}>{incident.name}</Link>
            </span>
            <span class="small">every live stream is sampled at full rate; new entries in {incident.banks.join(', ')} are scanned against recent frames</span>
          </div>
        )}
        {props.children}
      </main>
      {help && (
        <div class="help-overlay" role="dialog" aria-label="Keyboard shortcuts" onClick={() => setHelp(false)}>
          <div class="help-card" onClick={(e) => e.stopPropagation()}>
            <h2>Keyboard shortcuts</h2>
            <table class="table table-compact">
              <tbody>
                {items.map((n) => (
                  <tr key={n.key}>
                    <td>
                      <kbd>Shift</kbd>+<kbd>{n.key.toUpperCase()}</kbd>
                    </td>
                    <td>{n.label}</td>
                  </tr>
                ))}
                <tr>
                  <td>
                    <kbd>j</kbd> / <kbd>k</kbd>
                  </td>
                  <td>Next / previous item (review queue, appeals)</td>
                </tr>
                <tr>
                  <td>
                    <kbd>c</kbd> / <kbd>o</kbd>
                  </td>
                  <td>Confirm / overturn the selected decision</td>
                </tr>
                <tr>
                  <td>
                    <kbd>j</kbd> / <kbd>k</kbd>, <kbd>c</kbd> / <kbd>s</kbd> / <kbd>d</kbd> / <kbd>w</kbd>
                  </td>
                  <td>Viewer reports: next / previous stream; cut it, suspend its account, dismiss its reports, watch it</td>
                </tr>
                <tr>
                  <td>
                    <kbd>?</kbd>
                  </td>
                  <td>Show or hide this help</td>
                </tr>
              </tbody>
            </table>
          </div>
        </div>
      )}
    </div>
  );
}
