import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import { appendAudit } from '../store/audit.ts';
import type { Database, StreamProtocol } from '../store/schema.ts';
import type { MediaTap } from './media-tap.ts';
import type { VideoTap } from './video-tap.ts';

export type Protocol = StreamProtocol;

/** Why a feed ended; the first four are the gateway's own enforcement. */
export type EndReason =
  | 'cut'
  | 'suspended'
  | 'banned'
  | 'under_age'
  | 'identity_revoked'
  | 'key_revoked'
  | 'not_verified'
  | 'publisher_disconnected'
  | 'protocol_error'
  | 'idle_timeout'
  | 'gateway_shutdown';

export interface CutRequest {
  reason: EndReason;
  /** Human-readable explanation, shown to the streamer (WebSocket close reason) and kept on record. */
  message: string;
  actor: string;
  detail?: Record<string, unknown>;
}

/** What an ingest adapter gives the registry: a way to end the publisher's connection from the server side. */
export interface IngestConnection {
  /** Closes the publisher's connection now (socket destroyed / WebSocket closed with a code and reason). */
  terminate(request: CutRequest): void;
  /** Tells the streamer something without ending the feed (policy `warn`); not every protocol can. */
  warn?(message: string): void;
}

export interface LiveStream {
  id: string;
  accountId: string;
  handle: string;
  subject: string | null;
  keyId: string | null;
  protocol: Protocol;
  remoteAddr: string | null;
  startedAt: number;
  /** For RTMP: the path players and the sampler read (`/live/<streamId>`); the key never appears in it. */
  playPath: string | null;
  /** For WebSocket publishes: the received media chunks (RTMP streams are read back from playPath). */
  media: MediaTap | null;
  /** For RTMP publishes: the video messages as they arrive (keyframe decoding reads them in-process). */
  video?: VideoTap | null;
  connection: IngestConnection;
  /** Published to an upstream media server whose hook called modgate (gateway/hooks/); absent for native ingest. */
  server?: { name: string; kind: string } | null;
  /** Where the sampler reads a stream modgate does not relay itself (an upstream server's play URL). */
  pullUrl?: string | null;
}

export interface LiveRegistryEvents {
  started: [LiveStream];
  /** The cut request when the gateway ended it (`cut`), none when the publisher went away by itself. */
  ended: [LiveStream, EndReason, CutRequest?];
}

/**
 * The gateway's own map of live publishes (node-media-server's donePublish can come 30 s late or never),
 * and the one enforcement primitive everything uses: `cut`.
 */
export class LiveRegistry extends EventEmitter<LiveRegistryEvents> {
  private readonly streams = new Map<string, LiveStream>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly nodeId: string,
    private readonly onError: (err: unknown, context: string) => void,
  ) {
    super();
  }

  /** Records a new publish (row written in the background: the publish itself was already authorized). */
  start(stream: LiveStream): void {
    this.streams.set(stream.id, stream);
    this.db
      .insertInto('streams')
      .values({
        id: stream.id,
        account_id: stream.accountId,
        key_id: stream.keyId,
        protocol: stream.protocol,
        remote_addr: stream.remoteAddr,
        started_at: stream.startedAt,
        ended_at: null,
        end_reason: null,
        end_detail: null,
        node_id: this.nodeId,
        server: stream.server?.name ?? null,
      })
      .execute()
      .then(async () => {
        if (stream.keyId) await this.db.updateTable('stream_keys').set({ last_used_at: stream.startedAt }).where('id', '=', stream.keyId).execute();
      })
      .catch((err) => this.onError(err, `recording start of stream ${stream.id}`));
    this.emit('started', stream);
  }

  get(id: string): LiveStream | undefined {
    return this.streams.get(id);
  }

  list(): LiveStream[] {
    return [...this.streams.values()].sort((a, b) => a.startedAt - b.startedAt);
  }

  byAccount(accountId: string): LiveStream[] {
    return this.list().filter((s) => s.accountId === accountId);
  }

  /**
   * Ends a live feed from the server side. The end (and its audit record) is committed first, then the
   * publisher's connection is closed: a crash in between leaves a record of the cut, never a silent gap.
   */
  async cut(id: string, request: CutRequest): Promise<LiveStream | undefined> {
    const stream = this.streams.get(id);
    if (!stream) return undefined;
    this.streams.delete(id);
    const now = Date.now();
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('streams')
          .set({ ended_at: now, end_reason: request.reason, end_detail: request.message })
          .where('id', '=', id)
          .where('ended_at', 'is', null)
          .execute();
        await appendAudit(trx, {
          actor: request.actor,
          action: 'stream.cut',
          targetType: 'stream',
          targetId: id,
          reason: request.message,
          detail: { account: stream.handle, endReason: request.reason, protocol: stream.protocol, ...(stream.server ? { server: stream.server.name } : {}), ...request.detail },
          at: now,
        });
      });
    } finally {
      // Even if the record failed (database down), the feed must still end: enforcement wins.
      stream.connection.terminate(request);
      this.emit('ended', stream, request.reason, request);
    }
    return stream;
  }

  /** The publisher went away by itself (or the connection broke). */
  ended(id: string, reason: EndReason, detail: string | null = null): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    this.db
      .updateTable('streams')
      .set({ ended_at: Date.now(), end_reason: reason, end_detail: detail })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .execute()
      .catch((err) => this.onError(err, `recording end of stream ${id}`));
    this.emit('ended', stream, reason);
  }

  /** Streams a previous run of this node left open (crash, kill -9) are closed on start. */
  async closeOrphans(): Promise<number> {
    const res = await this.db
      .updateTable('streams')
      .set({ ended_at: Date.now(), end_reason: 'gateway_shutdown', end_detail: 'gateway restarted while the stream was live' })
      .where('node_id', '=', this.nodeId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }
}
