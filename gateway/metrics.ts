import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Signal } from '../classifiers/signal.ts';
import type { HashBankIndex } from '../classifiers/bank-index.ts';
import type { OnnxClassifier } from '../classifiers/onnx/classifier.ts';
import type { ClassifierStage } from '../classifiers/stage.ts';
import { VIDEO_MATCH_SOURCE } from '../classifiers/vpdq/matcher.ts';
import type { PolicyRunner } from './enforcement/policy-runner.ts';
import type { LiveRegistry } from './live/registry.ts';
import type { StreamWatcher } from './pipeline/watcher.ts';
import type { HookedStreams } from './hooks/hooked-streams.ts';
import type { DbHealth } from './store/health.ts';
import type { DurableWriter } from './store/journal/writer.ts';
import type { ChangeListener } from './store/notifications.ts';

export interface MetricsSources {
  registry: LiveRegistry;
  runner: PolicyRunner;
  banks: HashBankIndex;
  stage: ClassifierStage;
  classifiers: readonly OnnxClassifier[];
  watcher: () => StreamWatcher | null;
  /** Upstream media servers (gateway/hooks/) and their configured names. */
  hooks?: () => { streams: HookedStreams; servers: readonly string[] } | null;
  /** This node on a shared database: its id, the database's health, the change listener (PostgreSQL). */
  node?: { id: string; health: DbHealth; listener: ChangeListener | null; journal?: DurableWriter };
}

/**
 * Prometheus metrics (`GET /metrics`, moderator token): what an on-call engineer watches — live streams,
 * refusals, cuts by reason, decisions by rule, frames sampled, classifier drops, bank size. Counters are fed
 * from the components' events; gauges read their stats at scrape time, so nothing is added to hot paths.
 */
export interface Metrics {
  registry: Registry;
  refusal(protocol: string, reason: string): void;
  /** Every signal the sampler's classifiers yield (hash matches are counted by bank and category). */
  signal(s: Signal): void;
  /** A database query's duration (store/db.ts `onQuery`). */
  dbQuery(ms: number, ok: boolean): void;
  /** From a change's commit on some node to this node receiving its notification (PostgreSQL LISTEN/NOTIFY). */
  notificationLag(ms: number): void;
}

export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  // Every series carries the node id, so several nodes' scrapes never collide.
  if (src.node) registry.setDefaultLabels({ node: src.node.id });
  collectDefaultMetrics({ register: registry, prefix: 'modgate_' });

  new Gauge({
    name: 'modgate_live_streams',
    help: 'Live publishes by protocol',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of src.registry.list()) this.inc({ protocol: s.protocol });
    },
  });
  if (src.node) {
    const node = src.node;
    new Gauge({ name: 'modgate_node_info', help: 'This gateway node (join on `node` across nodes)', labelNames: ['node'], registers: [registry] }).set(
      { node: node.id },
      1,
    );
    new Gauge({
      name: 'modgate_database_up',
      help: '1 while the database answers, 0 while it is unreachable (the node relays and gates from memory)',
      registers: [registry],
      collect() {
        this.set(node.health.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'modgate_database_probe_seconds',
      help: 'Round trip of the last database health probe (select 1)',
      registers: [registry],
      collect() {
        const v = node.health.view();
        if (v.lastProbeMs !== null) this.set(v.lastProbeMs / 1000);
      },
    });
    new Gauge({
      name: 'modgate_database_outage_seconds',
      help: 'How long the database has been unreachable now (0 while it answers)',
      registers: [registry],
      collect() {
        const v = node.health.view();
        this.set(v.state === 'unreachable' ? (Date.now() - v.since) / 1000 : 0);
      },
    });
    new Gauge({
      name: 'modgate_database_last_outage_seconds',
      help: 'How long the last outage that ended lasted (0 before any)',
      registers: [registry],
      collect() {
        this.set((node.health.view().lastOutageMs ?? 0) / 1000);
      },
    });
    if (node.journal) {
      const journal = node.journal;
      new Gauge({
        name: 'modgate_journal_depth',
        help: 'Units of work (decision, strike, suspension, audit; cut, stream start or end; publish refusal; stored signals) in the local journal, not yet in the database',
        registers: [registry],
        collect() {
          this.set(journal.view().depth);
        },
      });
      new Gauge({
        name: 'modgate_journal_oldest_seconds',
        help: 'Age of the oldest unit in the local journal (0 while empty)',
        registers: [registry],
        collect() {
          const since = journal.view().since;
          this.set(since === null ? 0 : (Date.now() - since) / 1000);
        },
      });
      const replayed = new Counter({
        name: 'modgate_journal_replayed_total',
        help: 'Units replayed from the local journal into the database, by outcome (written; duplicate: already on record)',
        labelNames: ['outcome'],
        registers: [registry],
      });
      journal.on('applied', (_unit, via, wrote) => via === 'journal' && replayed.inc({ outcome: wrote ? 'written' : 'duplicate' }));
      const journaled = new Counter({ name: 'modgate_journal_units_total', help: 'Units written to the local journal', registers: [registry] });
      journal.on('journaled', () => journaled.inc());
      const rejected = new Counter({
        name: 'modgate_journal_rejected_total',
        help: 'Journal units the database refused for good (set aside in the .rejected file for an operator)',
        registers: [registry],
      });
      journal.on('rejected', () => rejected.inc());
    }
    if (node.listener) {
      const listener = node.listener;
      new Gauge({
        name: 'modgate_change_listener_up',
        help: "1 while the LISTEN connection for other nodes' changes is connected",
        registers: [registry],
        collect() {
          this.set(listener.listening ? 1 : 0);
        },
      });
      const notified = new Counter({
        name: 'modgate_change_notifications_total',
        help: 'Change notifications received from other nodes, by feed',
        labelNames: ['kind'],
        registers: [registry],
      });
      listener.on('change', (kind) => notified.inc({ kind }));
    }
  }
  const refusals = new Counter({
    name: 'modgate_publish_refusals_total',
    help: 'Refused publishes by reason',
    labelNames: ['protocol', 'reason'],
    registers: [registry],
  });
  const ended = new Counter({
    name: 'modgate_streams_ended_total',
    help: 'Ended streams by end reason (cut, suspended, publisher_disconnected, …)',
    labelNames: ['reason'],
    registers: [registry],
  });
  // From the first deciding content's arrival at the gateway (RTMP and WebM publishes here; else its frame's
  // observation) to the publisher being cut (the registry's `ended` comes after the ingest closed the
  // connection). Only policy cuts carry these times.
  const timeToCut = new Histogram({
    name: 'modgate_time_to_cut_seconds',
    help: 'Policy cuts: seconds from the deciding content reaching the gateway (where known, else its frame being observed) to the publisher being cut',
    labelNames: ['reason'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  src.registry.on('ended', (_s, reason, request) => {
    ended.inc({ reason });
    const from = request?.detail?.['contentAt'] ?? request?.detail?.['observedAt'];
    if (typeof from === 'number') timeToCut.observe({ reason }, Math.max(0, Date.now() - from) / 1000);
  });
  const hashMatches = new Counter({
    name: 'modgate_hash_matches_total',
    help: 'Sampled frames matching a bank entry, by bank and category',
    labelNames: ['bank', 'category'],
    registers: [registry],
  });
  const videoMatches = new Counter({
    name: 'modgate_video_matches_total',
    help: "Sampled frames on which a stream's recent frames matched a banked video (vPDQ), by bank and category",
    labelNames: ['bank', 'category'],
    registers: [registry],
  });
  const dbQueries = new Histogram({
    name: 'modgate_db_query_seconds',
    help: 'Database query latency, by outcome (ok, error)',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const notifyLag = new Histogram({
    name: 'modgate_notification_lag_seconds',
    help: 'Cross-node changes (PostgreSQL NOTIFY): seconds from the change being made to this node receiving it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'modgate_decisions_total',
    help: 'Policy decisions by rule, enforced or shadow',
    labelNames: ['rule', 'shadow'],
    registers: [registry],
  });
  src.runner.on('decision', (_rec, d) => decisions.inc({ rule: d.ruleId, shadow: String(d.shadow) }));

  new Gauge({
    name: 'modgate_frames_classified',
    help: 'Frames through the classifier stage since start',
    registers: [registry],
    collect() {
      this.set(src.stage.stats.frames);
    },
  });
  new Gauge({
    name: 'modgate_classifier_errors',
    help: 'Frames a classifier failed or dropped under load, since start',
    registers: [registry],
    collect() {
      this.set(src.stage.stats.classifierErrors);
    },
  });
  new Gauge({
    name: 'modgate_classifier_queue',
    help: 'Frames waiting for an ONNX worker, by model',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      for (const c of src.classifiers) this.set({ model: c.name }, c.pool.stats().queued);
    },
  });
  new Gauge({
    name: 'modgate_sampled_streams',
    help: 'Streams with a running sampler',
    registers: [registry],
    collect() {
      this.set(src.watcher()?.count ?? 0);
    },
  });
  new Gauge({
    name: 'modgate_sampled_streams_by_mode',
    help: 'Live streams by sampling mode: full (every frame, a sampler process each) or keyframe (shared keyframe decoder)',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      const counts = src.watcher()?.modeCounts() ?? { full: 0, keyframe: 0 };
      this.set({ mode: 'full' }, counts.full);
      this.set({ mode: 'keyframe' }, counts.keyframe);
    },
  });
  new Counter({
    name: 'modgate_sampler_shed_total',
    help:
      'Load shedding by full-rate samplers since start: skip_to_live (a decoder behind live restarted at the live edge, its queued input dropped), ' +
      'rate_lowered (a stream hashed at the model rate while the node is saturated), input_backlog (stdin chunks dropped for a slow ffmpeg)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const counts = src.watcher()?.shedCounts() ?? { skip_to_live: 0, rate_lowered: 0, input_backlog: 0 };
      this.reset();
      for (const [reason, n] of Object.entries(counts)) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'modgate_adaptive_escalations',
    help: 'Adaptive sampling: escalations to full rate since start (cumulative), and streams escalated now',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const a = src.watcher()?.adaptiveStats();
      this.set({ kind: 'cumulative' }, a?.escalations ?? 0);
      this.set({ kind: 'current' }, a?.escalated ?? 0);
    },
  });
  new Gauge({
    name: 'modgate_keyframe_decoder_events',
    help: 'Shared keyframe decoder, cumulative: decoded, dropped (rejected by the decoder), lost (in flight at a crash), busy (refused), restarts, flushes',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const k = src.watcher()?.keyframeDecoderStats();
      for (const event of ['decoded', 'dropped', 'lost', 'busy', 'restarts', 'flushes'] as const) this.set({ event }, k?.[event] ?? 0);
    },
  });
  new Gauge({
    name: 'modgate_keyframe_decoder_quarantined_streams',
    help: 'Streams refused by the shared keyframe decoder after crashing it (watched by a process of their own)',
    registers: [registry],
    collect() {
      this.set(src.watcher()?.keyframeDecoderStats()?.quarantined ?? 0);
    },
  });
  new Gauge({
    name: 'modgate_bank_hashes',
    help: 'Hashes in the live bank index',
    registers: [registry],
    collect() {
      this.set(src.banks.size);
    },
  });
  // Upstream media servers (gateway/hooks/): live streams and hook outcomes per server, read at scrape.
  const hookStat = (name: string, help: string, pick: (s: ReturnType<HookedStreams['serverStats']>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['server'],
      registers: [registry],
      collect() {
        this.reset();
        const h = src.hooks?.();
        for (const server of h?.servers ?? []) this.set({ server }, pick(h!.streams.serverStats(server)));
      },
    });
  new Gauge({
    name: 'modgate_hook_live_streams',
    help: 'Live streams published through an upstream media server, by server',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      const h = src.hooks?.();
      for (const server of h?.servers ?? []) this.set({ server }, 0);
      for (const s of src.registry.list()) if (s.server) this.inc({ server: s.server.name });
    },
  });
  hookStat('modgate_hook_publishes_authorized', 'Publishes an upstream server asked about and modgate allowed, since start', (s) => s.authorized);
  hookStat('modgate_hook_publishes_refused', 'Publishes an upstream server asked about and modgate refused, since start', (s) => s.refused);
  hookStat('modgate_hook_rechecks_refused', 'Periodic re-checks (nginx on_update) refused, since start', (s) => s.rechecksRefused);
  hookStat('modgate_hook_control_calls', 'Control calls (drop, kick) made to upstream servers, since start', (s) => s.controlCalls);
  hookStat(
    'modgate_hook_control_failures',
    'Cuts whose control call failed after its retries (the re-check and reconciler take over), since start',
    (s) => s.controlFailures,
  );

  return {
    registry,
    refusal: (protocol, reason) => refusals.inc({ protocol, reason }),
    signal: (sig) => {
      if (sig.match) hashMatches.inc({ bank: sig.match.bank, category: sig.match.category });
      const bank = sig.detail?.['bank'];
      if (sig.source === VIDEO_MATCH_SOURCE && typeof bank === 'string') videoMatches.inc({ bank, category: sig.label });
    },
    dbQuery: (ms, ok) => dbQueries.observe({ outcome: ok ? 'ok' : 'error' }, ms / 1000),
    // Clocks of two hosts differ: a negative lag (skew) is recorded as 0 rather than dropped.
    notificationLag: (ms) => notifyLag.observe(Math.max(0, ms) / 1000),
  };
}
