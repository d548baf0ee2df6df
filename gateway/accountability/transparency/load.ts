import type { Kysely } from 'kysely';
import type { Actions } from '../../../policy/engine.ts';
import type { Policy } from '../../../policy/schema.ts';
import type { Database } from '../../store/schema.ts';
import { transparencyReport, type PeriodFacts, type TransparencyReport } from './report.ts';

/** Reads a period's facts from the database (the report itself is pure: report.ts). */
export async function loadPeriodFacts(db: Kysely<Database>, period: { from: number; to: number; asOf?: number }, policy: Policy | null): Promise<PeriodFacts> {
  const { from, to } = period;
  const ruleSource = new Map((policy?.rules ?? []).map((r) => [r.id, r.match.source]));
  const [decisions, statements, suspensions, appeals, orders, reports, bans] = await Promise.all([
    db.selectFrom('decisions').selectAll().where('shadow', '=', 0).where('decided_at', '>=', from).where('decided_at', '<', to).execute(),
    db
      .selectFrom('statements')
      .select(['decision_id', 'body'])
      .where('decision_id', 'is not', null)
      .where('decided_at', '>=', from)
      .where('decided_at', '<', to)
      .execute(),
    db
      .selectFrom('suspensions')
      .select(['starts_at', 'ends_at', 'created_by'])
      .where('decision_id', 'is', null)
      .where('starts_at', '>=', from)
      .where('starts_at', '<', to)
      .execute(),
    db.selectFrom('appeals').select(['created_at', 'status', 'decided_at']).where('created_at', '>=', from).where('created_at', '<', to).execute(),
    db.selectFrom('removal_orders').selectAll().where('received_at', '>=', from).where('received_at', '<', to).execute(),
    db.selectFrom('viewer_reports').selectAll().where('created_at', '>=', from).where('created_at', '<', to).execute(),
    db.selectFrom('person_bans').select(['starts_at', 'ends_at', 'kind', 'lifted_at']).where('starts_at', '>=', from).where('starts_at', '<', to).execute(),
  ]);
  const category = new Map(statements.map((s) => [s.decision_id!, (JSON.parse(s.body) as { category?: string }).category ?? null]));
  const restricting = decisions.filter((d) => {
    const a = JSON.parse(d.actions) as Actions;
    return a.cut || a.suspend !== undefined;
  });
  // The first enforced cut of each reported stream after its report, for the reports' time to action.
  const reportedStreams = [...new Set(reports.map((r) => r.stream_id))];
  const cuts = reportedStreams.length
    ? (
        await db
          .selectFrom('decisions')
          .select(['stream_id', 'decided_at', 'actions'])
          .where('shadow', '=', 0)
          .where('stream_id', 'in', reportedStreams)
          .execute()
      ).filter((d) => (JSON.parse(d.actions) as Actions).cut)
    : [];
  return {
    from,
    to,
    asOf: period.asOf ?? Date.now(),
    decisions: restricting.map((d) => {
      const a = JSON.parse(d.actions) as Actions;
      const evidence = JSON.parse(d.evidence) as { signals?: Array<{ observedAt: number; ingestedAt?: number }> };
      // From the content's arrival at the gateway where the ingest knew it, else its frame's observation.
      const times = (evidence.signals ?? []).map((s) => s.ingestedAt ?? s.observedAt);
      return {
        decidedAt: d.decided_at,
        decidedBy: d.decided_by,
        ruleSource: ruleSource.get(d.rule_id) ?? (d.rule_id.startsWith('stall-') ? 'sampler' : null),
        cut: a.cut,
        suspension: a.suspend ? { endsAt: a.suspend.untilMs } : null,
        reviewStatus: d.review_status,
        firstSignalAt: times.length ? Math.min(...times) : null,
        category: category.get(d.id) ?? null,
      };
    }),
    suspensions: suspensions.map((s) => ({ startsAt: s.starts_at, endsAt: s.ends_at, createdBy: s.created_by })),
    appeals: appeals.map((a) => ({ createdAt: a.created_at, status: a.status, decidedAt: a.decided_at })),
    orders: orders.map((o) => ({
      receivedAt: o.received_at,
      memberState: o.member_state,
      orderType: o.order_type,
      deadlineAt: o.deadline_at,
      acknowledgedAt: o.acknowledged_at,
      executedAt: o.executed_at,
      status: o.status,
    })),
    bans: bans.map((b) => ({ startsAt: b.starts_at, endsAt: b.ends_at, kind: b.kind, liftedAt: b.lifted_at })),
    reports: reports.map((r) => {
      const after = cuts.filter((c) => c.stream_id === r.stream_id && c.decided_at >= r.created_at).map((c) => c.decided_at);
      return {
        createdAt: r.created_at,
        streamId: r.stream_id,
        category: r.category,
        status: r.status,
        handledAt: r.handled_at,
        firstCutAfter: after.length ? Math.min(...after) : null,
      };
    }),
  };
}

export async function buildTransparencyReport(
  db: Kysely<Database>,
  period: { from: number; to: number; asOf?: number },
  policy: Policy | null,
): Promise<TransparencyReport> {
  return transparencyReport(await loadPeriodFacts(db, period, policy));
}
