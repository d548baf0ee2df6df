import { performance } from 'node:perf_hooks';
import { amfCommand, rawRtmp, rtmpMessage, setChunkSize, type RawRtmp } from './rtmp-client.ts';

/**
 * A cheap in-process RTMP load generator for benchmarks and tests: replays the tags of an FLV file
 * (H.264/AAC as ffmpeg writes it) to a stream key over a real TCP connection, paced in real time by the
 * tags' timestamps like `ffmpeg -re -i file -c copy -f flv rtmp://…`, at a small fraction of the CPU and
 * memory of one ffmpeg process per stream. The file is parsed once and shared by every publisher; one
 * module-level timer paces all of them.
 *
 * On the wire: C0/C1/C2 (simple handshake), Set Chunk Size, connect / createStream / publish, then, once the
 * server answered NetStream.Publish.Start, `@setDataFrame onMetaData` (if the file has a script tag), the
 * AVC and AAC sequence headers and the media tags. Audio goes on chunk stream 4, video on 6, data on 5;
 * the first message of a chunk stream has a type-0 header, the following ones type 1 (timestamp delta),
 * with an extended timestamp (also in the type-3 continuation chunks, as ffmpeg and node-media-server do)
 * when the field is ≥ 0xFFFFFF.
 */

export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  type: 8 | 9 | 18;
  /** Milliseconds (the DTS for video). */
  timestamp: number;
  /** The tag's data: a view into the parsed file's buffer, not a copy. */
  body: Buffer;
}

/**
 * Parses an FLV file: the header, then every tag, checking the header, each tag's size against the
 * buffer and each PreviousTagSize. Throws on anything else (truncated file, encrypted tag, unknown type).
 */
export function readFlvTags(buf: Buffer): FlvTag[] {
  if (buf.length < 13 || buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file (no "FLV" signature)');
  if (buf[3] !== 1) throw new Error(`unsupported FLV version ${buf[3]}`);
  const dataOffset = buf.readUInt32BE(5);
  if (dataOffset < 9 || dataOffset + 4 > buf.length) throw new Error(`bad FLV header size ${dataOffset}`);
  if (buf.readUInt32BE(dataOffset) !== 0) throw new Error('FLV PreviousTagSize0 is not 0');
  const tags: FlvTag[] = [];
  let pos = dataOffset + 4;
  while (pos < buf.length) {
    if (pos + 11 > buf.length) throw new Error(`FLV truncated: tag header at offset ${pos} has ${buf.length - pos} of 11 bytes`);
    const flags = buf[pos]!;
    if (flags & 0x20) throw new Error(`FLV tag at offset ${pos} is encrypted (filter bit set)`);
    const type = flags & 0x1f;
    if (type !== 8 && type !== 9 && type !== 18) throw new Error(`FLV tag at offset ${pos} has unknown type ${type}`);
    const size = buf.readUIntBE(pos + 1, 3);
    const timestamp = buf.readUIntBE(pos + 4, 3) + buf[pos + 7]! * 0x1000000;
    const end = pos + 11 + size;
    if (end + 4 > buf.length)
      throw new Error(`FLV truncated: tag at offset ${pos} declares ${size} bytes, the file ends ${buf.length - pos - 11} bytes after its header`);
    const prev = buf.readUInt32BE(end);
    if (prev !== size + 11) throw new Error(`FLV tag at offset ${pos}: PreviousTagSize ${prev} does not match the tag size ${size + 11}`);
    tags.push({ type, timestamp, body: buf.subarray(pos + 11, end) });
    pos = end + 4;
  }
  return tags;
}

export interface ReplayOptions {
  port: number;
  host?: string;
  /** RTMP application (default 'live'). */
  app?: string;
  streamKey: string;
  tags: FlvTag[];
  /**
   * At the end of the file, go on from its start with timestamps shifted by the file's duration so they
   * keep increasing (the sequence headers are not sent again). Without `loop` the publisher closes the
   * connection after the last tag.
   */
  loop?: boolean;
  /**
   * Media position (ms from the file's first media tag; modulo the file's duration with `loop`) to start
   * from, as if the file had been playing since then: audio is sent from that position, video from the
   * first keyframe at or after it, and the wire timestamps start at 0 at that position. Different offsets
   * put different publishers' keyframes at different wall times. Default 0.
   */
  startOffsetMs?: number;
  /** Outgoing RTMP chunk size, announced first (default 4096). */
  chunkSize?: number;
  /** How long to wait for NetStream.Publish.Start (default 10 s). */
  publishTimeoutMs?: number;
  /**
   * Called after each tag was handed to the socket (metadata, sequence headers and media alike): `tag`
   * carries the timestamp as sent on the wire, `wallMs` is epoch ms with sub-millisecond precision
   * (performance.timeOrigin + performance.now(), comparable with Date.now() in other processes).
   */
  onTagSent?: (tag: FlvTag, wallMs: number) => void;
}

export interface ReplayPublisher {
  readonly streamKeyUsed: string;
  /** RTMP bytes handed to the socket after the handshake (commands, headers, media). */
  readonly bytesSent: number;
  /** Tags sent (metadata and sequence headers included). */
  readonly tagsSent: number;
  /** Times the replay wrapped around to the file's start. */
  readonly loops: number;
  /** Times `write` returned false, and the total ms the publisher waited for 'drain' meanwhile. */
  readonly stalls: number;
  readonly stalledMs: number;
  /**
   * The largest delay (ms) between a tag's due time and its write, stalls included: a loaded generator
   * (or gateway, through backpressure) shows here. The timer's period alone gives up to one tick (10 ms by default).
   */
  readonly maxLateMs: number;
  /** Resolves on NetStream.Publish.Start; rejects if the server closes the connection first (refusal), on timeout, or on stop(). */
  readonly published: Promise<void>;
  /**
   * Resolves when the connection is gone: `by: 'server'` when the server ended it (a cut), 'client' after
   * stop(), a publish timeout or the end of a non-looping file. `at`: epoch ms (as `wallMs` in onTagSent)
   * of the first of the socket's 'end', 'error' or 'close'.
   */
  readonly closed: Promise<{ by: 'server' | 'client'; at: number }>;
  /** Closes the connection now (socket destroyed). */
  stop(): void;
}

// ---- the file, prepared once per tags array ------------------------------------------------------

interface Plan {
  meta: FlvTag | null;
  /** `@setDataFrame` + the script tag's body (onMetaData + its array), as RTMP publishers send it. */
  metaPayload: Buffer | null;
  headers: FlvTag[];
  /** Audio and video tags to replay, in file order (sequence headers and AVC end-of-sequence left out). */
  media: FlvTag[];
  /** Per media tag: ms after the file's first media tag. */
  rel: Float64Array;
  /** Per media tag: 1 for a video keyframe. */
  key: Uint8Array;
  hasKeyframe: boolean;
  /** The file's duration as looped: last timestamp + one frame of the longest-running track. */
  periodMs: number;
}

const plans = new WeakMap<FlvTag[], Plan>();

const isVideoHeader = (b: Buffer): boolean => {
  if (b.length < 2) return false;
  if (b[0]! & 0x80) return (b[0]! & 0x0f) === 0; // enhanced RTMP: PacketTypeSequenceStart
  const codec = b[0]! & 0x0f;
  return (codec === 7 || codec === 12) && b[1] === 0;
};
const isAvcEndOfSequence = (b: Buffer): boolean => b.length >= 2 && !(b[0]! & 0x80) && (b[0]! & 0x0f) === 7 && b[1] === 2;
const isVideoKey = (b: Buffer): boolean => b.length >= 1 && ((b[0]! >> 4) & 0x07) === 1;
const isAudioHeader = (b: Buffer): boolean => {
  if (b.length < 2) return false;
  const format = b[0]! >> 4;
  if (format === 10) return b[1] === 0; // AAC sequence header
  if (format === 9) return (b[0]! & 0x0f) === 0; // enhanced RTMP audio: SequenceStart
  return false;
};

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function planFor(tags: FlvTag[]): Plan {
  const cached = plans.get(tags);
  if (cached) return cached;
  let meta: FlvTag | null = null;
  let videoHeader: FlvTag | null = null;
  let audioHeader: FlvTag | null = null;
  const media: FlvTag[] = [];
  for (const t of tags) {
    if (t.type === 18) {
      meta ??= t;
    } else if (t.type === 9 && !videoHeader && isVideoHeader(t.body)) {
      videoHeader = t;
    } else if (t.type === 8 && !audioHeader && isAudioHeader(t.body)) {
      audioHeader = t;
    } else if (!(t.type === 9 && isAvcEndOfSequence(t.body))) {
      media.push(t);
    }
  }
  if (media.length === 0) throw new Error('the FLV has no audio or video tags to replay');
  const first = media[0]!.timestamp;
  const rel = new Float64Array(media.length);
  const key = new Uint8Array(media.length);
  let hasKeyframe = false;
  const last: Record<number, number> = {};
  const deltas: Record<number, number[]> = { 8: [], 9: [] };
  media.forEach((t, i) => {
    rel[i] = Math.max(0, t.timestamp - first);
    if (t.type === 9 && isVideoKey(t.body)) {
      key[i] = 1;
      hasKeyframe = true;
    }
    const prev = last[t.type];
    if (prev !== undefined && t.timestamp > prev) deltas[t.type]!.push(t.timestamp - prev);
    last[t.type] = t.timestamp;
  });
  let end = 0;
  for (const type of [8, 9]) {
    if (last[type] !== undefined) end = Math.max(end, last[type]! - first + median(deltas[type]!));
  }
  const plan: Plan = {
    meta,
    metaPayload: meta ? Buffer.concat([amfCommand('@setDataFrame'), meta.body]) : null,
    headers: [videoHeader, audioHeader].filter((t): t is FlvTag => t !== null),
    media,
    rel,
    key,
    hasKeyframe,
    periodMs: Math.max(1, end),
  };
  plans.set(tags, plan);
  return plan;
}

// ---- RTMP chunking ------------------------------------------------------------------------------

const CSID_AUDIO = 4;
const CSID_DATA = 5;
const CSID_VIDEO = 6;
const MEDIA_STREAM_ID = 1;
const csidOf = (type: number): number => (type === 8 ? CSID_AUDIO : type === 9 ? CSID_VIDEO : CSID_DATA);

/** Bytes of one message as a type-0 (`fmt0`) or type-1 chunk followed by type-3 continuations. */
function messageBytes(fmt0: boolean, tsField: number, length: number, chunkSize: number): number {
  const ext = tsField >= 0xffffff ? 4 : 0;
  const continuations = length > 0 ? Math.ceil(length / chunkSize) - 1 : 0;
  return 1 + (fmt0 ? 11 : 7) + ext + length + continuations * (1 + ext);
}

/** Writes one message at `off` (csid < 64); returns the offset after it. */
function writeMessage(out: Buffer, off: number, csid: number, fmt0: boolean, tsField: number, type: number, payload: Buffer, chunkSize: number): number {
  const ext = tsField >= 0xffffff;
  const ts32 = tsField % 0x100000000;
  out[off++] = (fmt0 ? 0x00 : 0x40) | csid;
  out.writeUIntBE(ext ? 0xffffff : ts32, off, 3);
  out.writeUIntBE(payload.length, off + 3, 3);
  out[off + 6] = type;
  off += 7;
  if (fmt0) {
    out.writeUInt32LE(MEDIA_STREAM_ID, off);
    off += 4;
  }
  if (ext) off = out.writeUInt32BE(ts32, off);
  for (let p = 0; p < payload.length; p += chunkSize) {
    if (p > 0) {
      out[off++] = 0xc0 | csid;
      if (ext) off = out.writeUInt32BE(ts32, off);
    }
    off += payload.copy(out, off, p, Math.min(p + chunkSize, payload.length));
  }
  return off;
}

/**
 * Encodes RTMP messages on the media stream (id 1), keeping per-chunk-stream state: type 0 for the first
 * message of a chunk stream (or a timestamp going backwards), type 1 with the delta otherwise.
 */
export class RtmpMessageWriter {
  /** Last timestamp sent per chunk stream id (-1: none yet), and a scratch copy for sizing. */
  private readonly lastTs = new Float64Array(64).fill(-1);
  private readonly scratch = new Float64Array(64);

  constructor(readonly chunkSize = 4096) {}

  /** Encodes `messages` (timestamps in ms, non-negative) into one buffer. */
  encode(messages: ReadonlyArray<{ type: number; timestamp: number; payload: Buffer }>): Buffer {
    const last = this.scratch;
    last.set(this.lastTs);
    let size = 0;
    for (const m of messages) {
      const csid = csidOf(m.type);
      const prev = last[csid]!;
      const fmt0 = prev < 0 || m.timestamp < prev;
      size += messageBytes(fmt0, fmt0 ? m.timestamp : m.timestamp - prev, m.payload.length, this.chunkSize);
      last[csid] = m.timestamp;
    }
    const out = Buffer.allocUnsafe(size);
    let off = 0;
    for (const m of messages) {
      const csid = csidOf(m.type);
      const prev = this.lastTs[csid]!;
      const fmt0 = prev < 0 || m.timestamp < prev;
      off = writeMessage(out, off, csid, fmt0, fmt0 ? m.timestamp : m.timestamp - prev, m.type, m.payload, this.chunkSize);
      this.lastTs[csid] = m.timestamp;
    }
    return out;
  }
}

// ---- one shared pacing timer --------------------------------------------------------------------

/**
 * Pacing granularity: every tick writes all due tags of every publisher (one write per publisher per
 * tick). 10 ms keeps tags within ~10 ms of their due time like `ffmpeg -re`; 20 ms halves the writes
 * (measured: ~20 % less generator CPU at 50 streams). See setReplayTick.
 */
export const DEFAULT_TICK_MS = 10;
let tickMs = DEFAULT_TICK_MS;

const active = new Set<Replay>();
let timer: NodeJS.Timeout | null = null;

/** Changes the shared timer's period (ms, 1–100) for all publishers of this process, running or not. */
export function setReplayTick(ms: number): void {
  if (!(ms >= 1 && ms <= 100)) throw new Error(`bad replay tick ${ms} ms`);
  tickMs = ms;
  if (timer) {
    clearInterval(timer);
    timer = null;
    startTimer();
  }
}

function startTimer(): void {
  timer = setInterval(tick, tickMs);
  // The publishers' sockets keep the process alive; the timer alone must not.
  timer.unref();
}

function tick(): void {
  const now = performance.now();
  for (const r of active) r.pump(now);
}

function schedule(r: Replay): void {
  active.add(r);
  if (!timer) startTimer();
}

function unschedule(r: Replay): void {
  active.delete(r);
  if (active.size === 0 && timer) {
    clearInterval(timer);
    timer = null;
  }
}

const epochMs = (perfNow: number): number => performance.timeOrigin + perfNow;

class Replay implements ReplayPublisher {
  bytesSent = 0;
  tagsSent = 0;
  loops = 0;
  stalls = 0;
  stalledMs = 0;
  maxLateMs = 0;
  readonly published: Promise<void>;
  readonly closed: Promise<{ by: 'server' | 'client'; at: number }>;

  private readonly plan: Plan;
  private readonly writer: RtmpMessageWriter;
  private readonly loop: boolean;
  private readonly startPos: number;
  private t0 = 0;
  /** Next media tag (index into plan.media) and the loop it belongs to. */
  private i = 0;
  private lap = 0;
  private needKey: boolean;
  private paused = false;
  private pausedAt = 0;
  private finished = false;
  private byClient = false;
  private closedAt: number | null = null;
  private rejectPublished: ((err: Error) => void) | null = null;
  private readonly batch: Array<{ type: number; timestamp: number; payload: Buffer; tag: FlvTag }> = [];

  constructor(
    private readonly client: RawRtmp,
    private readonly opts: ReplayOptions,
  ) {
    this.plan = planFor(opts.tags);
    this.writer = new RtmpMessageWriter(opts.chunkSize ?? 4096);
    this.loop = opts.loop ?? false;
    const offset = Math.max(0, opts.startOffsetMs ?? 0);
    this.startPos = this.loop ? offset % this.plan.periodMs : offset;
    this.needKey = this.plan.hasKeyframe;
    while (this.i < this.plan.media.length && this.plan.rel[this.i]! < this.startPos) this.i++;

    const socket = client.socket;
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.closedAt ??= epochMs(performance.now());
        unschedule(this);
        this.finished = true;
        this.rejectPublished?.(new Error('the server closed the connection before NetStream.Publish.Start (publish refused)'));
        resolve({ by: this.byClient ? 'client' : 'server', at: this.closedAt });
      };
      const first = () => (this.closedAt ??= epochMs(performance.now()));
      socket.once('end', first);
      socket.once('error', first);
      if (client.isClosed()) done();
      else socket.once('close', done);
    });
    this.published = new Promise<void>((resolve, reject) => {
      this.rejectPublished = reject;
      void client.waitFor('NetStream.Publish.Start', opts.publishTimeoutMs ?? 10_000).then((ok) => {
        if (this.rejectPublished === null) return;
        if (ok) {
          this.rejectPublished = null;
          resolve();
          this.start();
        } else if (!client.isClosed()) {
          this.rejectPublished = null;
          reject(new Error(`no NetStream.Publish.Start within ${opts.publishTimeoutMs ?? 10_000} ms`));
          this.stop();
        }
        // else: 'close' rejects (above)
      });
    });
    // A refusal is an expected outcome: never an unhandled rejection if the caller does not await it.
    this.published.catch(() => {});
  }

  get streamKeyUsed(): string {
    return this.opts.streamKey;
  }

  /** Writes `data`; on backpressure pauses this publisher until 'drain'. */
  write(data: Buffer): void {
    const socket = this.client.socket;
    if (socket.destroyed) return;
    this.bytesSent += data.length;
    if (!socket.write(data) && !this.paused) {
      this.paused = true;
      this.pausedAt = performance.now();
      this.stalls++;
      socket.once('drain', () => {
        this.paused = false;
        this.stalledMs += performance.now() - this.pausedAt;
      });
    }
  }

  private start(): void {
    if (this.finished) return;
    this.t0 = performance.now();
    const first: Array<{ type: number; timestamp: number; payload: Buffer; tag: FlvTag }> = [];
    if (this.plan.meta && this.plan.metaPayload) first.push({ type: 18, timestamp: 0, payload: this.plan.metaPayload, tag: this.plan.meta });
    for (const h of this.plan.headers) first.push({ type: h.type, timestamp: 0, payload: h.body, tag: h });
    if (first.length > 0) {
      this.write(this.writer.encode(first));
      this.reportSent(first, performance.now());
    }
    schedule(this);
    this.pump(this.t0);
  }

  private reportSent(sent: Array<{ timestamp: number; tag: FlvTag }>, now: number): void {
    this.tagsSent += sent.length;
    const cb = this.opts.onTagSent;
    if (!cb) return;
    const wall = epochMs(now);
    for (const s of sent) cb({ type: s.tag.type, timestamp: s.timestamp, body: s.tag.body }, wall);
  }

  /** Positions `i` on the next tag to send (wrapping with `loop`, skipping video until a keyframe); false at the end. */
  private seek(): boolean {
    const { media, key } = this.plan;
    for (;;) {
      if (this.i >= media.length) {
        if (!this.loop) return false;
        this.i = 0;
        this.lap++;
        this.loops++;
      }
      if (this.needKey && media[this.i]!.type === 9) {
        if (key[this.i]) {
          this.needKey = false;
          return true;
        }
        this.i++;
        continue;
      }
      return true;
    }
  }

  /** Sends every tag due at `now` (performance.now()) in one write. */
  pump(now: number): void {
    if (this.paused || this.finished) return;
    const elapsed = now - this.t0;
    const { media, rel, periodMs } = this.plan;
    const batch = this.batch;
    batch.length = 0;
    let more = true;
    while ((more = this.seek())) {
      const wire = rel[this.i]! - this.startPos + this.lap * periodMs;
      if (wire > elapsed) break;
      if (batch.length === 0) this.maxLateMs = Math.max(this.maxLateMs, elapsed - wire);
      const tag = media[this.i]!;
      batch.push({ type: tag.type, timestamp: Math.round(wire), payload: tag.body, tag });
      this.i++;
    }
    if (batch.length > 0) {
      this.write(this.writer.encode(batch));
      this.reportSent(batch, performance.now());
      batch.length = 0;
    }
    if (!more) {
      // End of a non-looping file: close like ffmpeg does (pending writes are flushed first).
      this.finished = true;
      this.byClient = true;
      unschedule(this);
      this.client.socket.end();
    }
  }

  stop(): void {
    this.finished = true;
    unschedule(this);
    if (this.rejectPublished) {
      const reject = this.rejectPublished;
      this.rejectPublished = null;
      reject(new Error('stopped before NetStream.Publish.Start'));
    }
    if (this.closedAt === null) this.byClient = true;
    this.client.socket.destroy();
  }
}

/**
 * Connects (TCP + RTMP handshake; rejects if that fails), asks to publish `streamKey` and returns at once:
 * `published` settles with the server's answer, after which the file is replayed (see ReplayOptions).
 */
export async function replayPublish(opts: ReplayOptions): Promise<ReplayPublisher> {
  planFor(opts.tags); // throws before connecting if there is nothing to replay
  const host = opts.host ?? '127.0.0.1';
  const app = opts.app ?? 'live';
  const chunkSize = opts.chunkSize ?? 4096;
  if (!Number.isInteger(chunkSize) || chunkSize < 128 || chunkSize > 0xffffff) throw new Error(`bad chunk size ${chunkSize}`);
  const client = await rawRtmp(opts.port, { host });
  const tcUrl = `rtmp://${host.includes(':') ? `[${host}]` : host}:${opts.port}/${app}`;
  const command = (...values: Parameters<typeof amfCommand>) => rtmpMessage({ csid: 3, type: 20, streamId: 0, chunkSize, payload: amfCommand(...values) });
  const replay = new Replay(client, opts);
  // Set Chunk Size first, so every later message (the commands too) is chunked at `chunkSize`.
  replay.write(
    Buffer.concat([
      setChunkSize(chunkSize),
      command('connect', 1, { app, type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; modgate flv-replay)', tcUrl }),
      command('createStream', 2, null),
      rtmpMessage({ csid: 8, type: 20, streamId: MEDIA_STREAM_ID, chunkSize, payload: amfCommand('publish', 3, null, opts.streamKey, 'live') }),
    ]),
  );
  return replay;
}
