import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Signal } from '../../../classifiers/signal.ts';
import { DomainError, notFound } from '../../errors.ts';
import type { LiveRegistry } from '../../live/registry.ts';
import { newId } from '../../security/secrets.ts';
import { appendAudit } from '../../store/audit.ts';
import type { Database, ViewerReportRow } from '../../store/schema.ts';
import { SlidingWindowLimit } from './rate-limit.ts';
import { SourceHasher } from './source-hash.ts';
import type { ReportCategory } from './categories.ts';

export { REPORT_CATEGORIES, type ReportCategory } from './categories.ts';

/** The signal source a report becomes: policies match `source: viewer_report` (label: the category). */
export const VIEWER_REPORT_SOURCE = 'viewer_report';

export interface ReportOptions {
  /** Reports one source may file in `windowMs`, all streams together. */
  perSourceMax: number;
  windowMs: number;
  /** How often the reporter-hash key is replaced. */
  hashRotateMs: number;
}

export interface ReportCreated {
  report: ViewerReportRow;
  /** Distinct sources that have reported this stream and are still open. */
  independentReports: number;
}

export class RateLimited extends Error {
  constructor(readonly retryAfterMs: number) {
    super('too many reports from this source; try again later');
  }
}

/**
 * Viewer reports: anyone watching can report a live stream without an account. A report is stored
 * (category, note, hashed source), raises the stream in the moderators' queue (and the `report.created`
 * event for a push bus), puts the stream on full-rate sampling, and becomes a `viewer_report` Signal the
 * policy can act on: one per independent source, carrying the hashed source as `detail.reporter`, so a
 * requirement `{ source: viewer_report, minCount: 3, within: 30m }` means "three different viewers reported
 * it in the last 30 minutes" (and smoothing `{k: 3, n: 3}` on that source, three ever). Repeated reports
 * from one source for one stream are kept out of the count.
 */
export class ReportService extends EventEmitter<{ 'report.created': [ReportCreated] }> {
  private readonly limit: SlidingWindowLimit;
  private readonly hasher: SourceHasher;
  private readonly prune: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      db: Kysely<Database>;
      registry: LiveRegistry;
      /** Hands a signal to the policy (the runner) and the adaptive sampler. */
      signal: (s: Signal) => void;
      /** Puts a stream on full-rate sampling. */
      escalate: (streamId: string, reason: string) => void;
    },
    opts: ReportOptions,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.limit = new SlidingWindowLimit(opts.perSourceMax, opts.windowMs);
    this.hasher = new SourceHasher(opts.hashRotateMs, now);
    this.prune = setInterval(() => this.limit.prune(this.now()), Math.min(opts.windowMs, 60_000));
    this.prune.unref();
  }

  async submit(input: { streamId: string; category: ReportCategory; note?: string; source: string }): Promise<{ counted: boolean } & ReportCreated> {
    const now = this.now();
    const live = this.deps.registry.get(input.streamId);
    if (!live) throw notFound(`live stream '${input.streamId}'`);
    const allowed = this.limit.take(input.source, now);
    if (!allowed.ok) throw new RateLimited(allowed.retryAfterMs);
    const sourceHash = this.hasher.hash(input.source);
    const db = this.deps.db;
    const earlier = await db
      .selectFrom('viewer_reports')
      .select('id')
      .where('stream_id', '=', input.streamId)
      .where('source_hash', '=', sourceHash)
      .executeTakeFirst();
    const report: ViewerReportRow = {
      id: newId('rpt', now),
      stream_id: input.streamId,
      account_id: live.accountId,
      category: input.category,
      note: input.note ?? null,
      source_hash: sourceHash,
      created_at: now,
      status: 'open',
      handled_at: null,
      handled_by: null,
      action: null,
      handle_reason: null,
    };
    await db.insertInto('viewer_reports').values(report).execute();
    const distinct = await db
      .selectFrom('viewer_reports')
      .select((eb) => eb.fn.count<number>('source_hash').distinct().as('n'))
      .where('stream_id', '=', input.streamId)
      .where('status', '=', 'open')
      .executeTakeFirst();
    const independentReports = Number(distinct?.n ?? 1);
    const created = { report, independentReports };
    this.deps.escalate(input.streamId, `viewer report (${input.category})`);
    if (!earlier) {
      this.deps.signal({
        streamId: input.streamId,
        frameTimeMs: Math.max(0, now - live.startedAt),
        observedAt: now,
        source: VIEWER_REPORT_SOURCE,
        label: input.category,
        score: 1,
        version: 'viewer-report/1',
        evidenceRef: null,
        // The hashed source: policy requirements count distinct reporters (policy/schema.ts, RequirementSchema).
        detail: { independentReports, reportId: report.id, reporter: sourceHash },
      });
    }
    this.emit('report.created', created);
    return { counted: !earlier, ...created };
  }

  /** Open reports, grouped by stream, most reported first. */
  async queue(
    status: 'open' | 'actioned' | 'dismissed' = 'open',
    limit = 200,
  ): Promise<Array<{ streamId: string; accountId: string; reports: ViewerReportRow[] }>> {
    const rows = await this.deps.db.selectFrom('viewer_reports').selectAll().where('status', '=', status).orderBy('created_at').limit(5000).execute();
    const byStream = new Map<string, ViewerReportRow[]>();
    for (const r of rows) (byStream.get(r.stream_id) ?? byStream.set(r.stream_id, []).get(r.stream_id)!).push(r);
    return [...byStream.entries()]
      .map(([streamId, reports]) => ({ streamId, accountId: reports[0]!.account_id, reports }))
      .sort((a, b) => distinctSources(b.reports) - distinctSources(a.reports) || a.reports[0]!.created_at - b.reports[0]!.created_at)
      .slice(0, limit);
  }

  /** A moderator handles a stream's open reports: what was done (cut, suspended, none) and why. */
  async resolve(streamId: string, actor: string, action: 'cut' | 'suspended' | 'none', reason: string): Promise<number> {
    const now = this.now();
    return this.deps.db.transaction().execute(async (trx) => {
      const open = await trx.selectFrom('viewer_reports').select('id').where('stream_id', '=', streamId).where('status', '=', 'open').execute();
      if (open.length === 0) throw new DomainError('conflict', `stream '${streamId}' has no open reports`);
      await trx
        .updateTable('viewer_reports')
        .set({ status: action === 'none' ? 'dismissed' : 'actioned', handled_at: now, handled_by: actor, action, handle_reason: reason })
        .where('stream_id', '=', streamId)
        .where('status', '=', 'open')
        .execute();
      await appendAudit(trx, {
        actor,
        action: 'reports.resolve',
        targetType: 'stream',
        targetId: streamId,
        reason,
        detail: { action, reports: open.length },
        at: now,
      });
      return open.length;
    });
  }

  stop(): void {
    clearInterval(this.prune);
  }
}

export function distinctSources(reports: readonly ViewerReportRow[]): number {
  return new Set(reports.map((r) => r.source_hash)).size;
}
