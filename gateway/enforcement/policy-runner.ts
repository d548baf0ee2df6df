import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Signal } from '../../classifiers/signal.ts';
import { automatedReason } from './streamer-words.ts';
import { createStreamState, SAMPLER_SOURCE, STALL_LABEL, step, tick, type Decision, type EngineContext, type StreamState } from '../../policy/engine.ts';
import type { EvidenceStore } from '../evidence/store.ts';
import type { LiveRegistry, LiveStream } from '../live/registry.ts';
import type { Database } from '../store/schema.ts';
import { writeUnit } from '../store/journal/unit.ts';
import { directWriter, type UnitWriter, type WriteOutcome } from '../store/journal/writer.ts';
import type { StrikeRow, Suspension } from '../store/schema.ts';
import { decisionUnit, historyAsOf, loadHistory, type RecordedDecision } from './decisions.ts';
import type { GateEnforcer } from './gate-enforcer.ts';
import type { PolicyStore } from './policy-store.ts';

interface Run {
  stream: LiveStream;
  ctx: EngineContext | null;
  state: StreamState;
  /** Signals that arrived while the account's history was still loading. */
  queue: Signal[];
  /** Decisions are enforced one at a time, in order. */
  chain: Promise<void>;
}

export interface PolicyRunnerEvents {
  decision: [RecordedDecision, Decision];
}

export interface PolicyRunnerOptions {
  /** Signals with a score at or above this (and every match or stall) are stored for backtests. */
  storeSignalsFloor: number;
}

/**
 * The edge around the pure engine: keeps each live stream's engine state, feeds it signals in order, and
 * carries out decisions — recorded (with strike and suspension) first, then enforced through the gateway's
 * cut primitive.
 */
export class PolicyRunner extends EventEmitter<PolicyRunnerEvents> {
  private readonly runs = new Map<string, Run>();
  private readonly writer: NonNullable<PolicyRunner['deps']['writer']>;
  private timer: NodeJS.Timeout | null = null;
  private pendingSignals: Array<{ stream_id: string; account_id: string; observed_at: number; body: string }> = [];

  constructor(
    private readonly deps: {
      db: Kysely<Database>;
      registry: LiveRegistry;
      enforcer: GateEnforcer;
      policies: PolicyStore;
      evidence: EvidenceStore | null;
      log: Logger;
      /** Where decisions go: the database, or the local journal while it is away (server.ts); default direct. */
      writer?: UnitWriter & { pendingHistory?(accountId: string, subject: string | null): { strikes: StrikeRow[]; suspensions: Suspension[] } };
    },
    private readonly opts: PolicyRunnerOptions,
  ) {
    super();
    this.writer = deps.writer ?? directWriter(deps.db, deps.registry.nodeId);
    deps.registry.on('started', (s) => this.startStream(s));
    deps.registry.on('ended', (s) => this.runs.delete(s.id));
  }

  start(tickMs = 1000): void {
    this.timer = setInterval(() => {
      this.tickAll(Date.now());
      void this.flushSignals();
    }, tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.runs.values()].map((r) => r.chain));
    await this.flushSignals();
  }

  private startStream(stream: LiveStream): void {
    const run: Run = { stream, ctx: null, state: createStreamState(), queue: [], chain: Promise.resolve() };
    this.runs.set(stream.id, run);
    const begin = (history: EngineContext['history']) => {
      run.ctx = { streamId: stream.id, accountId: stream.accountId, personId: stream.subject, startedAt: stream.startedAt, history };
      const queued = run.queue;
      run.queue = [];
      for (const s of queued) this.apply(run, s);
    };
    loadHistory(this.deps.db, stream.accountId, stream.subject)
      .then(begin)
      .catch((err) => {
        // The database is away: the stream is still decided (the engine is pure), on the history this node
        // holds in its journal; a person's older strikes are not known until it returns (README, "Database outages").
        this.deps.log.warn(
          { err: (err as Error).message, stream: stream.id },
          "loading account history failed; the stream is evaluated on the journal's history",
        );
        const held = this.writer.pendingHistory?.(stream.accountId, stream.subject) ?? { strikes: [], suspensions: [] };
        begin(historyAsOf(held.strikes, held.suspensions, Number.POSITIVE_INFINITY));
      });
  }

  /** Feeds one signal of a live stream to the policy. */
  onSignal(signal: Signal): void {
    const run = this.runs.get(signal.streamId);
    if (!run) return;
    this.keep(run, signal);
    if (!run.ctx) run.queue.push(signal);
    else this.apply(run, signal);
  }

  private apply(run: Run, signal: Signal): void {
    const result = step(this.deps.policies.effective(), run.state, signal, run.ctx!);
    run.state = result.state;
    for (const d of result.decisions) this.carryOut(run, d);
  }

  private tickAll(now: number): void {
    const policy = this.deps.policies.effective();
    for (const run of this.runs.values()) {
      if (!run.ctx) continue;
      const result = tick(policy, run.state, run.ctx, now);
      run.state = result.state;
      for (const d of result.decisions) this.carryOut(run, d);
    }
  }

  private keep(run: Run, signal: Signal): void {
    // Stall reports are kept whatever their score; the sampler's per-second sign of life (score 0) is not.
    if (signal.match === undefined && !(signal.source === SAMPLER_SOURCE && signal.label === STALL_LABEL) && (signal.score ?? 0) < this.opts.storeSignalsFloor)
      return;
    this.pendingSignals.push({ stream_id: signal.streamId, account_id: run.stream.accountId, observed_at: signal.observedAt, body: JSON.stringify(signal) });
  }

  /**
   * One unit a flush (at most one a second): through the writer, so the signals a stream showed during a
   * database outage (its match, above all) are kept in the journal and stored when it returns.
   */
  private async flushSignals(): Promise<void> {
    if (this.pendingSignals.length === 0) return;
    const batch = this.pendingSignals;
    this.pendingSignals = [];
    try {
      await this.writer.write(writeUnit({ id: `signals:${randomUUID()}`, at: Date.now(), signals: batch }));
    } catch (err) {
      this.deps.log.error({ err, count: batch.length }, 'storing signals failed');
    }
  }

  private carryOut(run: Run, decision: Decision): void {
    run.chain = run.chain
      .then(() => this.enforce(run, decision))
      .catch((err) => this.deps.log.error({ err, rule: decision.ruleId, stream: run.stream.id }, 'enforcing a decision failed'));
  }

  /**
   * What a rule without a strike acted on, for the streamer's words: its bank category, else the classifier
   * it names (`violence`, `nsfw`); viewer reports are not content, so a reports rule names its classifier.
   */
  private ruleCategory(ruleId: string): string | null {
    const rule = this.deps.policies.current().policy.rules.find((r) => r.id === ruleId);
    if (!rule) return null;
    if (rule.match.category?.[0]) return rule.match.category[0];
    const source = [rule.match, ...rule.requires].find((m) => m.source !== 'viewer_report' && m.source !== 'hash_match')?.source;
    return source ?? null;
  }

  private async enforce(run: Run, decision: Decision): Promise<void> {
    const { unit, recorded } = decisionUnit(decision, { evidence: {} });
    const actor = recorded.row.decided_by;
    // A suspension is in force in this node's gate before it is on record (which can wait for the database).
    if (recorded.suspension) {
      const s = recorded.suspension;
      this.deps.enforcer.gateHold({
        id: s.id,
        accountId: s.account_id,
        subject: s.identity_subject,
        startsAt: s.starts_at,
        endsAt: s.ends_at,
        reason: s.reason,
        createdBy: s.created_by,
        decisionId: s.decision_id,
      });
    }
    let outcome: WriteOutcome | 'failed';
    try {
      outcome = await this.writer.write(unit);
    } catch (err) {
      // Neither the database nor the journal took it (a bug, a full disk): still enforce it, loudly.
      outcome = 'failed';
      this.deps.log.error({ err, decision: recorded.row.id, stream: run.stream.id }, 'recording a decision failed; enforcing it anyway');
    }
    if (!decision.shadow) {
      const a = decision.actions;
      if (a.cut) {
        await this.deps.registry.cut(run.stream.id, {
          reason: a.suspend ? 'suspended' : 'cut',
          message: decision.reason,
          streamerMessage: automatedReason(a.strike?.category ?? this.ruleCategory(decision.ruleId)),
          ...(a.suspend ? { suspension: { endsAt: a.suspend.untilMs } } : {}),
          actor,
          // When the first deciding frame was observed and, where known, when its media reached the
          // gateway: the time-to-cut metric measures from the earlier.
          detail: {
            decisionId: recorded.row.id,
            ruleId: decision.ruleId,
            ...(decision.signalRefs.length
              ? {
                  observedAt: Math.min(...decision.signalRefs.map((r) => r.observedAt)),
                  contentAt: Math.min(...decision.signalRefs.map((r) => r.ingestedAt ?? r.observedAt)),
                }
              : {}),
          },
        });
      }
      // A suspension binds the person: any other live stream of theirs here ends too (other nodes are told
      // by the suspension's gate change, when it is on record).
      if (a.suspend) await this.deps.enforcer.enforce([run.stream.accountId], actor);
      if (a.warn) run.stream.connection.warn?.(a.warn.message);
    }
    // Journaled decisions have their evidence pinned once replayed (server.ts runs pinUnpinnedEvidence then).
    if (this.deps.evidence && decision.evidenceRefs.length > 0 && (outcome === 'stored' || outcome === 'duplicate')) {
      const pinned = await this.deps.evidence.pin(decision.evidenceRefs, recorded.row.id);
      if (pinned.length) {
        const evidence = { ...(JSON.parse(recorded.row.evidence) as Record<string, unknown>), pinned };
        await this.deps.db
          .updateTable('decisions')
          .set({ evidence: JSON.stringify(evidence) })
          .where('id', '=', recorded.row.id)
          .execute()
          .catch((err) =>
            this.deps.log.warn({ err: (err as Error).message, decision: recorded.row.id }, 'recording pinned evidence failed; recovered before the sweep'),
          );
      }
    }
    this.deps.log.info(
      { decision: recorded.row.id, rule: decision.ruleId, stream: run.stream.id, shadow: decision.shadow },
      decision.shadow ? 'shadow decision (not enforced)' : 'decision enforced',
    );
    this.emit('decision', recorded, decision);
  }
}
