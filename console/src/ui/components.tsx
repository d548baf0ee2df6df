import type { ComponentChildren, JSX } from 'preact';
import { ApiError } from '../api/client.ts';
import { PHASE2, type Phase2Feature } from '../api/phase2.ts';
import { ago, dateTimeText } from './format.ts';

type Tone = 'neutral' | 'info' | 'good' | 'warn' | 'bad' | 'critical';

export function Badge(props: { tone?: Tone; children: ComponentChildren; title?: string }): JSX.Element {
  return (
    <span class={`badge badge-${props.tone ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  );
}

export function Button(
  props: { variant?: 'primary' | 'danger' | 'ghost' | 'default'; small?: boolean; kbd?: string; type?: 'button' | 'submit' } & Omit<
    JSX.IntrinsicElements['button'],
    'type'
  >,
): JSX.Element {
  const { variant = 'default', small, kbd, children, class: cls, type = 'button', ...rest } = props;
  return (
    <button type={type} class={`btn btn-${variant}${small ? ' btn-small' : ''}${cls ? ` ${String(cls)}` : ''}`} {...rest}>
      {children}
      {kbd && <kbd>{kbd}</kbd>}
    </button>
  );
}

export function PageHead(props: { title: string; sub?: ComponentChildren; actions?: ComponentChildren }): JSX.Element {
  return (
    <header class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.sub && <p class="page-sub">{props.sub}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; id?: string }): JSX.Element {
  return (
    <section class={`card${props.class ? ` ${props.class}` : ''}`} id={props.id}>
      {(props.title || props.actions) && (
        <header class="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </header>
      )}
      {props.children}
    </section>
  );
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <div class="empty">{props.children}</div>;
}

export function Loading(props: { what?: string }): JSX.Element {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> Loading{props.what ? ` ${props.what}` : ''}…
    </div>
  );
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status === 0 ? 'The gateway could not be reached. Check that it is running.' : err.message;
  return err instanceof Error ? err.message : String(err);
}

export function ErrorBox(props: { error: unknown; retry?: () => void }): JSX.Element {
  const code = props.error instanceof ApiError ? props.error.code : null;
  return (
    <div class="alert alert-bad" role="alert">
      <strong>{code === 'forbidden' ? 'Not allowed.' : code === 'not_found' ? 'Not found.' : 'Something went wrong.'}</strong> {errorText(props.error)}
      {props.retry && (
        <Button small variant="ghost" onClick={props.retry}>
          Try again
        </Button>
      )}
    </div>
  );
}

/** An honest placeholder for what the gateway cannot answer yet (see api/phase2.ts, docs/console-api.md). */
export function NotAvailable(props: { feature: Phase2Feature; children?: ComponentChildren; compact?: boolean }): JSX.Element {
  const f = PHASE2[props.feature] ?? { title: props.feature, endpoint: props.feature, section: props.feature };
  return (
    <div class={`unavailable${props.compact ? ' unavailable-compact' : ''}`} data-unavailable={props.feature}>
      <strong>{f.title}: not available yet.</strong> {props.children}
      <span class="unavailable-ref">
        Needs <code>{f.endpoint}</code> (docs/console-api.md, “{f.section}”).
      </span>
    </div>
  );
}

export function Time(props: { at: string | number | null; relative?: boolean }): JSX.Element {
  if (props.at === null) return <span class="muted">—</span>;
  const iso = new Date(props.at).toISOString();
  return (
    <time dateTime={iso} title={iso}>
      {props.relative ? ago(props.at) : dateTimeText(props.at)}
    </time>
  );
}

/** Labelled values; `class` "figures" lays them out as a grid of big numbers (transparency). */
export function KeyValues(props: { items: Array<[string, ComponentChildren]>; class?: string; testid?: string }): JSX.Element {
  return (
    <dl class={props.class ?? 'kv'} data-testid={props.testid}>
      {props.items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Stat(props: { label: string; value: ComponentChildren; hint?: ComponentChildren; tone?: Tone }): JSX.Element {
  return (
    <div class={`stat stat-${props.tone ?? 'neutral'}`}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.hint && <div class="stat-hint">{props.hint}</div>}
    </div>
  );
}

export function Mono(props: { children: ComponentChildren; title?: string }): JSX.Element {
  return (
    <code class="mono" title={props.title}>
      {props.children}
    </code>
  );
}

export const severityTone = (s: string | null | undefined): Tone =>
  s === 'critical' ? 'critical' : s === 'high' ? 'bad' : s === 'medium' ? 'warn' : 'neutral';
export const priorityTone = (p: string | null | undefined): Tone => (p === 'urgent' ? 'critical' : p === 'high' ? 'bad' : p === 'normal' ? 'info' : 'neutral');
