import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../store/schema.ts';

export interface OutboxOptions {
  /** Base URL of a Transparency-Database-compatible service (`https://transparency.dsa.ec.europa.eu`). */
  url: string;
  token: string;
  /** At most 100: `POST /api/v1/statements` takes `statements: required|array|between:1,100`. */
  batchSize: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export interface FlushResult {
  submitted: number;
  alreadyThere: number;
  rejected: number;
  failedCalls: number;
}

type Fetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

/**
 * Delivers pending statements to the Transparency Database in batches (routes/api_v1.php:
 * `POST statements`, StatementMultipleAPIController). A batch is all or nothing there, so the outcome
 * is per batch:
 *  - 201: every statement in it is in;
 *  - 422 with `errors.existing_puids`: those puids are already in (an earlier call succeeded but its answer
 *    was lost): they count as delivered, never sent again, and the rest go in the next call;
 *  - 422 with `errors.statement_<i>`: the database refuses those fields; they are marked `rejected` with
 *    its message (an operator must fix the mapping) and the rest go in the next call;
 *  - anything else (network, 5xx, 401, 429): the batch waits, backing off exponentially.
 * A statement's puid never changes, so no retry can make a duplicate.
 */
export class StatementOutbox {
  private flushing: Promise<FlushResult> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: OutboxOptions,
    private readonly log: Logger,
    private readonly fetchImpl: Fetch = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** Submits what is due; concurrent calls share one pass. */
  flush(): Promise<FlushResult> {
    if (!this.flushing) this.flushing = this.pass().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async pass(): Promise<FlushResult> {
    const result: FlushResult = { submitted: 0, alreadyThere: 0, rejected: 0, failedCalls: 0 };
    for (let round = 0; round < 100; round++) {
      const due = await this.db
        .selectFrom('statements')
        .select(['id', 'puid', 'body', 'attempts'])
        .where('delivery', '=', 'pending')
        .where('next_attempt_at', '<=', this.now())
        .orderBy('created_at')
        .orderBy('id')
        .limit(Math.min(100, this.opts.batchSize))
        .execute();
      if (due.length === 0) break;
      const outcome = await this.send(due.map((d) => JSON.parse(d.body) as unknown));
      const now = this.now();
      if (outcome.kind === 'created') {
        await this.mark(
          due.map((d) => d.id),
          { delivery: 'submitted', submitted_at: now, last_error: null },
        );
        result.submitted += due.length;
        continue;
      }
      if (outcome.kind === 'partial') {
        const existing = due.filter((d) => outcome.existing.has(d.puid));
        const rejected = due.filter((d, i) => outcome.rejected.has(i) && !outcome.existing.has(d.puid));
        await this.mark(
          existing.map((d) => d.id),
          { delivery: 'submitted', submitted_at: now, last_error: 'already in the database (puid exists)' },
        );
        for (const d of rejected) {
          await this.mark([d.id], { delivery: 'rejected', last_error: JSON.stringify(outcome.rejected.get(due.indexOf(d))).slice(0, 2000) });
        }
        result.alreadyThere += existing.length;
        result.rejected += rejected.length;
        if (rejected.length)
          this.log.error({ count: rejected.length }, 'the Transparency Database refused statements (see GET /api/v1/statements?delivery=rejected)');
        if (existing.length + rejected.length > 0) continue;
      }
      // Nothing in this batch could be settled: back off, per statement, and stop this pass.
      result.failedCalls++;
      const error = outcome.kind === 'failed' ? outcome.error : 'unexpected 422 without per-statement errors';
      this.log.warn({ error, count: due.length }, 'statement submission failed; will retry');
      for (const d of due) {
        const attempts = d.attempts + 1;
        const wait = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** (attempts - 1));
        await this.mark([d.id], { attempts, next_attempt_at: now + wait, last_error: error.slice(0, 2000) });
      }
      break;
    }
    return result;
  }

  private async mark(
    ids: string[],
    set: Partial<{ delivery: 'submitted' | 'rejected'; submitted_at: number; last_error: string | null; attempts: number; next_attempt_at: number }>,
  ): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('statements').set(set).where('id', 'in', ids).where('delivery', '=', 'pending').execute();
  }

  private async send(
    statements: unknown[],
  ): Promise<{ kind: 'created' } | { kind: 'partial'; existing: Set<string>; rejected: Map<number, unknown> } | { kind: 'failed'; error: string }> {
    let status: number;
    let text: string;
    try {
      const res = await this.fetchImpl(`${this.opts.url.replace(/\/$/, '')}/api/v1/statements`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ statements }),
        signal: AbortSignal.timeout(30_000),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return { kind: 'failed', error: `request failed: ${(err as Error).message}` };
    }
    if (status === 201) return { kind: 'created' };
    if (status === 422) {
      let body: { errors?: Record<string, unknown> } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return { kind: 'failed', error: `422 with a body that is not JSON: ${text.slice(0, 200)}` };
      }
      const errors = body.errors ?? {};
      const existing = new Set(Array.isArray(errors.existing_puids) ? (errors.existing_puids as unknown[]).map(String) : []);
      const rejected = new Map<number, unknown>();
      for (const [key, value] of Object.entries(errors)) {
        const m = /^statement_(\d+)$/.exec(key);
        if (m) rejected.set(Number(m[1]), value);
      }
      if (existing.size || rejected.size) return { kind: 'partial', existing, rejected };
      return { kind: 'failed', error: `422: ${text.slice(0, 500)}` };
    }
    return { kind: 'failed', error: `HTTP ${status}: ${text.slice(0, 500)}` };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.log.error({ err }, 'statement outbox pass failed; will retry'));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushing?.catch(() => undefined);
  }
}
