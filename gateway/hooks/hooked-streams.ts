import type { Logger } from 'pino';
import type { MediaServerConfig } from '../config.ts';
import { END_REASON } from '../enforcement/gate-enforcer.ts';
import { authorizeAccount, authorizePublish, type GateSnapshot } from '../identity/gate.ts';
import type { Refusal } from '../ingest/refusals.ts';
import type { CutRequest, EndReason, LiveRegistry } from '../live/registry.ts';
import { newId, sha256Hex, STREAM_KEY_RE } from '../security/secrets.ts';
import type { AuthorizeResult, HookAdapter, UpstreamPublish } from './adapter.ts';
import { SHUTTING_DOWN } from '../live/lifecycle.ts';

export interface HookedStreamsDeps {
  gate: () => GateSnapshot;
  registry: LiveRegistry;
  refuse: (refusal: Refusal) => void;
  log: Logger;
  /** False once the node shuts down: new publishes are refused as shutting_down. */
  accepting?: () => boolean;
  /** Delays between control-call attempts after the first (default 250 ms, 1 s): the periodic re-check is the backstop. */
  retryDelaysMs?: number[];
  /**
   * How often unconfirmed cuts are retried and servers without an end callback are asked whether their
   * publishers are still there (default 3 s).
   */
  reconcileMs?: number;
}

interface Entry {
  streamId: string;
  server: MediaServerConfig;
  adapter: HookAdapter;
  publish: UpstreamPublish;
  publicName: string;
}

/** Per-server counters, read by the metrics at scrape time. */
export interface HookServerStats {
  authorized: number;
  refused: number;
  rechecksRefused: number;
  controlCalls: number;
  controlFailures: number;
}

/** How many ended publishes are remembered, so a late re-check of a cut one is refused with the reason. */
const ENDED_MEMORY = 10_000;

/**
 * Publishes that reach modgate through an upstream server's hook: the same gate as native ingest
 * (gateway/identity/gate.ts), the same registry (so the sampler, the policy, moderators' cuts and
 * suspensions all apply), and the server's control API as the way a cut reaches the publisher.
 *
 * A cut is recorded first (LiveRegistry.cut), then the control call is made, retried, and — if it still
 * fails — the next periodic re-check (nginx on_update, OME lifetime, MediaMTX/SRS re-auth) is refused,
 * because a publish no longer in the registry is never re-admitted: a lost control call cannot keep a
 * stream alive longer than one re-check interval.
 */
export class HookedStreams {
  private readonly live = new Map<string, Entry>();
  private readonly byStream = new Map<string, string>();
  private readonly endedRefs = new Map<string, EndReason>();
  private readonly stats = new Map<string, HookServerStats>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Cuts whose control call failed: retried by the reconciler until the server confirms (or forgets) them. */
  private readonly unconfirmed = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private reconciling = false;

  constructor(private readonly deps: HookedStreamsDeps) {
    deps.registry.on('ended', (stream, reason) => {
      const ref = this.byStream.get(stream.id);
      if (!ref) return;
      this.byStream.delete(stream.id);
      this.live.delete(ref);
      this.endedRefs.set(ref, reason);
      if (this.endedRefs.size > ENDED_MEMORY) this.endedRefs.delete(this.endedRefs.keys().next().value!);
    });
    this.timer = setInterval(() => void this.reconcile(), deps.reconcileMs ?? 3_000);
    this.timer.unref();
  }

  /**
   * The backstop for servers without a periodic re-check (MediaMTX, SRS) and for lost calls: retry every
   * unconfirmed cut, and end the streams whose publisher the server no longer has.
   */
  async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      const jobs: Promise<unknown>[] = [];
      for (const [ref, entry] of this.unconfirmed) {
        jobs.push(
          entry.adapter.drop(entry.server, entry.publish, entry.publicName).then(
            () => {
              this.unconfirmed.delete(ref);
              this.deps.log.info({ stream: entry.streamId, server: entry.server.name }, 'upstream publisher dropped on retry');
            },
            () => undefined,
          ),
        );
      }
      const byServer = new Map<string, Entry[]>();
      for (const entry of this.live.values()) {
        if (!entry.adapter.present) continue;
        const list = byServer.get(entry.server.name) ?? [];
        list.push(entry);
        byServer.set(entry.server.name, list);
      }
      for (const entries of byServer.values()) {
        const { adapter, server } = entries[0]!;
        jobs.push(
          adapter
            .present!.call(
              adapter,
              server,
              entries.map((e) => e.publish),
            )
            .then(
              (refs) => {
                for (const e of entries)
                  if (!refs.has(e.publish.ref)) this.deps.registry.ended(e.streamId, 'publisher_disconnected', `${server.name} no longer has the publisher`);
              },
              () => undefined, // unreachable: not evidence the publishers left
            ),
        );
      }
      for (const entry of this.live.values()) {
        const alive = entry.adapter.alive;
        if (!alive || entry.adapter.present) continue;
        jobs.push(
          alive.call(entry.adapter, entry.server, entry.publish, entry.publicName).then(
            (yes) => {
              if (!yes) this.deps.registry.ended(entry.streamId, 'publisher_disconnected', `${entry.server.name} no longer has the publisher`);
            },
            () => undefined, // unreachable: not evidence the publisher left
          ),
        );
      }
      await Promise.allSettled(jobs);
    } finally {
      this.reconciling = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Cuts whose control call has not been confirmed yet (metrics, tests). */
  get unconfirmedCuts(): number {
    return this.unconfirmed.size;
  }

  serverStats(name: string): HookServerStats {
    let s = this.stats.get(name);
    if (!s) this.stats.set(name, (s = { authorized: 0, refused: 0, rechecksRefused: 0, controlCalls: 0, controlFailures: 0 }));
    return s;
  }

  /** The live stream id of an upstream publisher, when it is live. */
  streamOf(server: MediaServerConfig, ref: string): string | undefined {
    return this.live.get(refKey(server, ref))?.streamId;
  }

  /**
   * The gate, for a publish the server asks about. An accepted one is live at once (and sampled).
   * `fixedName`: the stream keeps this public name (the server cannot rename it, or the key was not its name).
   */
  authorize(adapter: HookAdapter, server: MediaServerConfig, publish: UpstreamPublish, fixedName?: string): AuthorizeResult {
    const stats = this.serverStats(server.name);
    const refuse = (reason: Extract<AuthorizeResult, { ok: false }>['reason'], message: string, accountId: string | null): AuthorizeResult => {
      stats.refused++;
      this.deps.refuse({ protocol: publish.protocol, server: server.name, remoteAddr: publish.remoteAddr, accountId, reason, detail: message });
      return { ok: false, reason, message };
    };
    if (this.deps.accepting && !this.deps.accepting()) return refuse(SHUTTING_DOWN.reason, SHUTTING_DOWN.message, null);
    const key = publish.key ?? '';
    if (!STREAM_KEY_RE.test(key)) return refuse('unknown_key', key === '' ? 'no stream key presented' : 'malformed stream key', null);
    const verdict = authorizePublish(this.deps.gate(), sha256Hex(key), Date.now());
    if (!verdict.ok) return refuse(verdict.reason, verdict.message, verdict.account?.id ?? null);
    const ref = refKey(server, publish.ref);
    if (this.live.has(ref)) return refuse('conflict', 'this connection is already publishing', verdict.account.id);

    const streamId = newId('str');
    // The name players and the sampler use: the server's own when the key travelled apart from it, else a
    // public name the server renames the stream to (nginx-rtmp), so the key never names a play URL.
    const publicName = fixedName ?? (server.publishName === 'handle' ? verdict.account.handle : streamId);
    const entry: Entry = { streamId, server, adapter, publish: { ...publish, key: null }, publicName };
    this.live.set(ref, entry);
    this.byStream.set(streamId, ref);
    stats.authorized++;
    this.deps.registry.start({
      id: streamId,
      accountId: verdict.account.id,
      handle: verdict.account.handle,
      subject: verdict.account.subject,
      keyId: verdict.keyId,
      protocol: publish.protocol,
      remoteAddr: publish.remoteAddr,
      startedAt: Date.now(),
      playPath: null,
      media: null,
      video: null,
      server: { name: server.name, kind: server.kind },
      pullUrl: adapter.pullUrl(server, publish, publicName),
      connection: { terminate: (request) => this.track(this.drop(entry, request)) },
    });
    return { ok: true, streamId, publicName };
  }

  /**
   * A running publish asks again. Allowed only while it is live in the registry and the gate still
   * permits its account; a suspension seen here cuts it (in case the enforcer's control call was lost).
   */
  recheck(server: MediaServerConfig, publish: UpstreamPublish): AuthorizeResult {
    const ref = refKey(server, publish.ref);
    const entry = this.live.get(ref);
    const stats = this.serverStats(server.name);
    if (!entry) {
      stats.rechecksRefused++;
      const ended = this.endedRefs.get(ref);
      return {
        ok: false,
        reason: 'not_live',
        message: ended ? `this stream was ended by modgate (${ended})` : 'modgate does not know this publish (ended, or modgate restarted): publish again',
      };
    }
    const stream = this.deps.registry.get(entry.streamId);
    if (!stream) {
      stats.rechecksRefused++;
      return { ok: false, reason: 'not_live', message: 'this stream was ended by modgate' };
    }
    const verdict = authorizeAccount(this.deps.gate(), stream.accountId, stream.keyId, Date.now());
    if (!verdict.ok) {
      stats.rechecksRefused++;
      this.track(
        this.deps.registry
          .cut(stream.id, {
            reason: END_REASON[verdict.reason],
            message: verdict.message,
            actor: `hook:${server.name}`,
            detail: { gate: verdict.reason, via: 'recheck' },
          })
          .catch((err) => this.deps.log.error({ err, stream: stream.id }, 'recording a re-check cut failed (the stream is still refused)')),
      );
      return { ok: false, reason: verdict.reason, message: verdict.message };
    }
    return { ok: true, streamId: entry.streamId, publicName: entry.publicName };
  }

  /** The server says the publisher went away. */
  ended(server: MediaServerConfig, publish: UpstreamPublish): string | null {
    const entry = this.live.get(refKey(server, publish.ref));
    if (!entry) return null;
    this.deps.registry.ended(entry.streamId, 'publisher_disconnected');
    return entry.streamId;
  }

  /** Waits for control calls in flight (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** The control call, retried; a final failure is logged and counted, and the re-check refuses the stream. */
  private async drop(entry: Entry, request: CutRequest): Promise<void> {
    const stats = this.serverStats(entry.server.name);
    const delays = [0, ...(this.deps.retryDelaysMs ?? [250, 1_000])];
    let lastErr: unknown = null;
    for (const delay of delays) {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay).unref());
      stats.controlCalls++;
      try {
        const { dropped } = await entry.adapter.drop(entry.server, entry.publish, entry.publicName);
        this.deps.log.info({ stream: entry.streamId, server: entry.server.name, dropped, reason: request.reason }, 'upstream publisher dropped');
        return;
      } catch (err) {
        lastErr = err;
      }
    }
    stats.controlFailures++;
    this.unconfirmed.set(refKey(entry.server, entry.publish.ref), entry);
    this.deps.log.warn(
      { stream: entry.streamId, server: entry.server.name, err: (lastErr as Error)?.message ?? String(lastErr) },
      "the media server's control call failed; its next re-check refuses the stream and the reconciler retries the call",
    );
  }
}

function refKey(server: MediaServerConfig, ref: string): string {
  return `${server.name}\u0000${ref}`;
}
