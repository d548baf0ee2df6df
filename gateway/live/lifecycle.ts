/**
 * Whether the node still takes new publishes. On SIGTERM (gateway/server.ts, `stop`) it stops: `/readyz`
 * answers 503 `shutting_down`, every ingest refuses new publishes as `shutting_down`, live streams carry
 * on through `shutdown.drainMs` and are then ended with their onStatus / close.
 */
export class Lifecycle {
  private since: number | null = null;

  get shuttingDown(): boolean {
    return this.since !== null;
  }

  /** When the shutdown began (epoch ms), or null. */
  get shuttingDownSince(): number | null {
    return this.since;
  }

  beginShutdown(at = Date.now()): void {
    this.since ??= at;
  }
}

/** The refusal of a publish that arrives while the node shuts down (all ingests use these words). */
export const SHUTTING_DOWN = { reason: 'shutting_down', message: 'the gateway is shutting down; publish again in a moment (to another node)' } as const;
