import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { HashBankIndex } from '../../classifiers/bank-index.ts';
import type { BankEntryRecord } from '../../classifiers/bank-store.ts';
import type { Frame } from '../../classifiers/frame.ts';
import { fromHex, isPdqHex, toHex, type PdqHash } from '../../classifiers/pdq.ts';
import { RecentHashes, type RecentHashesOptions, type RetroHit } from '../../classifiers/recent-hashes.ts';
import type { Signal } from '../../classifiers/signal.ts';
import type { EnforcedDecision } from '../../policy/engine.ts';
import { recordDecision } from '../enforcement/decisions.ts';
import type { PolicyRunner } from '../enforcement/policy-runner.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import type { LiveRegistry } from '../live/registry.ts';
import type { StreamWatcher } from '../pipeline/watcher.ts';
import type { Database } from '../store/schema.ts';
import { activeIncident, recordIncidentEvent, type Incident } from './incidents.ts';

/** The signal source of a retroactive match (the default policy's `tve-known-content-retro` rule reads it). */
export const RETRO_SOURCE = 'retro_match';
/** The rule id of the review item an ended stream's retroactive match becomes. */
export const RETRO_ENDED_RULE = 'incident-retro-ended';

export interface CrisisOptions extends Partial<RecentHashesOptions> {
  retroMaxDistance: number;
  pollMs: number;
}

interface EndedStream {
  accountId: string;
  subject: string | null;
  handle: string;
}

/**
 * One gateway's part in a crisis incident (gateway/crisis/incidents.ts holds the incident itself):
 *  - it follows the active incident (polled, so one declared with the CLI or on another node applies here
 *    within `pollMs`);
 *  - while one is active: every stream of this node at full rate (StreamWatcher.forceFullRate), the
 *    incident's policy overlay in front of the active policy (PolicyStore.setOverlay);
 *  - always: the recent frame hashes of this node's streams, live and ended within the window
 *    (classifiers/recent-hashes.ts), so an incident declared now can look back;
 *  - the retroactive scan: an entry added to one of the active incident's banks (as this node's bank index
 *    applies it) is checked against those hashes. Only the incident's banks, not every bank: an incident
 *    says which content it is about, and a routine bulk import into another bank during an incident should
 *    not turn into thousands of retroactive cuts. A still-live stream gets a `retro_match` signal through the
 *    normal decision path (the policy decides: the default `tve-known-content-retro` rule cuts); an ended one
 *    becomes an urgent review item (decision `incident-retro-ended`, no strike: a moderator decides).
 *    Pictures (PDQ entries) only, for now: a banked video (vPDQ) is not scanned back. It would be meaningful (a
 *    stream that showed the video in the last minutes has its frames in the ring), but a video match is a
 *    window's worth of frames (80 % of the window's distinct hashes, 3 scenes: classifiers/vpdq/window.ts),
 *    not one frame near one hash, and the ring has no scan for that yet; the index's entry listener
 *    (HashBankIndex.onEntryAdded) only sees PDQ entries. A video banked during an incident matches from the
 *    frames that come after it.
 * Everything lands in the incident's timeline (incident_events), where its counts are read from.
 *
 * Pushing the incident banks' new entries to partners needs nothing here: the signed feed
 * (gateway/exchanges/serve-feed.ts) answers a waiting long-poll within 100 ms of a change in any bank in the
 * partner's scope. The incident's counts say how many partners that scope reaches.
 */
export class CrisisService {
  readonly recent: RecentHashes;
  private incident: Incident | null = null;
  private banks = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly ended = new Map<string, EndedStream>();
  private readonly scanned = new Set<string>();
  /** Live streams sent a retro signal, by stream: the entry, until the policy's decision (or none) comes. */
  private readonly pendingRetro = new Map<string, { entryId: string; incidentId: string }>();
  private chain: Promise<void> = Promise.resolve();
  private applying = false;
  private readonly unsubscribe: Array<() => void> = [];
  readonly stats = { scans: 0, retroSignals: 0, retroFlags: 0 };

  constructor(
    private readonly deps: {
      db: Kysely<Database>;
      registry: LiveRegistry;
      banks: HashBankIndex;
      policies: PolicyStore;
      runner: PolicyRunner;
      watcher: () => StreamWatcher | null;
      log: Logger;
      now?: () => number;
    },
    private readonly opts: CrisisOptions,
  ) {
    this.recent = new RecentHashes(opts);
    deps.registry.on('ended', (s) => {
      this.recent.end(s.id, this.now());
      this.ended.set(s.id, { accountId: s.accountId, subject: s.subject, handle: s.handle });
    });
    this.unsubscribe.push(deps.banks.onEntryAdded((e) => this.entryAdded(e)));
    deps.runner.on('decision', (recorded, d) => {
      const pending = this.pendingRetro.get(d.streamId);
      if (!pending || d.ruleId === RETRO_ENDED_RULE) return;
      this.pendingRetro.delete(d.streamId);
      const cut = !d.shadow && d.actions.cut;
      this.event(pending.incidentId, cut ? 'retro_cut' : 'retro_decision', d.streamId, {
        entryId: pending.entryId,
        decisionId: recorded.row.id,
        ruleId: d.ruleId,
      });
    });
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** The HashMatcher's observer: every usable whole-frame hash of a live stream, and its trimmed one (letterbox). */
  readonly record = (frame: Frame, hash: PdqHash, quality: number, observedAt: number, trimmed?: PdqHash): void => {
    this.recent.record(frame.streamId, hash, quality, observedAt, frame.mediaTimeMs, trimmed);
  };

  active(): Incident | null {
    return this.incident;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.recent.prune(this.now());
      for (const id of this.ended.keys()) if (this.recent.size(id) === 0) this.ended.delete(id);
      void this.refresh().catch((err) => this.deps.log.error({ err }, 'reading the active incident failed; will retry'));
    }, this.opts.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    await this.chain;
  }

  /** Reads the active incident; applies a change (declared, ended, another one). */
  async refresh(): Promise<void> {
    const next = await activeIncident(this.deps.db);
    if ((next?.id ?? null) === (this.incident?.id ?? null)) return;
    if (this.incident) this.release(this.incident);
    if (next) await this.apply(next);
  }

  private async apply(incident: Incident): Promise<void> {
    const overlayId = incident.overlay_version_id === null ? null : Number(incident.overlay_version_id);
    if (overlayId !== null) {
      try {
        this.deps.policies.setOverlay({ versionId: overlayId, policy: await this.deps.policies.parsedVersion(overlayId) });
      } catch (err) {
        // Checked when declared; a version that no longer parses leaves the active policy alone, and says so.
        this.deps.log.error({ err, incident: incident.id, overlay: overlayId }, 'the incident policy overlay does not load; the active policy applies alone');
      }
    }
    this.incident = incident;
    this.banks = new Set(JSON.parse(incident.banks) as string[]);
    this.scanned.clear();
    const reason = `incident ${incident.id}`;
    const watcher = this.deps.watcher();
    const before = watcher ? this.deps.registry.list().filter((s) => watcher.stats(s.id)?.mode === 'full').length : 0;
    this.applying = true;
    try {
      watcher?.forceFullRate(reason);
    } finally {
      this.applying = false;
    }
    const streams = this.deps.registry.list();
    const full = watcher ? streams.filter((s) => watcher.stats(s.id)?.mode === 'full').length : 0;
    this.deps.log.warn(
      { incident: incident.id, name: incident.name, banks: [...this.banks], overlay: overlayId, streams: streams.length },
      'crisis incident active',
    );
    this.event(incident.id, 'applied', null, {
      streams: full - before,
      live: streams.length,
      overlayVersionId: this.deps.policies.overlayVersion(),
      policy: `${this.deps.policies.effective().name}@${this.deps.policies.effective().version}`,
    });
  }

  /** The watcher's mode changes: a stream that starts during the incident and is put at full rate for it. */
  readonly modeChanged = (c: { streamId: string; mode: string; reason: string }): void => {
    const incident = this.incident;
    if (!incident || this.applying || c.mode !== 'full' || c.reason !== `incident ${incident.id}`) return;
    this.event(incident.id, 'stream_escalated', c.streamId, {});
  };

  private release(incident: Incident): void {
    this.deps.watcher()?.forceFullRate(null);
    this.deps.policies.setOverlay(null);
    this.incident = null;
    this.banks = new Set();
    this.deps.log.warn({ incident: incident.id }, 'crisis incident over on this node');
    this.event(incident.id, 'released', null, {});
  }

  private entryAdded(e: BankEntryRecord): void {
    const incident = this.incident;
    if (!incident || !this.banks.has(e.bank) || !isPdqHex(e.hash)) return;
    // A derived entry (a crop of banked content) is not content a stream showed whole; its parent is scanned.
    if (e.derivedFrom) return;
    const key = `${e.bank}\u0000${e.hash}`;
    if (this.scanned.has(key)) return;
    this.scanned.add(key);
    const now = this.now();
    const hits = this.recent.scan(fromHex(e.hash), this.opts.retroMaxDistance, now);
    this.stats.scans++;
    this.event(incident.id, 'entry_added', null, { entryId: e.id, bank: e.bank, hash: e.hash, hits: hits.length });
    for (const hit of hits) {
      if (hit.endedAt === null && this.deps.registry.get(hit.streamId)) this.retroSignal(incident, e, hit, now);
      else this.flagEnded(incident, e, hit, now);
    }
  }

  private retroSignal(incident: Incident, e: BankEntryRecord, hit: RetroHit, now: number): void {
    const signal: Signal = {
      streamId: hit.streamId,
      frameTimeMs: hit.mediaTimeMs,
      observedAt: now,
      source: RETRO_SOURCE,
      label: e.category,
      match: {
        bank: e.bank,
        entryId: e.id,
        distance: hit.distance,
        variant: 'original',
        category: e.category,
        severity: e.severity,
        frameHash: toHex(hit.frameHash),
        quality: hit.quality,
        ...(hit.region === 'trimmed' ? { region: 'trimmed' } : {}),
      },
      version: `banks@${this.deps.banks.revision}`,
      evidenceRef: null,
      detail: { incident: incident.id, seenAt: hit.firstSeenAt, lastSeenAt: hit.lastSeenAt, agoMs: now - hit.lastSeenAt },
    };
    this.stats.retroSignals++;
    this.pendingRetro.set(hit.streamId, { entryId: e.id, incidentId: incident.id });
    this.event(incident.id, 'retro_match', hit.streamId, {
      entryId: e.id,
      distance: hit.distance,
      seenAt: new Date(hit.firstSeenAt).toISOString(),
      live: true,
    });
    this.deps.runner.onSignal(signal);
  }

  private flagEnded(incident: Incident, e: BankEntryRecord, hit: RetroHit, now: number): void {
    const meta = this.ended.get(hit.streamId);
    if (!meta) return;
    const policy = this.deps.policies.effective();
    const decision: EnforcedDecision = {
      shadow: false,
      ruleId: RETRO_ENDED_RULE,
      kind: 'rule',
      policy: { name: policy.name, version: policy.version },
      streamId: hit.streamId,
      accountId: meta.accountId,
      personId: meta.subject,
      severity: e.severity,
      reason:
        `crisis incident ${incident.name}: this ended stream showed, ${Math.round((now - hit.lastSeenAt) / 1000)} s ago, a frame at PDQ distance ${hit.distance} ` +
        `of content banked since in ${e.bank} (entry ${e.id})`,
      evidenceRefs: [],
      signalRefs: [],
      decidedAt: now,
      escalation: null,
      actions: { cut: false, review: { priority: 'urgent' } },
    };
    this.stats.retroFlags++;
    this.chain = this.chain
      .then(async () => {
        const recorded = await recordDecision(this.deps.db, decision, {
          evidence: {
            retro: {
              incident: incident.id,
              bank: e.bank,
              entryId: e.id,
              distance: hit.distance,
              frameHash: toHex(hit.frameHash),
              region: hit.region,
              seenAt: hit.firstSeenAt,
            },
          },
          decidedBy: `incident:${incident.id}`,
        });
        await recordIncidentEvent(this.deps.db, {
          incidentId: incident.id,
          kind: 'retro_flag',
          node: this.deps.registry.nodeId,
          streamId: hit.streamId,
          detail: { entryId: e.id, distance: hit.distance, decisionId: recorded.row.id, handle: meta.handle },
        });
      })
      .catch((err) => this.deps.log.error({ err, stream: hit.streamId, incident: incident.id }, 'flagging an ended stream for review failed'));
  }

  private event(incidentId: string, kind: string, streamId: string | null, detail: Record<string, unknown>): void {
    this.chain = this.chain
      .then(() => recordIncidentEvent(this.deps.db, { incidentId, kind, node: this.deps.registry.nodeId, streamId, detail, at: this.now() }))
      .catch((err) => this.deps.log.error({ err, incident: incidentId, kind }, 'recording an incident event failed'));
  }

  /** Waits for the timeline writes queued so far (tests, shutdown). */
  settle(): Promise<void> {
    return this.chain;
  }
}
