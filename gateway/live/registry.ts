import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import { writeUnit } from '../store/journal/unit.ts';
import { directWriter, type UnitWriter } from '../store/journal/writer.ts';
import { alreadyLiveMessage } from '../identity/gate.ts';
import type { Database, Dialect, StreamProtocol } from '../store/schema.ts';
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
  | 'gateway_shutdown'
  /** Another live stream of the account won the claim (one live stream per account, across nodes). */
  | 'already_live'
  /** The node carrying the stream stopped heartbeating; another node closed its row. */
  | 'node_lost';

export interface CutRequest {
  reason: EndReason;
  /** Human-readable explanation, shown to the streamer (WebSocket close reason) and kept on record. */
  message: string;
  actor: string;
  detail?: Record<string, unknown>;
  /** What the streamer is told, when it differs from `message` (an automated decision's plain words). */
  streamerMessage?: string;
  /** The suspension the cut comes with, for the streamer (`endsAt` null: permanent). */
  suspension?: { endsAt: number | null };
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
  /** Another node already carried the account live: the stream is being ended as already_live. */
  claimLost: [LiveStream];
}

/**
 * The gateway's own map of live publishes (node-media-server's donePublish can come 30 s late or never),
 * and the one enforcement primitive everything uses: `cut`.
 */
export class LiveRegistry extends EventEmitter<LiveRegistryEvents> {
  private readonly streams = new Map<string, LiveStream>();

  constructor(
    private readonly db: Kysely<Database>,
    readonly nodeId: string,
    private readonly onError: (err: unknown, context: string) => void,
    private readonly claim: { dialect: Dialect; maxPerAccount: number } = { dialect: 'sqlite', maxPerAccount: 1 },
    /** Where a cut's end and audit record go: the database, or the local journal while it is away (server.ts). */
    private readonly writer: UnitWriter = directWriter(db, nodeId),
  ) {
    super();
  }

  /**
   * Streams whose start could not be recorded with its claim (database unreachable): claimed, if still live,
   * on `retryUnrecorded`. Their row waits in the local journal (`journaledStarts`); without one (no journal,
   * or it failed too) it is only here, and a stream that ended meanwhile stays here so its row is written
   * with its end.
   */
  private readonly unrecorded = new Map<string, LiveStream>();
  /**
   * Of those, the streams whose row is in the journal: durable (a kill -9 during the outage does not lose
   * it; the replay at the next start writes it and closeOrphans closes it). Their end and cut go through the
   * writer, so the journal's order puts them after the row.
   */
  private readonly journaledStarts = new Set<string>();
  /** Ends that could not be recorded: written on `retryUnrecorded`. */
  private readonly unended = new Map<string, { at: number; reason: EndReason; detail: string | null }>();
  /** Starts being written now: an end meanwhile is written after the row exists, never before it. */
  private readonly recording = new Set<string>();

  /**
   * Records a new publish (in the background: the publish itself was already authorized by the gate,
   * which also refused a second stream of the account on this node). The row is the account's claim on
   * the platform: written under a lock on the account row (SQLite: the write lock), it is refused when
   * other nodes already carry `maxPerAccount` live streams of the account, and the feed is then ended as
   * `already_live`. While the database is unreachable the stream stays up unclaimed (only this node's own
   * check applies) and is claimed when it answers again.
   */
  start(stream: LiveStream): void {
    this.streams.set(stream.id, stream);
    void this.record(stream);
    this.emit('started', stream);
  }

  private async record(stream: LiveStream): Promise<void> {
    let outcome: 'recorded' | 'already_live';
    // The database is known to be away: the row goes to the journal at once; the claim waits for its return.
    if (this.writer.deferring?.()) return this.deferStart(stream, null);
    this.recording.add(stream.id);
    try {
      outcome = await this.db.transaction().execute(async (trx) => {
        // Ended before its start could be recorded (an outage): the row is written with its end, no claim.
        const end = this.streams.has(stream.id) ? null : (this.unended.get(stream.id) ?? null);
        if (end) {
          await trx
            .insertInto('streams')
            .values({ ...this.row(stream), ended_at: end.at, end_reason: end.reason, end_detail: end.detail })
            .onConflict((oc) => oc.column('id').doNothing())
            .execute();
          return 'recorded' as const;
        }
        if (this.claim.dialect === 'postgres') {
          // Claims of one account take turns; the count below then sees the winner's committed row.
          await trx.selectFrom('accounts').select('id').where('id', '=', stream.accountId).forUpdate().execute();
        }
        const others = await trx
          .selectFrom('streams')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('account_id', '=', stream.accountId)
          .where('ended_at', 'is', null)
          .where('node_id', '!=', this.nodeId)
          // A row replayed from another node's journal is no claim yet: that node makes it, under this same lock.
          .where('claim_pending', '=', 0)
          // A lost or stopped node's rows are being closed; they do not hold a claim.
          .where('node_id', 'not in', (eb) =>
            eb
              .selectFrom('nodes')
              .select('id')
              .where((w) => w.or([w('lost_at', 'is not', null), w('stopped_at', 'is not', null)])),
          )
          .executeTakeFirstOrThrow();
        const local = [...this.streams.values()].filter((s) => s.accountId === stream.accountId && s.id !== stream.id).length;
        if (Number(others.n) + local >= this.claim.maxPerAccount) return 'already_live' as const;
        // The row may be on record already, unclaimed: replayed from the journal while this claim waited.
        await trx
          .insertInto('streams')
          .values(this.row(stream))
          .onConflict((oc) => oc.column('id').doUpdateSet({ claim_pending: 0 }))
          .execute();
        if (stream.keyId) await trx.updateTable('stream_keys').set({ last_used_at: stream.startedAt }).where('id', '=', stream.keyId).execute();
        return 'recorded' as const;
      });
    } catch (err) {
      this.recording.delete(stream.id);
      this.deferStart(stream, err);
      return;
    }
    this.recording.delete(stream.id);
    this.unrecorded.delete(stream.id);
    this.journaledStarts.delete(stream.id);
    if (outcome === 'already_live') {
      this.emit('claimLost', stream);
      await this.cut(stream.id, {
        reason: 'already_live',
        message: alreadyLiveMessage(this.claim.maxPerAccount),
        actor: 'system',
        detail: { claim: 'another node carries this account live' },
      }).catch((err) => this.onError(err, `ending stream ${stream.id} (already live elsewhere)`));
      return;
    }
    // The publisher may have gone while the row was being written.
    const gone = this.unended.get(stream.id);
    if (gone) await this.writeEnd(stream.id, gone.at, gone.reason, gone.detail);
  }

  /**
   * The start could not be recorded with its claim (`err`; null: the database was known to be away): the
   * row is kept in the journal, and an end that came meanwhile is written after it. Without a journal (or
   * when it fails too) the stream is kept in memory and recorded, with its end if it has one, on retry.
   */
  private deferStart(stream: LiveStream, err: unknown): void {
    const id = stream.id;
    if (!this.journaledStarts.has(id) && this.writer.keep) {
      try {
        this.writer.keep(writeUnit({ id: `start:${id}`, at: stream.startedAt, streamStarts: [this.startRow(stream)] }));
        this.journaledStarts.add(id);
      } catch (keepErr) {
        this.onError(keepErr, `journaling the start of stream ${id}`);
      }
    }
    const end = this.unended.get(id);
    if (this.journaledStarts.has(id)) {
      if (err !== null) this.onError(err, `recording start of stream ${id} (its row is kept in the local journal; claimed when the database answers)`);
      if (this.streams.has(id)) this.unrecorded.set(id, stream);
      else {
        this.unrecorded.delete(id);
        this.journaledStarts.delete(id);
      }
      if (end) void this.writeEnd(id, end.at, end.reason, end.detail);
      return;
    }
    if (this.streams.has(id) || end) this.unrecorded.set(id, stream);
    this.onError(err ?? new Error('the database is away'), `recording start of stream ${id}`);
  }

  private startRow(stream: LiveStream) {
    return {
      id: stream.id,
      account_id: stream.accountId,
      key_id: stream.keyId,
      protocol: stream.protocol,
      remote_addr: stream.remoteAddr,
      started_at: stream.startedAt,
      node_id: this.nodeId,
      server: stream.server?.name ?? null,
    };
  }

  private row(stream: LiveStream) {
    return { ...this.startRow(stream), ended_at: null, end_reason: null, end_detail: null };
  }

  /** After a database outage: claims (and records) the starts and records the ends that could not be written. */
  async retryUnrecorded(): Promise<void> {
    if (this.writer.deferring?.()) return;
    for (const [id, s] of [...this.unrecorded]) {
      this.unrecorded.delete(id);
      await this.record(s);
    }
    for (const [id, e] of [...this.unended]) if (!this.unrecorded.has(id)) await this.writeEnd(id, e.at, e.reason, e.detail);
  }

  /** Through the writer: kept in the journal (behind the row, if that is there too) while the database is away. */
  private async writeEnd(id: string, at: number, reason: EndReason, detail: string | null): Promise<void> {
    this.unended.delete(id);
    try {
      await this.writer.write(writeUnit({ id: `end:${id}`, at, streamEnds: [{ streamId: id, at, reason, detail }] }));
    } catch (err) {
      this.unended.set(id, { at, reason, detail });
      this.onError(err, `recording end of stream ${id}`);
    }
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
   * Ends a live feed from the server side: the publisher's connection is closed first (enforcement does
   * not wait on the database: its commit was most of a cross-node cut's tail), then the end and its audit
   * record are made durable (in the database, or in the local journal while it is away) before this
   * resolves, so a caller that awaits the cut (API, cut request, decision) answers only once it is on
   * record. A crash between the close and the record leaves the stream's row open; the node's restart
   * (closeOrphans) or a peer (node_lost) closes it, and the cut's cause (decision, suspension, request)
   * was committed before the cut.
   */
  async cut(id: string, request: CutRequest): Promise<LiveStream | undefined> {
    const stream = this.streams.get(id);
    if (!stream) return undefined;
    this.streams.delete(id);
    const now = Date.now();
    if (this.recording.has(id)) this.unended.set(id, { at: now, reason: request.reason, detail: request.message });
    // A row kept in the journal: the cut's unit goes through the same writer, after it.
    const journaledRow = this.journaledStarts.delete(id);
    if (journaledRow) this.unrecorded.delete(id);
    const unit = writeUnit({
      // One cut per stream (the registry forgets it at once): a stable id.
      id: `cut:${id}`,
      at: now,
      streamEnds: [{ streamId: id, at: now, reason: request.reason, detail: request.message }],
      audits: [
        {
          actor: request.actor,
          action: 'stream.cut',
          targetType: 'stream',
          targetId: id,
          reason: request.message,
          detail: {
            account: stream.handle,
            endReason: request.reason,
            protocol: stream.protocol,
            ...(stream.server ? { server: stream.server.name } : {}),
            ...request.detail,
          },
          at: now,
        },
      ],
    });
    // Enforcement first: the feed ends whatever the record's fate (database down, slow, refusing).
    stream.connection.terminate(request);
    this.emit('ended', stream, request.reason, request);
    try {
      // Journaled: the row's end is written by the replay, or with the row when its start is recorded late.
      if ((await this.writer.write(unit)) === 'journaled' && this.unrecorded.has(id) && !journaledRow)
        this.unended.set(id, { at: now, reason: request.reason, detail: request.message });
    } catch (err) {
      // Written when the database answers again (retryUnrecorded), so the row does not hold the account's claim.
      this.unended.set(id, { at: now, reason: request.reason, detail: request.message });
      throw err;
    }
    return stream;
  }

  /** The publisher went away by itself (or the connection broke). */
  ended(id: string, reason: EndReason, detail: string | null = null): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    const journaledRow = this.journaledStarts.delete(id);
    if (journaledRow) this.unrecorded.delete(id);
    if (this.recording.has(id) || this.unrecorded.has(id)) this.unended.set(id, { at: Date.now(), reason, detail });
    else void this.writeEnd(id, Date.now(), reason, detail);
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
