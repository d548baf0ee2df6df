import { RefusalAudit, type RefusalRecord } from './refusal-audit.ts';
import { TokenBuckets } from './rate-limit.ts';

/**
 * The abuse limit of one unauthenticated entry point (the WebSocket ingest's auth step, RTMP connect):
 * a token bucket per source address, spent by every attempt and given back by one that is accepted, so
 * legitimate publishers and players never pay and a flood of refused attempts runs dry. Refusals of
 * callers with no account (unknown keys, bad messages, rate_limited) are audited per source and reason
 * in windows (gateway/security/refusal-audit.ts), not one row each.
 */

export interface SourceGuardOptions {
  burst: number;
  perSecond: number;
  /** Refusal audit window and the refusals per window past which a source is dropped unanswered. */
  windowMs: number;
  maxRefusalsPerWindow: number;
  maxSources: number;
}

/** `ok`: go on; `limited`: refuse with `rate_limited` (already audited); `drop`: far over the limit, close without an answer. */
export type Admission = { verdict: 'ok' } | { verdict: 'limited' | 'drop'; retryAfterMs: number };

export class SourceGuard {
  private readonly buckets: TokenBuckets;
  private readonly audit: RefusalAudit;
  private expiredAt = 0;

  constructor(
    opts: SourceGuardOptions,
    write: (r: RefusalRecord) => Promise<void>,
    private readonly onLimited: () => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new TokenBuckets({ burst: opts.burst, perSecond: opts.perSecond, maxSources: opts.maxSources }, now);
    this.audit = new RefusalAudit(write, { windowMs: opts.windowMs, limit: opts.maxRefusalsPerWindow, maxSources: opts.maxSources }, now);
  }

  /** One attempt from `source` (a connection, an upgrade): spends a token. */
  admit(source: string): Admission {
    // Ended windows are written on the next attempt of anyone (at most once a second), not only by their timers.
    const at = this.now();
    if (at - this.expiredAt >= 1_000) {
      this.expiredAt = at;
      void this.audit.expire();
    }
    if (this.buckets.take(source)) return { verdict: 'ok' };
    this.onLimited();
    const retryAfterMs = this.buckets.retryAfterMs(source);
    const { allowed } = this.audit.record(source, 'rate_limited', `over the attempt limit; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    return { verdict: allowed ? 'limited' : 'drop', retryAfterMs };
  }

  /** The attempt was accepted (an authorized publish or play): its token is given back. */
  accepted(source: string): void {
    this.buckets.refund(source);
  }

  /** A refusal of a caller with no account, audited per source and reason in windows. */
  refused(source: string, reason: string, detail?: string): void {
    this.audit.record(source, reason, detail);
  }

  /** Writes the open windows' counts (shutdown). */
  flush(): Promise<void> {
    return this.audit.flushAll();
  }
}

/** "retry in N s" for a refusal's words. */
export function retryWords(retryAfterMs: number): string {
  return `too many attempts from this address; retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`;
}
