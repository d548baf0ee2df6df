import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { startAccountability, type Accountability } from './accountability/accountability.ts';
import { buildHttpServer, type RouteModule } from './api/http.ts';
import { databaseUrl, type Config } from './config.ts';
import { GateEnforcer } from './enforcement/gate-enforcer.ts';
import { GateState } from './identity/gate-sync.ts';
import { recordRefusal } from './ingest/refusals.ts';
import { RtmpIngest } from './ingest/rtmp.ts';
import { WsIngest } from './ingest/websocket.ts';
import { LiveRegistry } from './live/registry.ts';
import { createLogger, streamLogger } from './log.ts';
import { openStore, type Store } from './store/db.ts';
import { DbHealth } from './store/health.ts';
import { APPLIED_UNIT_RETENTION_MS, pruneAppliedUnits } from './store/journal/unit.ts';
import { DurableWriter } from './store/journal/writer.ts';
import { ChangeListener } from './store/notifications.ts';
import { NodeLiveness } from './live/nodes.ts';
import { CutRequestWorker } from './live/cut-requests.ts';
import { VERSION } from './version.ts';
import { Lifecycle } from './live/lifecycle.ts';
import { existsSync } from 'node:fs';
import { packagePath } from '../package/root.ts';
import { HashBankIndex } from '../classifiers/bank-index.ts';
import type { FrameClassifier } from '../classifiers/frame-classifier.ts';
import { RateLimited } from '../classifiers/rate-limited.ts';
import { ReuseUnchanged } from '../classifiers/reuse-unchanged.ts';
import { HashMatcher } from '../classifiers/hash-matcher.ts';
import { OnnxClassifier } from '../classifiers/onnx/classifier.ts';
import { loadManifest } from '../classifiers/onnx/manifest.ts';
import { SharedInference } from '../classifiers/onnx/shared-inference.ts';
import { CopyBankIndex } from '../classifiers/copy/bank-index.ts';
import type { CopyDescriber } from '../classifiers/copy/describer.ts';
import { CopyMatcher } from '../classifiers/copy/matcher.ts';
import { VideoBankIndex } from '../classifiers/vpdq/bank-index.ts';
import { VPDQ_QUALITY_THRESHOLD } from '../classifiers/vpdq/frames.ts';
import { VideoMatcher } from '../classifiers/vpdq/matcher.ts';
import { feedsCopy, loadCopyWhitening, poolDescriber, poolEmbedder } from './pipeline/copy-descriptor.ts';
import { ClassifierStage } from '../classifiers/stage.ts';
import { thumbnailFromFrame } from './media/thumbnail.ts';
import { EvidenceStore } from './evidence/store.ts';
import { pinUnpinnedEvidence } from './evidence/recover.ts';
import { SqlBankStore } from './banks/store.ts';
import { FloodGuard } from './banks/flood-guard.ts';
import { quarantineEntry } from './banks/quarantine.ts';
import { PolicyRunner } from './enforcement/policy-runner.ts';
import { PolicyStore, DEFAULT_POLICY_FILE } from './enforcement/policy-store.ts';
import { resolveFfmpeg } from './media/ffmpeg-path.ts';
import { StreamWatcher } from './pipeline/watcher.ts';
import { HookedStreams } from './hooks/hooked-streams.ts';
import { createMetrics } from './metrics.ts';
import { MemoryEventBus, type EventBus } from './events/bus.ts';
import { connectFeeds } from './events/feed.ts';
import { ConsoleEventRelay } from './events/relay.ts';
import { LatestFrames } from './live/latest.ts';
import { FlvEgress } from './live/flv-egress.ts';
import type { LiveStatus } from './live/status.ts';
import { ExchangeRunner } from './exchanges/runner.ts';
import { exchangeMetrics } from './exchanges/metrics.ts';
import { loadSecretKey } from './security/secret-key.ts';
import { SourceGuard } from './security/source-guard.ts';
import { CrisisService } from './crisis/service.ts';

export interface Gateway {
  config: Config;
  store: Store;
  health: DbHealth;
  /** Decisions, strikes, suspensions, cuts and their audit records kept locally while the database is away. */
  journal: DurableWriter;
  registry: LiveRegistry;
  /** Publishes through upstream media servers' hooks (gateway/hooks/). */
  hooks: HookedStreams;
  gate: GateState;
  enforcer: GateEnforcer;
  http: FastifyInstance;
  banks: HashBankIndex;
  /** Banked videos (vPDQ) and the matcher of streams' recent frames against them; null with hash or video matching off. */
  videos: { index: VideoBankIndex; matcher: VideoMatcher } | null;
  /** Holds back matches of an entry that floods (gateway/banks/flood-guard.ts). */
  floodGuard: FloodGuard;
  /** The copy descriptor's index and a describer for banking, when the descriptor runs (classifiers/copy). */
  copy: { index: CopyBankIndex; describer: CopyDescriber; matcher: CopyMatcher } | null;
  policies: PolicyStore;
  runner: PolicyRunner;
  watcher: StreamWatcher | null;
  accountability: Accountability;
  events: EventBus;
  /** The latest sampled frame of each live stream (the console's thumbnails). */
  latestFrames: LatestFrames;
  classifiers: OnnxClassifier[];
  exchanges: ExchangeRunner;
  /** Crisis mode: the active incident, full-rate sampling, the overlay, the retroactive scan (gateway/crisis/). */
  crisis: CrisisService;
  rtmpPort: number;
  httpPort: number;
  log: Logger;
  lifecycle: Lifecycle;
  /**
   * Graceful stop: refuse new publishes and report not-ready at once, let live streams run `shutdown.drainMs`,
   * stop sampling, let in-flight decisions finish, end every stream (gateway_shutdown), close. The bound on
   * it is the caller's (`modgate serve` exits `shutdown.timeoutMs` after the signal whatever is stuck).
   */
  stop(): Promise<void>;
  /** The step stop() is in ('running' before it), for the log line of a shutdown that ran out of time. */
  stopStep(): string;
}

/** A stable id per data directory, so a restarted gateway can close the streams its previous run left open. */
function nodeId(dataDir: string): string {
  const file = path.join(dataDir, 'node-id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = `node_${randomBytes(6).toString('hex')}`;
    writeFileSync(file, `${id}\n`);
    return id;
  }
}

const BUILTIN_NSFW = packagePath('models', 'nsfw');

/** The configured models, or the nsfw model built at install time when none is configured and it exists. */
function modelPaths(config: Config): string[] {
  if (config.classifiers.models) return config.classifiers.models.map((p) => path.resolve(p));
  return existsSync(path.join(BUILTIN_NSFW, 'nsfw-mobilenet-v2.onnx')) ? [BUILTIN_NSFW] : [];
}

export interface StartOptions {
  log?: Logger;
  extraRoutes?: RouteModule[];
  /** The clock of the abuse limits (tests advance it instead of waiting out a window). */
  now?: () => number;
}

export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  mkdirSync(config.dataDir, { recursive: true });
  const node = nodeId(config.dataDir);
  const log = opts.log ? opts.log.child({ node }) : createLogger(config.log.level, { node, ...(config.log.format ? { format: config.log.format } : {}) });
  let health: DbHealth | null = null;
  // Query durations reach the metrics once they exist (the store opens first).
  const dbTimer: { onQuery?: (ms: number, ok: boolean) => void } = {};
  const store = await openStore(databaseUrl(config), {
    onQuery: (ms, ok) => dbTimer.onQuery?.(ms, ok),
    onConnectionError: (err) => {
      log.warn({ err: err.message }, 'a database connection failed; the pool replaces it');
      health?.connectionError(err);
    },
  });
  const onError = (err: unknown, context: string) => log.error({ err }, context);
  health = new DbHealth(store.db);
  const dbHealth = health;
  dbHealth.on('lost', (err) => log.error({ err: err.message }, 'database unreachable: relaying and gating live streams from memory'));
  dbHealth.on('recovered', () => log.info('database reachable again: catching up'));
  dbHealth.start(1_000);
  // The enforcement write path's journal (gateway/store/journal/): while the database is away, every
  // decision and cut is kept here, fsynced, and replayed in order when it answers again.
  const journal = new DurableWriter({
    db: store.db,
    file: path.join(config.dataDir, 'journal', 'units.journal'),
    nodeId: node,
    reachable: () => dbHealth.ok,
    log: log.child({ component: 'journal' }),
  });
  // What a previous run kept (it crashed or stopped during an outage) goes in first: before the orphaned
  // streams are closed, so a journaled cut's end reason is the one on record.
  await journal.drain();

  const registry = new LiveRegistry(store.db, node, onError, { dialect: store.dialect, maxPerAccount: config.maxLiveStreamsPerAccount }, journal);
  const orphans = await registry.closeOrphans();
  if (orphans > 0) log.warn({ orphans }, 'closed streams left open by a previous run');

  const gate = new GateState(store.db, store.dialect);
  gate.eligibility = config.eligibility;
  gate.liveLimit = { max: config.maxLiveStreamsPerAccount, liveOn: (accountId) => registry.byAccount(accountId).length };
  // One line per stream start and end, from the one place both happen (the registry).
  registry.on('started', (s) => streamLogger(log, s).info({ remote: s.remoteAddr, ...(s.server ? { server: s.server.name } : {}) }, 'stream started'));
  registry.on('ended', (s, reason, request) => streamLogger(log, s).info({ reason, ...(request ? { actor: request.actor } : {}) }, 'stream ended'));
  registry.on('claimLost', (s) => {
    metrics?.refusal(s.protocol, 'already_live');
    streamLogger(log, s).info({ reason: 'already_live' }, 'publish refused: the account is already live on another node');
    void recordRefusal(
      journal,
      {
        protocol: s.protocol,
        server: s.server?.name ?? null,
        remoteAddr: s.remoteAddr,
        accountId: s.accountId,
        reason: 'already_live',
        detail: 'another node carries this account live',
      },
      onError,
    );
  });
  await gate.loadAll();
  const enforcer = new GateEnforcer(gate, registry, log);
  // A suspension decided during an outage is held in the gate until its unit is on record.
  journal.on('applied', (unit) => {
    for (const s of unit.suspensions) enforcer.gateRelease(s.id);
  });
  const events = new MemoryEventBus();
  // PostgreSQL (many nodes): the console events of the other nodes reach this node's consoles, and this
  // node's reach theirs (gateway/events/relay.ts); read when notified, and with the other feeds' reconcile.
  const relay =
    store.dialect === 'postgres' ? new ConsoleEventRelay(store.db, store.dialect, events, registry.nodeId, log.child({ component: 'event-relay' })) : null;
  await relay?.start();
  // PostgreSQL: changes are pushed (LISTEN/NOTIFY) and the feeds read at once; a slower reconcile reads
  // them anyway, and every syncIntervalMs while the listener is down. SQLite: poll every syncIntervalMs.
  const listener = store.pgConfig && config.nodes.listen ? new ChangeListener(store.pgConfig, log.child({ component: 'listener' })) : null;
  let lastReconcile = Date.now();
  const reconcileDue = () => {
    if (listener?.listening && Date.now() - lastReconcile < config.nodes.reconcileIntervalMs) return false;
    lastReconcile = Date.now();
    return true;
  };
  enforcer.start(config.syncIntervalMs, reconcileDue);

  const policies = new PolicyStore(store.db, config.policy.file ? path.resolve(config.policy.file) : DEFAULT_POLICY_FILE);
  await policies.refresh();
  const banks = new HashBankIndex(new SqlBankStore(store.db, store.dialect));
  await banks.loadAll();
  const evidence = new EvidenceStore(
    {
      dir: path.join(config.dataDir, 'evidence'),
      liveRetentionMs: config.evidence.liveRetentionHours * 3600_000,
      decisionRetentionMs: config.evidence.decisionRetentionDays * 86400_000,
    },
    (frame) => thumbnailFromFrame(frame).jpeg,
  );

  // Models load (and self-test against their manifests) before any stream is accepted: a broken manifest
  // or a model that contradicts it stops the start with the reason.
  const classifiers: OnnxClassifier[] = [];
  // With sampling off no frame is ever classified: no model and no worker is loaded (measured: ~190 MiB
  // of idle RSS with the default nsfw model; BENCHMARKS.md, "Relay against nginx-rtmp").
  const models = config.sampling.enabled ? modelPaths(config) : [];
  if (!config.sampling.enabled) log.info('sampling is off: no classifier model is loaded');
  let whitening: Awaited<ReturnType<typeof loadCopyWhitening>>;
  try {
    whitening = await loadCopyWhitening(config, log);
  } catch (err) {
    await store.close();
    throw new Error(`copy descriptor refused: ${(err as Error).message}`);
  }
  // The model whose embedding feeds the copy descriptor (one forward pass for both; classifiers/copy).
  let copyModel: OnnxClassifier | null = null;
  for (const dir of models) {
    try {
      const manifest = await loadManifest(dir);
      const embeddings = copyModel === null && feedsCopy(whitening, manifest);
      const c = await OnnxClassifier.open({
        manifest,
        workers: config.classifiers.workers,
        intraOpThreads: config.classifiers.intraOpThreads,
        maxBatch: config.classifiers.maxBatch,
        executionProviders: config.classifiers.executionProviders,
        embeddings,
      });
      classifiers.push(c);
      if (embeddings) copyModel = c;
    } catch (err) {
      await Promise.allSettled(classifiers.map((c) => c.close()));
      await store.close();
      throw new Error(`classifier model ${dir} refused: ${(err as Error).message}`);
    }
  }
  if (whitening && !copyModel) log.warn({ whitening: whitening.id, model: whitening.model }, 'copy descriptor off: the model it was fit on is not loaded');
  let copy: Gateway['copy'] = null;
  let copyInference: SharedInference | null = null;
  if (whitening && copyModel) {
    const index = new CopyBankIndex(new SqlBankStore(store.db, store.dialect), whitening.id, whitening.outputDim);
    await index.loadAll();
    copyInference = new SharedInference(copyModel.pool);
    // The frame's extra views (inside its borders, its picture-in-picture) each take a pass of their own.
    const matcher = new CopyMatcher(
      copyInference,
      whitening,
      index,
      { reportFloor: config.classifiers.copy.reportFloor, maxMatches: config.classifiers.copy.maxMatches, views: config.classifiers.copy.views },
      poolEmbedder(copyModel.pool),
    );
    copy = { index, describer: poolDescriber(copyModel.pool, whitening), matcher };
    log.info({ whitening: whitening.id, descriptors: index.size, stale: index.stats.stale }, 'copy descriptor on');
  }
  const sources = new Set(classifiers.flatMap((c) => c.pool.manifest.signals.map((m) => m.source)));
  if (config.sampling.enabled && !sources.has('violence')) {
    log.warn('no violence model is configured: hash matching and the other classifiers still run (see README, "Violence model")');
  }

  const runner = new PolicyRunner(
    { db: store.db, registry, enforcer, policies, evidence, log, writer: journal },
    { storeSignalsFloor: config.policy.storeSignalsFloor },
  );
  runner.start();
  let watcherRef: StreamWatcher | null = null;
  const c = config.crisis;
  const crisis = new CrisisService(
    { db: store.db, registry, banks, policies, runner, watcher: () => watcherRef, log: log.child({ component: 'crisis' }) },
    {
      windowMs: c.retroWindowMs,
      maxPerStream: c.retroMaxPerStream,
      minIntervalMs: c.retroMinIntervalMs,
      retroMaxDistance: c.retroMaxDistance,
      pollMs: c.pollMs,
    },
  );
  const hashMatcher = config.classifiers.hashMatch.enabled
    ? new HashMatcher(
        banks,
        {
          dihedral: config.classifiers.hashMatch.dihedral,
          minQuality: config.classifiers.hashMatch.minQuality,
          regions: config.classifiers.hashMatch.regions,
          regionsFps: config.classifiers.hashMatch.regionsFps,
        },
        crisis.record,
      )
    : null;
  // Banked videos ride on the hash matcher's whole-frame hash (classifiers/vpdq/matcher.ts).
  const vm = config.classifiers.videoMatch;
  const videos = hashMatcher && vm.enabled ? new VideoBankIndex(new SqlBankStore(store.db, store.dialect)) : null;
  await videos?.loadAll();
  const videoMatcher =
    hashMatcher && videos
      ? new VideoMatcher(hashMatcher, videos, {
          minQuality: Math.max(config.classifiers.hashMatch.minQuality, VPDQ_QUALITY_THRESHOLD),
          maxEntriesPerFrame: vm.maxEntriesPerFrame,
          windowMs: vm.windowMs,
          minFrames: vm.minFrames,
          minScenes: vm.minScenes,
          matchPercent: vm.matchPercent,
        })
      : null;
  const frameClassifiers: FrameClassifier[] = [
    ...(videoMatcher ? [videoMatcher] : hashMatcher ? [hashMatcher] : []),
    // Models at their own rate when frames come faster (hash matching takes every sampled frame).
    // The copy descriptor rides on its model's frames: same rate, same reuse of unchanged frames, same forward pass.
    ...[
      ...classifiers.map((c): FrameClassifier => (c === copyModel && copyInference ? OnnxClassifier.fromPool(c.pool, copyInference) : c)),
      ...(copy ? [copy.matcher] : []),
    ].map((c) => {
      const reuse = config.classifiers.reuse;
      const model: FrameClassifier = reuse.enabled ? new ReuseUnchanged(c, { maxDistance: reuse.maxDistance, maxAgeMs: reuse.maxAgeMs }) : c;
      return config.classifiers.modelFps < config.sampling.fps ? new RateLimited(model, config.classifiers.modelFps) : model;
    }),
  ];
  const stage = new ClassifierStage(
    frameClassifiers,
    (frame, facts) => evidence.save(frame, facts),
    { evidenceFloor: config.classifiers.evidenceFloor },
    (err, name) => log.debug({ err: (err as Error).message, classifier: name }, 'classifier skipped a frame'),
  );
  // Classifiers keep per-stream state (last frame, findings, rate slots, the video window): gone at the end.
  registry.on('ended', (s) => stage.end(s.id));
  const refreshBanks = () => {
    void banks
      .refresh()
      .then((touched) => touched > 0 && log.info({ touched, hashes: banks.size }, 'bank change applied'))
      .catch((err) => log.error({ err }, 'bank sync failed; will retry'));
    void copy?.index.refresh().catch((err) => log.error({ err }, 'copy descriptor bank sync failed; will retry'));
    void videos?.refresh().catch((err) => log.error({ err }, 'video bank sync failed; will retry'));
  };
  const floodGuard = new FloodGuard(config.floodGuard, {
    now: Date.now,
    // A video entry is in the video index only; a picture's in the PDQ index.
    hold: (entryId) => (videos?.entry(entryId) ? videos.hold(entryId) : banks.hold(entryId)),
    isExempt: (entryId) => (videos?.entry(entryId) ?? banks.entry(entryId))?.floodExempt === true,
    onTrip: (trip) => {
      log.warn({ bank: trip.bank, entry: trip.entryId, streams: trip.streams, threshold: trip.threshold }, 'flood guard: entry quarantined for review');
      void quarantineEntry(store.db, {
        entryId: trip.entryId,
        reason: 'flood',
        actor: 'system:flood-guard',
        detail: { streams: trip.streams, threshold: trip.threshold, baseline: trip.baseline, windowMs: trip.windowMs, sample: trip.sample },
      })
        .then(() => refreshBanks())
        .catch((err) => log.error({ err, entry: trip.entryId }, 'storing a flood quarantine failed; the entry stays held on this node'));
    },
  });
  const refreshPolicy = () =>
    void policies
      .refresh()
      .then((changed) => changed && log.info({ version: policies.current().versionId }, 'policy activated'))
      .catch((err) => log.error({ err }, 'policy sync failed; will retry'));
  let lastHousekeeping = Date.now();
  const housekeeping = setInterval(() => {
    if (listener?.listening && Date.now() - lastHousekeeping < config.nodes.reconcileIntervalMs) return;
    lastHousekeeping = Date.now();
    refreshBanks();
    refreshPolicy();
    relay?.reconcile();
  }, config.syncIntervalMs);
  housekeeping.unref();
  const cutRequests = new CutRequestWorker(store.db, registry, onError);
  const catchUp = () => {
    cutRequests.kick();
    enforcer.kick();
    refreshBanks();
    refreshPolicy();
    void relay?.kick();
  };
  if (listener) {
    listener.on('change', (kind) => {
      if (kind === 'cut') cutRequests.kick();
      else if (kind === 'gate') enforcer.kick();
      else if (kind === 'bank') refreshBanks();
      else if (kind === 'policy') refreshPolicy();
      else if (kind === 'event') void relay?.kick();
    });
    // Whatever was announced while the listener was down is read from the feeds now.
    listener.on('listening', catchUp);
    listener.start();
  }
  // Replayed decisions get their evidence pinned (their cut did not wait for it), and the gate re-reads
  // the accounts the replay touched.
  journal.on('drained', () => {
    enforcer.kick();
    void pinUnpinnedEvidence(store.db, evidence, { since: Date.now() - 86_400_000 }).catch((err) =>
      log.error({ err }, 'pinning the evidence of replayed decisions failed; will retry before the sweep'),
    );
  });
  dbHealth.on('recovered', () => {
    void journal.drain();
    catchUp();
    void registry.retryUnrecorded().catch((err) => log.error({ err }, 'recording streams after the outage failed; will retry'));
  });
  // Decisions a crash left citing live evidence are pinned at start and before every sweep, so no sweep
  // deletes evidence a decision cites (gateway/evidence/recover.ts).
  const recovered = await pinUnpinnedEvidence(store.db, evidence).catch((err) => {
    log.error({ err }, 'pinning the evidence of decisions a crash left unpinned failed; will retry before the sweep');
    return 0;
  });
  if (recovered > 0) log.warn({ decisions: recovered }, 'pinned the evidence of decisions a previous run committed but had not copied');
  const sweeper = setInterval(
    () =>
      void pinUnpinnedEvidence(store.db, evidence)
        .then(() => evidence.sweep())
        .catch((err) => log.error({ err }, 'evidence sweep skipped: pinning the cited evidence failed; will retry')),
    3600_000,
  );
  sweeper.unref();
  // The journal's applied-unit markers past their retention (a replay of a unit that old sets it aside).
  const markerPrune = setInterval(
    () =>
      void pruneAppliedUnits(store.db, Date.now() - APPLIED_UNIT_RETENTION_MS).catch((err) =>
        log.error({ err }, 'pruning applied-unit markers failed; will retry'),
      ),
    3600_000,
  );
  markerPrune.unref();

  let hooksRef: HookedStreams | null = null;
  const metrics = createMetrics({
    registry,
    runner,
    banks,
    stage,
    classifiers,
    watcher: () => watcherRef,
    node: { id: registry.nodeId, health: dbHealth, listener, journal },
    hooks: () => (hooksRef ? { streams: hooksRef, servers: config.servers.map((s) => s.name) } : null),
  });
  dbTimer.onQuery = metrics.dbQuery;
  if (listener) listener.on('change', (_kind, committedAt) => committedAt !== undefined && metrics.notificationLag(Date.now() - committedAt));
  const refuse = (r: Parameters<typeof recordRefusal>[1]) => {
    metrics.refusal(r.protocol, r.reason);
    // A caller with no account is audited per source and reason per window (a flood is a few rows).
    const guard = r.server || r.source === undefined ? null : guards[r.protocol as 'rtmp' | 'websocket'];
    if (guard && r.source !== undefined && r.accountId === null) return guard.refused(r.source, r.reason, r.detail ?? undefined);
    log.info({ protocol: r.protocol, remote: r.remoteAddr, reason: r.reason, ...(r.server ? { server: r.server } : {}) }, 'publish refused');
    void recordRefusal(journal, r, onError);
  };
  // One line and one row per source, reason and window: the first refusal at once, the rest as a count.
  const guardFor = (protocol: 'rtmp' | 'websocket', limits: { burst: number; perSecond: number }) =>
    new SourceGuard(
      { ...limits, windowMs: config.abuse.auditWindowMs, maxRefusalsPerWindow: config.abuse.maxRefusalsPerWindow, maxSources: config.abuse.maxSources },
      (a) => {
        log.info({ protocol, remote: a.source, reason: a.reason, ...(a.aggregated ? { count: a.count, aggregated: true } : {}) }, 'publish refused');
        return recordRefusal(
          journal,
          {
            protocol,
            remoteAddr: a.source,
            accountId: null,
            reason: a.reason,
            detail: a.aggregated ? `${a.count} further refusals from this address in the audit window` : (a.detail ?? null),
            count: a.count,
            at: a.firstAt,
            ...(a.aggregated ? { lastAt: a.lastAt } : {}),
          },
          onError,
        );
      },
      () => metrics.refusal(protocol, 'rate_limited'),
      opts.now,
    );
  const guards = { rtmp: guardFor('rtmp', config.abuse.rtmpConnect), websocket: guardFor('websocket', config.abuse.wsAuth) };
  const lifecycle = new Lifecycle();
  const accepting = () => !lifecycle.shuttingDown;
  const rtmp = new RtmpIngest(config.rtmp, { gate: () => gate, registry, refuse, log, guard: guards.rtmp, accepting });
  const ws = new WsIngest(config.ingest.ws, { gate: () => gate, registry, refuse, log, guard: guards.websocket, accepting });
  const hooks = new HookedStreams({ gate: () => gate, registry, refuse, log, accepting });
  hooksRef = hooks;
  const accountability = startAccountability({
    db: store.db,
    config,
    policies,
    log,
    registry,
    signal: (s) => runner.onSignal(s),
    escalate: (streamId, reason) => watcherRef?.escalate(streamId, reason),
    metrics: metrics.registry,
  });
  const latestFrames = new LatestFrames();
  // Viewer reports reach moderators' consoles at once (the queue is GET /api/v1/reports).
  accountability.reports.on('report.created', ({ report, independentReports }) =>
    events.publish('report.created', {
      at: new Date(report.created_at).toISOString(),
      reportId: report.id,
      streamId: report.stream_id,
      category: report.category,
      independentReports,
    }),
  );
  let rtmpPortRef = 0;
  const flv = new FlvEgress({ ffmpeg: () => resolveFfmpeg(), rtmpPort: () => rtmpPortRef, log });
  const live: LiveStatus = {
    samplingMode: (id) => watcherRef?.samplingMode(id) ?? 'off',
    shedding: (id) => watcherRef?.stats(id)?.shed ?? null,
    latest: (id) => latestFrames.get(id),
    flvPath: (s) => (flv.canWatch(s) ? `/api/v1/streams/${s.id}/live.flv` : null),
  };
  const secretKey = loadSecretKey(config.dataDir);
  const exchangeCounters = exchangeMetrics(metrics.registry, store.db);
  const exchanges = new ExchangeRunner({
    db: store.db,
    key: secretKey,
    log: log.child({ component: 'exchanges' }),
    pollMs: config.exchanges.pollMs,
    onFetch: (name, outcome) => exchangeCounters.fetched(name, outcome),
    opinionRetryBaseMs: config.exchanges.opinionRetryBaseMs,
    opinionMaxBackoffMs: config.exchanges.opinionMaxBackoffMs,
    onOpinionAttempt: (name, outcome) => exchangeCounters.opinionAttempt(name, outcome),
    // An applied page reaches live matching at once rather than at the next sync.
    onApplied: (_name, r) => (r.upserts || r.deletes) && refreshBanks(),
  });
  const http = await buildHttpServer(
    {
      store,
      health: dbHealth,
      lifecycle,
      journal,
      gate,
      enforcer,
      registry,
      config,
      log,
      version: VERSION,
      banks,
      ...(copy ? { copy } : {}),
      ...(videos ? { videos } : {}),
      policies,
      evidence,
      metrics: metrics.registry,
      hooks,
      accountability,
      events,
      live,
      latestFrames,
      exchanges,
      crisis,
      secretKey,
      flv,
      onQuarantineResolved: (entryId) => floodGuard.forget(entryId),
    },
    ws,
    opts.extraRoutes,
  );

  const rtmpPort = await rtmp.listen();
  rtmpPortRef = rtmpPort;
  let watcher: StreamWatcher | null = null;
  if (config.sampling.enabled) {
    const ffmpeg = await resolveFfmpeg();
    log.info({ ffmpeg: ffmpeg.path, version: ffmpeg.version, source: ffmpeg.source }, 'sampling live streams with ffmpeg');
    watcher = new StreamWatcher(
      registry,
      stage,
      (s) => {
        const held = floodGuard.filter(s);
        metrics.signal(held);
        runner.onSignal(held);
      },
      ffmpeg,
      { rtmpPort, ...config.sampling, modelFps: config.classifiers.modelFps },
      log,
    );
  }
  watcherRef = watcher;
  watcher?.onModeChange(crisis.modeChanged);
  await crisis.start();
  const disconnectFeeds = connectFeeds({
    bus: events,
    db: store.db,
    registry,
    live,
    latest: latestFrames,
    ...(watcher ? { onSampled: (cb: Parameters<StreamWatcher['onSampled']>[0]) => watcher.onSampled(cb) } : {}),
    onDecision: (cb) => runner.on('decision', (recorded) => cb(recorded.row.id)),
    onError,
  });
  await http.listen({ port: config.http.port, host: config.http.host });
  if (config.exchanges.enabled) exchanges.start();
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
  // Heartbeats, and closing the streams of nodes that stopped heartbeating; each beat also retries the
  // stream rows an outage kept from being written and picks up cut requests a lost notification left.
  const liveness = new NodeLiveness(
    store.db,
    registry.nodeId,
    config.nodes,
    log.child({ component: 'nodes' }),
    () => registry.list().map((s) => s.id),
    () => {
      cutRequests.kick();
      void registry.retryUnrecorded().catch((err) => log.error({ err }, 'recording streams after an outage failed; will retry'));
    },
  );
  const shownHost = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h);
  await liveness.start({
    httpUrl: config.http.publicUrl ?? `http://${shownHost(config.http.host)}:${httpPort}`,
    rtmpUrl: `rtmp://${shownHost(config.rtmp.host)}:${rtmpPort}/live`,
  });

  let stopping: Promise<void> | null = null;
  let step = 'running';
  const stopSteps = async () => {
    const at = (name: string) => {
      step = name;
      log.debug({ step: name }, 'shutdown step');
    };
    lifecycle.beginShutdown();
    if (config.shutdown.drainMs > 0 && registry.list().length > 0) {
      at('draining');
      log.info({ drainMs: config.shutdown.drainMs, liveStreams: registry.list().length }, 'draining: new publishes refused, live streams go on');
      await new Promise((r) => setTimeout(r, config.shutdown.drainMs));
    }
    at('stopping background work');
    dbHealth.stop();
    await listener?.stop();
    enforcer.stop();
    clearInterval(housekeeping);
    clearInterval(sweeper);
    clearInterval(markerPrune);
    // No new frames, then the decisions already under way are recorded and carried out (a cut they make
    // tells the streamer its decision, not gateway_shutdown), then every stream left ends.
    at('stopping sampling');
    await watcher?.stop();
    at('finishing in-flight decisions');
    await runner.stop();
    at('ending live streams');
    await Promise.allSettled(
      registry.list().map((s) => registry.cut(s.id, { reason: 'gateway_shutdown', message: 'the gateway is shutting down', actor: 'system' })),
    );
    at('closing');
    await liveness.stop();
    await exchanges.stop();
    await crisis.stop();
    hooks.stop();
    await hooks.settle();
    await accountability.stop();
    disconnectFeeds();
    await relay?.stop();
    flv.stopAll();
    await Promise.allSettled(classifiers.map((c) => c.close()));
    await ws.close();
    await rtmp.close();
    await Promise.allSettled([guards.rtmp.flush(), guards.websocket.flush()]);
    await http.close();
    at('closing the database');
    // Last: the final cuts above may have gone to the journal (the database away at shutdown).
    journal.close();
    await store.close();
    step = 'stopped';
  };
  return {
    config,
    store,
    health: dbHealth,
    journal,
    registry,
    hooks,
    gate,
    enforcer,
    http,
    banks,
    videos: videoMatcher && videos ? { index: videos, matcher: videoMatcher } : null,
    floodGuard,
    copy,
    policies,
    runner,
    watcher,
    accountability,
    events,
    latestFrames,
    classifiers,
    exchanges,
    crisis,
    rtmpPort,
    httpPort,
    log,
    lifecycle,
    stop() {
      stopping ??= stopSteps();
      return stopping;
    },
    stopStep: () => step,
  };
}
