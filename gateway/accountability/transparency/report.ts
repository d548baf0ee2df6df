/**
 * The transparency report for a period (the counts DSA Art. 15 and 24 ask for that a live gateway's own
 * records support), as a pure function of the period's facts. It is NOT the harmonised template of
 * Implementing Regulation (EU) 2024/2835: that template (its annex spreadsheets, their sheet and field
 * names) could not be obtained here, so neither its layout nor its field names are followed, and it asks
 * for more than modgate knows (trusted-flagger notices, staff and per-language moderators, Art. 9/10 orders
 * received outside modgate). The JSON and the CSV hold exactly the sections built below; an operator
 * filling the official template transcribes them. Conventions, so the numbers can be checked by hand:
 *  - a measure is counted in the period it was decided; appeals, orders and reports in the period they
 *    were received, bans of a person in the period they start, with their outcome as of the report;
 *  - medians of an even count are the mean of the two middle values; p95 is the nearest rank
 *    (the ⌈0.95·n⌉-th smallest);
 *  - "time to cut" runs from the first signal a decision cites to the decision (the cut follows at once);
 *  - own-initiative measures are the policy's and moderators' decisions not based on a viewer report;
 *    decisions of rules on viewer reports are counted under notices; orders under orders.
 */

export type DetectionSource = 'bank_match' | 'classifier' | 'stall' | 'viewer_report' | 'moderator';

export interface DecisionFact {
  decidedAt: number;
  /** `policy:<rule>` or a moderator's actor. */
  decidedBy: string;
  /** The signal source of the rule (`hash_match`, `violence`, `viewer_report`, `sampler`…); null when unknown. */
  ruleSource: string | null;
  cut: boolean;
  suspension: { endsAt: number | null } | null;
  reviewStatus: 'none' | 'pending' | 'confirmed' | 'overturned';
  /** The earliest signal the decision cites, when known. */
  firstSignalAt: number | null;
  /** Its statement's DSA category, when it has one. */
  category: string | null;
}

export interface SuspensionFact {
  startsAt: number;
  endsAt: number | null;
  /** `order:<id>`, or a moderator's actor (suspensions with no decision of their own). */
  createdBy: string;
}

export interface AppealFact {
  createdAt: number;
  status: 'open' | 'upheld' | 'overturned';
  decidedAt: number | null;
}

export interface OrderFact {
  receivedAt: number;
  memberState: string;
  orderType: string;
  deadlineAt: number;
  acknowledgedAt: number | null;
  executedAt: number | null;
  status: 'open' | 'executed' | 'rejected';
}

export interface ReportFact {
  createdAt: number;
  streamId: string;
  category: string;
  status: 'open' | 'actioned' | 'dismissed';
  handledAt: number | null;
  /** The first enforced cut of the stream after the report, when there was one. */
  firstCutAfter: number | null;
}

export interface BanFact {
  startsAt: number;
  endsAt: number | null;
  kind: 'court_order' | 'platform';
  liftedAt: number | null;
}

export interface PeriodFacts {
  from: number;
  to: number;
  /** When the report is made (outcomes and overdue orders are as of then). */
  asOf: number;
  decisions: DecisionFact[];
  suspensions: SuspensionFact[];
  appeals: AppealFact[];
  orders: OrderFact[];
  reports: ReportFact[];
  bans: BanFact[];
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function p95(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.95 * s.length) - 1]!;
}

export function detectionSource(d: Pick<DecisionFact, 'decidedBy' | 'ruleSource'>): DetectionSource {
  if (!d.decidedBy.startsWith('policy:')) return 'moderator';
  if (d.ruleSource === 'hash_match') return 'bank_match';
  if (d.ruleSource === 'viewer_report') return 'viewer_report';
  if (d.ruleSource === 'sampler' || d.decidedBy.startsWith('policy:stall-')) return 'stall';
  return 'classifier';
}

const count = <T>(items: readonly T[], key: (t: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
};

const share = (n: number, of: number) => (of === 0 ? null : Math.round((n / of) * 10_000) / 10_000);

export function transparencyReport(f: PeriodFacts) {
  // A removal order's cut (decided by `order:<id>`) is neither own initiative nor a notice: orders are counted on their own.
  const byOrder = (d: DecisionFact) => d.decidedBy.startsWith('order:');
  const own = f.decisions.filter((d) => detectionSource(d) !== 'viewer_report' && !byOrder(d));
  const onReports = f.decisions.filter((d) => detectionSource(d) === 'viewer_report');
  const restrictionTypes = (ds: readonly DecisionFact[]) => ({
    content_removed: ds.filter((d) => d.cut).length,
    account_suspended: ds.filter((d) => d.suspension && d.suspension.endsAt !== null).length,
    account_terminated: ds.filter((d) => d.suspension && d.suspension.endsAt === null).length,
  });
  const moderatorSuspensions = f.suspensions.filter((s) => !s.createdBy.startsWith('order:'));
  const orderSuspensions = f.suspensions.filter((s) => s.createdBy.startsWith('order:'));
  const automatedDetection = f.decisions.filter((d) => d.decidedBy.startsWith('policy:') && detectionSource(d) !== 'viewer_report').length;
  const automatedDecision = f.decisions.filter((d) => d.decidedBy.startsWith('policy:')).length;
  const reviewed = f.decisions.filter((d) => d.reviewStatus === 'confirmed' || d.reviewStatus === 'overturned');
  const overturned = f.decisions.filter((d) => d.reviewStatus === 'overturned');
  const decidedAppeals = f.appeals.filter((a) => a.decidedAt !== null && a.status !== 'open');
  const cutTimes = f.decisions.filter((d) => d.cut && d.firstSignalAt !== null).map((d) => d.decidedAt - d.firstSignalAt!);
  const allSuspensions = [
    ...f.decisions
      .filter((d) => d.suspension)
      .map((d) => ({ endsAt: d.suspension!.endsAt, origin: d.decidedBy.startsWith('policy:') ? 'policy' : 'moderator' })),
    ...moderatorSuspensions.map((s) => ({ endsAt: s.endsAt, origin: 'moderator' })),
    ...orderSuspensions.map((s) => ({ endsAt: s.endsAt, origin: 'removal_order' })),
  ];
  const actionTimes = f.reports
    .map((r) => {
      const handled = r.status === 'actioned' && r.handledAt !== null ? r.handledAt : null;
      const times = [handled, r.firstCutAfter].filter((t): t is number => t !== null);
      return times.length ? Math.min(...times) - r.createdAt : null;
    })
    .filter((t): t is number => t !== null);

  return {
    period: { from: new Date(f.from).toISOString(), to: new Date(f.to).toISOString(), asOf: new Date(f.asOf).toISOString() },
    ownInitiative: {
      decisions: own.length + moderatorSuspensions.length,
      byRestriction: (() => {
        const t = restrictionTypes(own);
        return {
          ...t,
          account_suspended: t.account_suspended + moderatorSuspensions.filter((s) => s.endsAt !== null).length,
          account_terminated: t.account_terminated + moderatorSuspensions.filter((s) => s.endsAt === null).length,
        };
      })(),
      byDetectionSource: {
        ...{ bank_match: 0, classifier: 0, stall: 0, moderator: 0 },
        ...count(own, detectionSource),
        moderator: own.filter((d) => detectionSource(d) === 'moderator').length + moderatorSuspensions.length,
      },
      byCategory: count(
        own.filter((d) => d.category),
        (d) => d.category!,
      ),
    },
    automation: {
      decisions: f.decisions.length,
      automatedDetection,
      automatedDetectionShare: share(automatedDetection, f.decisions.length),
      fullyAutomatedDecisions: automatedDecision,
      fullyAutomatedShare: share(automatedDecision, f.decisions.length),
    },
    accuracy: {
      reviewed: reviewed.length,
      confirmed: reviewed.length - overturned.length,
      overturned: overturned.length,
      /** The accuracy indicator: share of reviewed decisions that were overturned. */
      overturnRate: share(overturned.length, reviewed.length),
    },
    appeals: {
      received: f.appeals.length,
      open: f.appeals.filter((a) => a.status === 'open').length,
      upheld: f.appeals.filter((a) => a.status === 'upheld').length,
      overturned: f.appeals.filter((a) => a.status === 'overturned').length,
      medianMsToDecide: median(decidedAppeals.map((a) => a.decidedAt! - a.createdAt)),
    },
    suspensions: {
      total: allSuspensions.length,
      temporary: allSuspensions.filter((s) => s.endsAt !== null).length,
      permanent: allSuspensions.filter((s) => s.endsAt === null).length,
      byOrigin: { policy: 0, moderator: 0, removal_order: 0, ...count(allSuspensions, (s) => s.origin) },
    },
    // Bans of a person (every account of the identity subject): court-ordered ones are orders, not own initiative.
    personBans: {
      total: f.bans.length,
      courtOrdered: f.bans.filter((b) => b.kind === 'court_order').length,
      platform: f.bans.filter((b) => b.kind === 'platform').length,
      temporary: f.bans.filter((b) => b.endsAt !== null).length,
      permanent: f.bans.filter((b) => b.endsAt === null).length,
      lifted: f.bans.filter((b) => b.liftedAt !== null && b.liftedAt <= f.asOf).length,
    },
    removalOrders: {
      received: f.orders.length,
      byMemberState: count(f.orders, (o) => o.memberState),
      byType: count(f.orders, (o) => o.orderType),
      executed: f.orders.filter((o) => o.status === 'executed').length,
      rejected: f.orders.filter((o) => o.status === 'rejected').length,
      open: f.orders.filter((o) => o.status === 'open').length,
      executedWithinDeadline: f.orders.filter((o) => o.executedAt !== null && o.executedAt <= o.deadlineAt).length,
      overdue: f.orders.filter((o) => (o.status === 'open' && f.asOf > o.deadlineAt) || (o.executedAt !== null && o.executedAt > o.deadlineAt)).length,
      medianMsToAcknowledge: median(f.orders.filter((o) => o.acknowledgedAt !== null).map((o) => o.acknowledgedAt! - o.receivedAt)),
      medianMsToExecute: median(f.orders.filter((o) => o.executedAt !== null).map((o) => o.executedAt! - o.receivedAt)),
    },
    viewerReports: {
      received: f.reports.length,
      streamsReported: new Set(f.reports.map((r) => r.streamId)).size,
      byCategory: count(f.reports, (r) => r.category),
      actioned: f.reports.filter((r) => r.status === 'actioned' || r.firstCutAfter !== null).length,
      dismissed: f.reports.filter((r) => r.status === 'dismissed').length,
      medianMsToAction: median(actionTimes),
      decisionsOnReports: onReports.length,
      decisionsOnReportsByRestriction: restrictionTypes(onReports),
    },
    timeToCut: { cuts: cutTimes.length, medianMs: median(cutTimes), p95Ms: p95(cutTimes) },
  };
}

export type TransparencyReport = ReturnType<typeof transparencyReport>;

/**
 * The report as CSV: one `section,metric,value` row per number of the JSON report, nested keys joined with
 * dots (`removalOrders,byMemberState.FR,2`), times in milliseconds, shares as fractions. modgate's own
 * layout, for a spreadsheet or a transcription; not the 2024/2835 template's layout (see above).
 */
export function toCsv(report: TransparencyReport): string {
  const rows: string[] = ['section,metric,value'];
  const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const walk = (section: string, prefix: string, value: unknown) => {
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(section, prefix ? `${prefix}.${k}` : k, v);
    } else rows.push([section, prefix, value === null ? '' : String(value)].map(cell).join(','));
  };
  for (const [section, value] of Object.entries(report)) walk(section, '', value);
  return `${rows.join('\n')}\n`;
}
