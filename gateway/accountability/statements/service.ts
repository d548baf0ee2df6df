import type { Kysely } from 'kysely';
import type { Policy } from '../../../policy/schema.ts';
import type { Actions } from '../../../policy/engine.ts';
import { newId } from '../../security/secrets.ts';
import type { Database, DecisionRow, StatementRow, Suspension } from '../../store/schema.ts';
import { VIEWER_REPORT_SOURCE } from '../reports/service.ts';
import { manualFacts, type ManualOrigin } from '../../enforcement/manual.ts';
import { automatedReason, categoryWords } from '../../enforcement/streamer-words.ts';
import { DETECTION_INTERNALS } from '../../enforcement/streamer-words.ts';
import { buildStatement, plainWords, type DsaStatement, type Restriction, type StatementSettings } from './map.ts';
import { banRestriction, boundAt, onAnotherAccount } from './person.ts';

const REPORTS_SOURCE: Restriction['source'] = { type: 'SOURCE_ARTICLE_16', identity: 'viewers of the live stream (reports)' };

/**
 * Makes a statement of reasons for every restriction, from the durable records: each enforced decision
 * that cut a stream or suspended live rights, each suspension a moderator (or a removal order) made on
 * its own, and each ban of a person. A suspension or a ban binds the person, so every account of theirs
 * gets its own statement, also one verified after the restriction (found by the next sync). Derived after
 * the fact (not inside the decision's transaction) so enforcement never waits on it and a crash loses
 * nothing: the next sync finds the restriction without a statement. One statement per source and account
 * (unique index), so two nodes syncing at once cannot make two. An overturned decision, a lifted
 * suspension and a lifted ban update their statements.
 */
export class StatementService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: StatementSettings,
    private readonly policy: () => Policy | null,
    private readonly now: () => number = Date.now,
  ) {}

  async sync(): Promise<{ created: number; overturned: number }> {
    let created = 0;
    const decisions = await this.db
      .selectFrom('decisions')
      .leftJoin('statements', (j) => j.onRef('statements.source_id', '=', 'decisions.id').on('statements.source_kind', '=', 'decision'))
      .selectAll('decisions')
      .where('decisions.shadow', '=', 0)
      .where('statements.id', 'is', null)
      .where((eb) => eb.or([eb('decisions.actions', 'like', '%"cut":true%'), eb('decisions.actions', 'like', '%"suspend":{%')]))
      .orderBy('decisions.decided_at')
      .limit(500)
      .execute();
    for (const d of decisions) created += await this.fromDecision(d);

    created += await this.syncSuspensions();
    created += await this.syncBans();

    const overturned = await this.applyOverturns();
    return { created, overturned };
  }

  /** Suspensions without a statement for an account they bind: the one issued on, and every other account of the person. */
  private async syncSuspensions(): Promise<number> {
    let created = 0;
    const rows = await this.db
      .selectFrom('suspensions')
      .innerJoin('accounts', (j) =>
        j.on((eb) =>
          eb.or([
            eb('accounts.id', '=', eb.ref('suspensions.account_id')),
            eb.and([eb('suspensions.identity_subject', 'is not', null), eb('accounts.identity_subject', '=', eb.ref('suspensions.identity_subject'))]),
          ]),
        ),
      )
      .leftJoin('statements', (j) =>
        j
          .onRef('statements.source_id', '=', 'suspensions.id')
          .on('statements.source_kind', '=', 'suspension')
          .onRef('statements.account_id', '=', 'accounts.id'),
      )
      .selectAll('suspensions')
      .select(['accounts.id as bound_id', 'accounts.created_at as bound_created_at', 'accounts.identity_changed_at as bound_identity_at'])
      .where('statements.id', 'is', null)
      // The account a decision was taken on has the decision's statement.
      .where((eb) => eb.or([eb('suspensions.decision_id', 'is', null), eb('accounts.id', '!=', eb.ref('suspensions.account_id'))]))
      // Another account of the person is bound only if it was theirs before the suspension was lifted or ended.
      .where((eb) => {
        const since = eb.fn.coalesce('accounts.identity_changed_at', 'accounts.created_at');
        return eb.or([
          eb('accounts.id', '=', eb.ref('suspensions.account_id')),
          eb.and([
            eb.or([eb('suspensions.lifted_at', 'is', null), eb('suspensions.lifted_at', '>', since)]),
            eb.or([eb('suspensions.ends_at', 'is', null), eb('suspensions.ends_at', '>', since)]),
          ]),
        ]);
      })
      .orderBy('suspensions.starts_at')
      .limit(500)
      .execute();
    for (const { bound_id, bound_created_at, bound_identity_at, ...s } of rows) {
      if (bound_id === s.account_id) {
        created += await this.fromSuspension(s);
        continue;
      }
      const issued = await this.issuedRestriction(s);
      // A decision's statement is made first (same sync); if it is not there yet, the next sync makes this one.
      if (!issued) continue;
      const at = boundAt(s.starts_at, { created_at: bound_created_at, identity_changed_at: bound_identity_at });
      created += await this.insert('suspension', s.id, bound_id, null, onAnotherAccount(issued, s, at));
    }
    return created;
  }

  /** The restriction as it was issued on its own account: the decision's statement, or the suspension's own. */
  private async issuedRestriction(s: Suspension): Promise<Restriction | null> {
    if (!s.decision_id) return this.suspensionRestriction(s);
    const row = await this.db
      .selectFrom('statements')
      .select('restriction')
      .where('source_kind', '=', 'decision')
      .where('source_id', '=', s.decision_id)
      .executeTakeFirst();
    return row ? (JSON.parse(row.restriction) as Restriction) : null;
  }

  /** Bans without a statement for an account of the person: every one, also accounts verified after the ban. */
  private async syncBans(): Promise<number> {
    let created = 0;
    const rows = await this.db
      .selectFrom('person_bans')
      .innerJoin('accounts', 'accounts.identity_subject', 'person_bans.identity_subject')
      .leftJoin('statements', (j) =>
        j.onRef('statements.source_id', '=', 'person_bans.id').on('statements.source_kind', '=', 'ban').onRef('statements.account_id', '=', 'accounts.id'),
      )
      .selectAll('person_bans')
      .select(['accounts.id as bound_id', 'accounts.created_at as bound_created_at', 'accounts.identity_changed_at as bound_identity_at'])
      .where('statements.id', 'is', null)
      .where('person_bans.starts_at', '<=', this.now())
      .where((eb) => {
        const since = eb.fn.coalesce('accounts.identity_changed_at', 'accounts.created_at');
        return eb.and([
          eb.or([eb('person_bans.lifted_at', 'is', null), eb('person_bans.lifted_at', '>', since)]),
          eb.or([eb('person_bans.ends_at', 'is', null), eb('person_bans.ends_at', '>', since)]),
        ]);
      })
      .orderBy('person_bans.starts_at')
      .limit(500)
      .execute();
    for (const { bound_id, bound_created_at, bound_identity_at, ...b } of rows) {
      const at = boundAt(b.starts_at, { created_at: bound_created_at, identity_changed_at: bound_identity_at });
      // Bound before the ban began: the ban itself applied to it (not a later verification).
      const fromStart = at === b.starts_at;
      created += await this.insert('ban', b.id, bound_id, null, banRestriction(b, at, this.settings, fromStart));
    }
    return created;
  }

  private async fromDecision(d: DecisionRow): Promise<number> {
    const actions = JSON.parse(d.actions) as Actions;
    const [stream, strike, signals] = await Promise.all([
      this.db.selectFrom('streams').select('started_at').where('id', '=', d.stream_id).executeTakeFirst(),
      this.db.selectFrom('strikes').select('category').where('decision_id', '=', d.id).executeTakeFirst(),
      this.decidingSignals(d),
    ]);
    const policy = this.policy();
    const rule = policy && d.policy_version === `${policy.name}@${policy.version}` ? policy.rules.find((r) => r.id === d.rule_id) : undefined;
    const matchCategories = signals.flatMap((s) => (s.match ? [s.match.category] : []));
    const automated = d.decided_by.startsWith('policy:');
    // A rule on viewer reports acts on notices (DSA Art. 16), found by people rather than by a classifier;
    // one that also requires a classifier's signal was detected automatically as well.
    const sources = rule ? [rule.match.source, ...rule.requires.map((q) => q.source)] : [];
    const onNotice = sources.includes(VIEWER_REPORT_SOURCE);
    const classified = sources.some((s) => s !== VIEWER_REPORT_SOURCE);
    // A person's cut (gateway/enforcement/manual.ts): not automated; its source is its origin.
    const manual = automated ? null : manualFacts(d.evidence);
    const categories = [
      ...(manual?.category ? [manual.category] : []),
      ...matchCategories,
      ...(rule?.match.category ?? []),
      ...(strike ? [strike.category] : []),
    ];
    const facts = manual ? [await this.manualFact(manual.origin)] : signals.map(describeSignal);
    const restriction: Restriction = {
      puid: '',
      contentAt: stream?.started_at ?? d.decided_at,
      decidedAt: d.decided_at,
      cut: actions.cut,
      suspension: actions.suspend ? { endsAt: actions.suspend.untilMs } : null,
      reason: d.reason,
      // The engine's reason is written for moderators (rule, distances, limits); the streamer reads the kind of content.
      plainReason: automated ? automatedReason(categories[0] ?? null) : d.reason,
      automatedDetection: automated && (!onNotice || classified),
      automatedDecision: automated,
      ruleSpec: rule?.statement,
      categories,
      facts,
      plainFacts: manual ? facts : signals.map(describeSignalPlainly),
      kind: 'decision',
      source: manual ? await this.manualSource(manual.origin) : onNotice ? REPORTS_SOURCE : { type: 'SOURCE_VOLUNTARY' },
    };
    return this.insert('decision', d.id, d.account_id, d.id, restriction);
  }

  private async order(orderId: string) {
    return this.db.selectFrom('removal_orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  }

  private async manualSource(origin: ManualOrigin): Promise<Restriction['source']> {
    if (origin.kind === 'viewer_reports') return REPORTS_SOURCE;
    if (origin.kind === 'removal_order') {
      const o = await this.order(origin.orderId);
      return { type: 'SOURCE_TYPE_OTHER_NOTIFICATION', identity: o ? `${o.authority} (${o.member_state})` : 'a competent authority (removal order)' };
    }
    return { type: 'SOURCE_VOLUNTARY' };
  }

  private async manualFact(origin: ManualOrigin): Promise<string> {
    if (origin.kind === 'viewer_reports') return `A moderator ended the live stream after ${origin.reports} viewer report(s).`;
    if (origin.kind === 'removal_order') {
      const o = await this.order(origin.orderId);
      return o ? `Removal order ${o.reference} of ${o.authority} (${o.member_state}) under ${o.legal_basis}.` : 'A removal order of a competent authority.';
    }
    return 'A moderator watching the live stream ended it.';
  }

  private async fromSuspension(s: Suspension): Promise<number> {
    return this.insert('suspension', s.id, s.account_id, null, await this.suspensionRestriction(s));
  }

  private async suspensionRestriction(s: Suspension): Promise<Restriction> {
    // A suspension carried out under a removal order states the order as its source and ground.
    const order = s.created_by.startsWith('order:')
      ? await this.db.selectFrom('removal_orders').selectAll().where('id', '=', s.created_by.slice('order:'.length)).executeTakeFirst()
      : undefined;
    const restriction: Restriction = {
      puid: '',
      contentAt: s.starts_at,
      decidedAt: s.starts_at,
      cut: false,
      suspension: { endsAt: s.ends_at },
      reason: s.reason,
      automatedDetection: false,
      automatedDecision: false,
      // What the moderator said it was for (the API's `category`), else an order's terrorist content.
      categories: s.category ? [s.category] : order ? ['terrorist-violent-extremism'] : [],
      facts: order ? [`Removal order ${order.reference} of ${order.authority} (${order.member_state}) under ${order.legal_basis}.`] : [],
      source: order ? { type: 'SOURCE_TYPE_OTHER_NOTIFICATION', identity: `${order.authority} (${order.member_state})` } : { type: 'SOURCE_VOLUNTARY' },
      kind: 'suspension',
    };
    return restriction;
  }

  /** The stored signals the decision cites (best effort: signals are stored in batches and may lag). */
  private async decidingSignals(d: DecisionRow): Promise<StoredSignal[]> {
    const evidence = JSON.parse(d.evidence) as { signals?: Array<{ observedAt: number }> };
    const times = [...new Set((evidence.signals ?? []).map((s) => s.observedAt))].slice(0, 20);
    if (times.length === 0) return [];
    const rows = await this.db.selectFrom('signals').select('body').where('stream_id', '=', d.stream_id).where('observed_at', 'in', times).execute();
    return rows.map((r) => JSON.parse(r.body) as StoredSignal);
  }

  private async insert(
    kind: 'decision' | 'suspension' | 'ban',
    sourceId: string,
    accountId: string,
    decisionId: string | null,
    r: Restriction,
  ): Promise<number> {
    const now = this.now();
    const id = newId('sor', now);
    // The puid is the statement's own id: unique per restriction, stable across retries, [a-zA-Z0-9-_].
    const restriction = { ...r, puid: `modgate-${id}` };
    const body = buildStatement(restriction, this.settings);
    const result = await this.db
      .insertInto('statements')
      .values({
        id,
        puid: restriction.puid,
        source_kind: kind,
        source_id: sourceId,
        account_id: accountId,
        decision_id: decisionId,
        decided_at: r.decidedAt,
        body: JSON.stringify(body),
        restriction: JSON.stringify(restriction),
        plain: JSON.stringify(plainWords(restriction, body, null)),
        status: 'in_force',
        overturned_at: null,
        overturn_reason: null,
        created_at: now,
        delivery: 'pending',
        attempts: 0,
        next_attempt_at: now,
        submitted_at: null,
        last_error: null,
      })
      .onConflict((oc) => oc.columns(['source_kind', 'source_id', 'account_id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0 ? 1 : 0;
  }

  /** Statements whose decision was overturned since: marked so, and their plain words say it. */
  private async applyOverturns(): Promise<number> {
    const rows = await this.db
      .selectFrom('statements')
      .innerJoin('decisions', 'decisions.id', 'statements.decision_id')
      .select(['statements.id', 'statements.body', 'statements.restriction', 'decisions.reviewed_at', 'decisions.review_reason'])
      .where('statements.status', '=', 'in_force')
      .where('decisions.review_status', '=', 'overturned')
      .limit(500)
      .execute();
    // A suspension (of this account or person-wide) and a ban are reversed by lifting them: their statements say so.
    const lifted = await this.db
      .selectFrom('statements')
      .leftJoin('suspensions', (j) => j.onRef('suspensions.id', '=', 'statements.source_id').on('statements.source_kind', '=', 'suspension'))
      .leftJoin('person_bans', (j) => j.onRef('person_bans.id', '=', 'statements.source_id').on('statements.source_kind', '=', 'ban'))
      .select((eb) => [
        'statements.id',
        'statements.body',
        'statements.restriction',
        eb.fn.coalesce('suspensions.lifted_at', 'person_bans.lifted_at').as('reviewed_at'),
        eb.fn.coalesce('suspensions.lift_reason', 'person_bans.lift_reason').as('review_reason'),
      ])
      .where('statements.status', '=', 'in_force')
      .where((eb) => eb.or([eb('suspensions.lifted_at', 'is not', null), eb('person_bans.lifted_at', 'is not', null)]))
      .limit(500)
      .execute();
    rows.push(...lifted);
    for (const r of rows) {
      const at = r.reviewed_at ?? this.now();
      const reason = r.review_reason ?? 'overturned';
      let plain: string[];
      try {
        plain = plainWords(JSON.parse(r.restriction) as Restriction, JSON.parse(r.body) as DsaStatement, { at, reason });
      } catch {
        // A stored statement that cannot be re-worded is still marked overturned; its words say so plainly.
        plain = [`This decision was overturned: ${reason}.`];
      }
      await this.db
        .updateTable('statements')
        .set({ status: 'overturned', overturned_at: at, overturn_reason: reason, plain: JSON.stringify(plain) })
        .where('id', '=', r.id)
        .where('status', '=', 'in_force')
        .execute();
    }
    return rows.length;
  }
}

interface StoredSignal {
  observedAt: number;
  source: string;
  label: string;
  score?: number;
  match?: { bank: string; category: string; distance: number };
}

function describeSignal(s: StoredSignal): string {
  const at = new Date(s.observedAt).toISOString().slice(11, 19);
  if (s.source === VIEWER_REPORT_SOURCE) return `At ${at} UTC a viewer reported the stream (${s.label}).`;
  if (s.match)
    return `At ${at} UTC a sampled frame matched known content in bank '${s.match.bank}' (category ${s.match.category}) at PDQ distance ${s.match.distance}.`;
  return `At ${at} UTC the ${s.source} classifier scored a sampled frame ${s.score?.toFixed(2) ?? '?'} for '${s.label}'.`;
}

/** A detection fact as the streamer reads it: when and what kind of content, never banks, distances or scores. */
function describeSignalPlainly(s: StoredSignal): string {
  const at = new Date(s.observedAt).toISOString().slice(11, 19);
  if (s.source === VIEWER_REPORT_SOURCE) return `At ${at} UTC a viewer reported the stream (${s.label.replace(/_/g, ' ')}).`;
  if (s.match) return `At ${at} UTC a frame of the stream matched known ${categoryWords(s.match.category)}.`;
  return `At ${at} UTC automated moderation found ${categoryWords(s.label)} in a frame of the stream.`;
}

/**
 * The statement in plain words as the streamer reads it, derived when it is read from the restriction and
 * the Transparency Database fields rather than served from the stored `plain` column: rows written before
 * the wording rules (f52fcac) hold the engine's reason with bank names and distances there, and a wording
 * fix should reach every statement, not only new ones. A row whose JSON no longer parses falls back to its
 * stored sentences with any detection internals dropped.
 */
export function streamerText(row: Pick<StatementRow, 'restriction' | 'body' | 'plain' | 'status' | 'overturned_at' | 'overturn_reason'>): string[] {
  const overturned = row.status === 'overturned' && row.overturned_at !== null ? { at: row.overturned_at, reason: row.overturn_reason ?? 'overturned' } : null;
  try {
    return plainWords(JSON.parse(row.restriction) as Restriction, JSON.parse(row.body) as DsaStatement, overturned);
  } catch {
    try {
      const stored = JSON.parse(row.plain) as unknown;
      return Array.isArray(stored) ? stored.filter((l): l is string => typeof l === 'string' && !DETECTION_INTERNALS.test(l)) : [];
    } catch {
      return [];
    }
  }
}

export function statementsOf(db: Kysely<Database>, accountId: string, limit = 50): Promise<StatementRow[]> {
  return db.selectFrom('statements').selectAll().where('account_id', '=', accountId).orderBy('decided_at', 'desc').limit(limit).execute();
}
