import { Component, type ComponentChildren, type JSX } from 'preact';
import { Button } from '../ui/components.tsx';

/**
 * Around the lazily loaded console (SignedIn and the screens it loads): a chunk that does not arrive (the
 * network dropped, a deploy replaced the hashed files the page names) rejects its import, and without this
 * the page stays blank. It says so instead and offers the reload that fetches the current files.
 */
export class LoadBoundary extends Component<{ children: ComponentChildren }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static override getDerivedStateFromError(error: unknown): { error: unknown } {
    return { error: error ?? new Error('unknown error') };
  }

  override render(): JSX.Element {
    if (this.state.error === null) return <>{this.props.children}</>;
    const message = this.state.error instanceof Error ? this.state.error.message : String(this.state.error);
    return (
      <div class="alert alert-bad load-failed" role="alert" data-testid="load-failed">
        <p>
          <strong>The console could not load.</strong> Reload the page to try again.
        </p>
        <p class="muted small">{message}</p>
        <Button variant="primary" onClick={() => location.reload()}>
          Reload
        </Button>
      </div>
    );
  }
}
