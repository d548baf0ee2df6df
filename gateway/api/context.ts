import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { GateEnforcer } from '../enforcement/gate-enforcer.ts';
import type { GateState } from '../identity/gate-sync.ts';
import type { LiveRegistry } from '../live/registry.ts';
import type { HookedStreams } from '../hooks/hooked-streams.ts';
import type { Store } from '../store/db.ts';
import type { DbHealth } from '../store/health.ts';
import type { Lifecycle } from '../live/lifecycle.ts';
import type { JournalView, UnitWriter } from '../store/journal/writer.ts';
import type { HashBankIndex } from '../../classifiers/bank-index.ts';
import type { VideoBankIndex } from '../../classifiers/vpdq/bank-index.ts';
import type { EvidenceStore } from '../evidence/store.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import type { Registry } from 'prom-client';
import type { Accountability } from '../accountability/accountability.ts';
import type { EventBus } from '../events/bus.ts';
import type { LatestFrames } from '../live/latest.ts';
import type { FlvEgress } from '../live/flv-egress.ts';
import type { LiveStatus } from '../live/status.ts';
import type { ExchangeRunner } from '../exchanges/runner.ts';
import type { CrisisService } from '../crisis/service.ts';
import type { CopyDescriber } from '../../classifiers/copy/describer.ts';

export interface ApiContext {
  store: Store;
  /** Whether the database answers (readiness); the gateway keeps serving from memory while it does not. */
  health: DbHealth;
  /** Whether the node still takes new publishes (false from SIGTERM on: /readyz answers 503 shutting_down). */
  lifecycle?: Lifecycle;
  /** The local journal of writes kept while the database is away (absent in API-only test servers); `write` sends a unit through it. */
  journal?: { view(): JournalView; write?: UnitWriter['write'] };
  gate: GateState;
  enforcer: GateEnforcer;
  registry: LiveRegistry;
  config: Config;
  log: Logger;
  version: string;
  banks: HashBankIndex;
  /** The copy descriptor, when it runs: descriptors for content being banked (a confirmed decision's frames) and its index. */
  copy?: { describer: CopyDescriber; index: { refresh(): Promise<unknown> } };
  /** The banked videos (vPDQ) live matching reads; absent in API-only test servers and with hash matching off. */
  videos?: VideoBankIndex;
  policies: PolicyStore;
  evidence: EvidenceStore;
  metrics?: Registry;
  /** Publishes through upstream media servers' hooks (gateway/hooks/). */
  hooks: HookedStreams;
  /** Statements of reasons and their outbox (absent in API-only test servers). */
  accountability?: Accountability;
  /** Push events (GET /api/v1/events). */
  events: EventBus;
  /** Sampling mode, latest frame and play path of live streams. */
  live: LiveStatus;
  latestFrames: LatestFrames;
  /** A moderator resolved an entry's quarantine (the flood guard counts it afresh). */
  onQuarantineResolved?: (entryId: string) => void;
  /** Fetches from hash exchanges (gateway/exchanges/); absent in API-only test servers. */
  exchanges?: ExchangeRunner;
  /** Crisis mode on this node (the incident itself is in the database); absent in API-only test servers. */
  crisis?: CrisisService;
  /** Seals outbound credentials (gateway/security/secret-key.ts); absent in API-only test servers. */
  secretKey?: Buffer;
  /** Watch live (HTTP-FLV for a browser player). */
  flv: FlvEgress;
  /** Ping interval of the event stream (tests shorten it); default 15 s. */
  eventsPingMs?: number;
}
