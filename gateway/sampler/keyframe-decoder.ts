import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { FfmpegInfo } from '../media/ffmpeg-path.ts';
import {
  buildAvcC,
  H264Error,
  joinLengthPrefixed,
  NAL,
  nalType,
  parseAvcC,
  parseSps,
  spsWithoutReorder,
  splitLengthPrefixed,
  type AvcConfig,
} from '../media/h264.ts';
import { FrameReader } from './frame-reader.ts';

/**
 * A small pool of long-running ffmpeg processes that decode single H.264 keyframes for many streams.
 *
 * Why not one ffmpeg per stream reading keyframes with `-skip_frame nokey` (the Sampler's keyframe
 * mode): that process still receives and demuxes the whole stream over RTMP (the gateway relays it a
 * second time), costs ~64 MiB RSS, and — the decisive part — holds every keyframe back until the next
 * one or two arrive (the decoder's B-frame reorder delay: 2–6 s). Here the gateway hands over only the
 * keyframes it already has in memory (gateway/live/video-tap.ts), each with its SPS rewritten to declare
 * no reordering (gateway/media/h264.ts), so a picture comes out ~5–40 ms after its keyframe arrived.
 *
 * Wire format to each ffmpeg: FLV on stdin. The tag timestamp of each keyframe is a per-process sequence
 * number, read back from `showinfo` with the decoded picture, so a picture is matched to its stream by
 * that number — never by counting — and a keyframe the decoder rejects (corrupt data) is simply missing
 * from the output instead of shifting every later picture onto the wrong stream. Every keyframe carries
 * its stream's SPS/PPS in-band (4-byte length prefixes throughout), so streams with different parameters
 * share one decoder; ffmpeg re-initializes the decoder and the scaler when the picture size changes.
 *
 * Release: ffmpeg 5.x's command-line tool writes a decoded picture out only when the next one has been
 * decoded (4.x does not), so the last keyframe written would wait for the next keyframe of any stream:
 * nothing at 100 streams (dozens of keyframes a second), a whole GOP for a lone stream. When a keyframe
 * is still undelivered `flushAfterMs` after the last write, the same keyframe is written once more as a
 * flush picture (decoded and discarded): one extra decode on an idle decoder, none on a busy one.
 *
 * Isolation: a process that exits or stops answering is restarted; the keyframes it had in flight are
 * lost (each stream misses one keyframe) and their streams are remembered. A stream present at
 * `quarantineAfter` crashes is refused from then on (`quarantined`), and the caller watches it with a
 * process of its own, so one hostile stream cannot keep taking the shared decoder down.
 */

export interface KeyframeDecoderOptions {
  ffmpeg: FfmpegInfo;
  width: number;
  height: number;
  /** ffmpeg processes; streams are spread over them by a hash of their id. Default 2. */
  processes?: number;
  /** Keyframes in flight per process before new ones are refused (`busy`). Default 16. */
  maxPendingPerProcess?: number;
  /** A keyframe not decoded after this long counts as lost, and its process as hung. Default 5000. */
  decodeTimeoutMs?: number;
  /** Crashes a stream may be present at before it is quarantined. Default 2. */
  quarantineAfter?: number;
  /** An undelivered keyframe this long after the last write gets a flush picture behind it. Default 25. */
  flushAfterMs?: number;
  log?: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
}

/** A stream's decoder configuration, prepared once per sequence header. */
export interface PreparedConfig {
  /** Rewritten SPS (no reorder delay) and the original PPS, as NAL units. */
  parameterSets: Uint8Array[];
  lengthSize: 1 | 2 | 4;
  /** avcC record with the rewritten SPS and 4-byte lengths: the extradata a new process starts with. */
  avcC: Buffer;
  width: number;
  height: number;
}

export type DecodeResult =
  { ok: true; rgb: Buffer; decodeMs: number } | { ok: false; reason: 'busy' | 'dropped' | 'crashed' | 'timeout' | 'quarantined' | 'stopped' };

export interface KeyframeDecoderStats {
  processes: number;
  running: number;
  decoded: number;
  busy: number;
  dropped: number;
  lost: number;
  restarts: number;
  /** Flush pictures written (see the module comment). */
  flushes: number;
  quarantined: number;
  inFlight: number;
}

/** Prepares an AVC sequence header (the FLV video tag body with packet type 0). Throws H264Error. */
export function prepareAvcConfig(body: Uint8Array): PreparedConfig {
  if (body.length < 5) throw new H264Error('video sequence header too short');
  if ((body[0]! & 0x80) !== 0)
    throw new H264Error(
      `unsupported video codec ${Buffer.from(body.subarray(1, 5))
        .toString('latin1')
        .replace(/[^\x20-\x7e]/g, '?')} (enhanced RTMP)`,
    );
  if ((body[0]! & 0x0f) !== 7) throw new H264Error(`unsupported video codec ${body[0]! & 0x0f}`);
  if (body[1] !== 0) throw new H264Error('not an AVC sequence header');
  const cfg: AvcConfig = parseAvcC(body.subarray(5));
  const sps = cfg.sps.map((s) => spsWithoutReorder(s));
  const first = parseSps(sps[0]!);
  return {
    // Copies: the tag body may be a buffer the RTMP parser reuses.
    parameterSets: [...sps, ...cfg.pps.map((x) => Uint8Array.from(x))],
    lengthSize: cfg.lengthSize,
    avcC: buildAvcC({ ...cfg, sps, lengthSize: 4 }),
    width: first.width,
    height: first.height,
  };
}

/**
 * The AVCC payload to decode for one keyframe (FLV video tag body with packet type 1), or null when it
 * holds no IDR picture (a recovery-point I-frame cannot be decoded on its own). Throws H264Error.
 */
export function keyframePayload(config: PreparedConfig, body: Uint8Array): Buffer | null {
  if (body.length < 5 || body[1] !== 1) throw new H264Error('not an AVC NALU packet');
  const nals = splitLengthPrefixed(body.subarray(5), config.lengthSize);
  const out: Uint8Array[] = [...config.parameterSets];
  let idr = false;
  for (const nal of nals) {
    const t = nalType(nal);
    if (t === NAL.IDR) idr = true;
    if (t === NAL.SPS) out.push(spsWithoutReorder(nal));
    else if (t === NAL.PPS || t === NAL.IDR || t === NAL.SLICE) out.push(nal);
    // SEI, AUD, filler: nothing the picture needs.
  }
  return idr ? joinLengthPrefixed(out) : null;
}

const FLV_HEADER = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]);

function flvTag(timestamp: number, body: Buffer): Buffer {
  const t = Buffer.allocUnsafe(11 + body.length + 4);
  t[0] = 9;
  t.writeUIntBE(body.length, 1, 3);
  t.writeUIntBE(timestamp & 0xffffff, 4, 3);
  t[7] = (timestamp >>> 24) & 0x7f;
  t.writeUIntBE(0, 8, 3);
  body.copy(t, 11);
  t.writeUInt32BE(11 + body.length, 11 + body.length);
  return t;
}

function videoTagBody(packetType: 0 | 1, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x17, packetType, 0, 0, 0]), payload]);
}

interface Pending {
  /** null: a flush picture (see the module comment), decoded only to push the one before it out. */
  streamId: string | null;
  /** The keyframe written (real keyframes only): one that decodes is the next flush picture. */
  payload: Buffer | null;
  sentAt: number;
  resolve: (r: DecodeResult) => void;
}

/**
 * A process not up yet (no output line) is starting, not hung: spawn, fluent-ffmpeg's capability probe and
 * ffmpeg's own start take seconds of wall time on a starved host (see the Sampler's first-frame grace).
 */
const START_TIMEOUT_MS = 60_000;

/** Sequence numbers are FLV millisecond timestamps: restart the process long before they wrap. */
const MAX_SEQ = 0x7fff0000;

class DecoderProcess {
  private proc: ChildProcess | null = null;
  private stdin: PassThrough | null = null;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly ptsQueue: number[] = [];
  private readonly frameQueue: Buffer[] = [];
  private alive = false;
  private generation = 0;
  private nextStartAt = 0;
  private failures = 0;
  private lastStderr: string[] = [];
  private lastPayload: Buffer | null = null;
  /** The latest keyframe this process turned into a picture: a flush must be one that decodes. */
  private lastGoodPayload: Buffer | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  /** The sequence number of the last flush picture written by this process, if any. */
  private flushSeq: number | null = null;
  private startedAt = 0;
  /** When the current process printed its first line (it has probed its input): decode timeouts run from here. */
  private upAt: number | null = null;
  flushes = 0;

  constructor(
    readonly index: number,
    private readonly pool: KeyframeDecoderPool,
  ) {}

  get running(): boolean {
    return this.alive;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  decode(streamId: string, config: PreparedConfig, payload: Buffer): Promise<DecodeResult> {
    const o = this.pool.options;
    if (this.pending.size >= o.maxPendingPerProcess) return Promise.resolve({ ok: false, reason: 'busy' });
    if (!this.alive) {
      // A process that just crashed is restarted after a short, growing pause (a crash loop must not
      // cost a spawn per keyframe).
      if (Date.now() < this.nextStartAt) return Promise.resolve({ ok: false, reason: 'dropped' });
      this.start(config);
    }
    if (this.seq >= MAX_SEQ) {
      // The keyframes still in flight die with the process: answer them now (the new process's numbers
      // start again at 1 and would never match theirs, leaving them to a false timeout and a restart).
      for (const p of this.pending.values()) {
        if (p.streamId === null) continue;
        this.pool.counters.dropped++;
        p.resolve({ ok: false, reason: 'dropped' });
      }
      this.pending.clear();
      this.kill('sequence wrap');
      this.start(config);
    }
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(seq, { streamId, payload, sentAt: Date.now(), resolve });
      this.stdin!.write(flvTag(seq, videoTagBody(1, payload)));
      this.lastPayload = payload;
      this.armFlush();
    });
  }

  /**
   * Writes a flush picture once the decoder is idle with a keyframe still undelivered, and again while one
   * stays undelivered after the last flush came through: after a picture-size change ffmpeg 5.1 can hold
   * two pictures, not one (seen at load 5-10: keyframe 9 waited behind flush 10 until the decode timeout).
   * The delay doubles up to 1 s, so a decoder still starting up is polled, not flooded.
   */
  private armFlush(delayMs = this.pool.options.flushAfterMs): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      // A keyframe the decoder rejects releases nothing: flushing with it (when a corrupt keyframe was
      // the last one written) would leave the picture before it held until the timeout.
      const flush = this.lastGoodPayload ?? this.lastPayload;
      if (!this.alive || !flush || !this.stdin) return;
      let waiting = false;
      for (const p of this.pending.values()) if (p.streamId !== null) waiting = true;
      if (!waiting) return;
      const next = Math.min(delayMs * 2, 1_000);
      // The last flush has not come through the decoder yet (it is starting, or loaded): wait for it.
      if (this.flushSeq !== null && this.pending.has(this.flushSeq) && !this.ptsQueue.includes(this.flushSeq)) return this.armFlush(next);
      const seq = ++this.seq;
      this.flushes++;
      this.flushSeq = seq;
      this.pending.set(seq, { streamId: null, payload: null, sentAt: Date.now(), resolve: () => {} });
      this.stdin.write(flvTag(seq, videoTagBody(1, flush)));
      this.armFlush(next);
    }, delayMs);
    this.flushTimer.unref();
  }

  /** Times out a hung process. */
  check(now: number): void {
    let oldest: Pending | undefined;
    for (const p of this.pending.values()) {
      if (p.streamId === null) continue;
      oldest = p;
      break;
    }
    if (!oldest) return;
    const hung =
      this.upAt === null
        ? now - this.startedAt > Math.max(START_TIMEOUT_MS, this.pool.options.decodeTimeoutMs)
        : now - Math.max(oldest.sentAt, this.upAt) > this.pool.options.decodeTimeoutMs;
    if (hung) {
      this.pool.log('warn', 'keyframe decoder not answering; restarting it', { process: this.index, inFlight: this.pending.size });
      this.fail('timeout');
    }
  }

  stop(): void {
    this.kill('stopped');
    for (const p of this.pending.values()) p.resolve({ ok: false, reason: 'stopped' });
    this.pending.clear();
  }

  private start(config: PreparedConfig): void {
    const o = this.pool.options;
    const gen = ++this.generation;
    this.startedAt = Date.now();
    this.upAt = null;
    this.seq = 0;
    this.flushSeq = null;
    this.ptsQueue.length = 0;
    this.frameQueue.length = 0;
    const stdin = new PassThrough();
    const reader = new FrameReader(o.width * o.height * 3, (rgb) => {
      if (gen !== this.generation) return;
      this.frameQueue.push(rgb);
      this.match();
    });
    const features = o.ffmpeg.features;
    const filter = [
      `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease:flags=area`,
      'format=rgb24',
      `pad=${o.width}:${o.height}:(ow-iw)/2:(oh-ih)/2:black`,
      'setsar=1',
      features.showinfoChecksum ? 'showinfo=checksum=0' : 'showinfo',
    ].join(',');
    // fluent-ffmpeg keeps this many output lines (0: all of them, for the life of the process: two showinfo
    // lines per picture, ~1-2 GB a day at 100 streams). Lines are handled as they come; keep a few for errors.
    const cmd = ffmpeg({ stdoutLines: 16 })
      .setFfmpegPath(o.ffmpeg.path)
      .input(stdin)
      .inputOptions([
        '-hide_banner',
        '-nostats',
        '-nostdin',
        '-loglevel',
        'info',
        // The FLV header and the sequence header are all there is to probe.
        '-probesize',
        '32',
        '-analyzeduration',
        '0',
        '-threads',
        '1',
        // Deblocking skipped: IDR pictures are decoded alone, so nothing drifts; ~25 % less decode work.
        '-skip_loop_filter',
        'all',
        '-copyts',
        '-f',
        'flv',
      ])
      .output(reader)
      .outputOptions([
        '-an',
        '-sn',
        '-dn',
        '-vf',
        filter,
        ...(features.fpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough']),
        '-pix_fmt',
        'rgb24',
        '-flush_packets',
        '1',
        '-f',
        'rawvideo',
      ]);
    cmd.on('start', () => {
      this.proc = (cmd as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc ?? null;
      this.proc?.stdin?.on('error', () => {});
      if (gen !== this.generation) this.proc?.kill('SIGKILL');
    });
    cmd.on('stderr', (line: string) => {
      if (gen !== this.generation) return;
      this.upAt ??= Date.now();
      const m = /\bn:\s*\d+\s+pts:\s*(\d+)/.exec(line);
      if (m) {
        const pts = Number(m[1]);
        this.ptsQueue.push(pts);
        this.dropSkipped(pts);
        this.match();
      } else {
        this.lastStderr.push(line);
        if (this.lastStderr.length > 8) this.lastStderr.shift();
      }
    });
    const exited = (err: string | null) => {
      if (gen !== this.generation) return;
      this.pool.log('warn', 'keyframe decoder exited', { process: this.index, error: err, stderr: this.lastStderr.slice(-4) });
      this.fail('crashed');
    };
    cmd.on('error', (err: Error) => exited(err.message));
    cmd.on('end', () => exited(null));
    this.stdin = stdin;
    this.alive = true;
    stdin.write(FLV_HEADER);
    stdin.write(flvTag(0, videoTagBody(0, config.avcC)));
    cmd.run();
  }

  /**
   * showinfo reports a picture at once, but its bytes reach stdout only with the next picture (5.x): a
   * keyframe written before a reported picture and not reported itself was rejected, and is resolved now
   * rather than when the held bytes come out (on an idle decoder: never, until the timeout).
   */
  private dropSkipped(pts: number): void {
    for (const [s, p] of this.pending) {
      if (s >= pts) break;
      if (this.ptsQueue.includes(s)) continue;
      this.pending.delete(s);
      if (p.streamId === null) continue;
      this.pool.counters.dropped++;
      p.resolve({ ok: false, reason: 'dropped' });
    }
  }

  /** Pairs decoded pictures with their showinfo pts, in output order. */
  private match(): void {
    while (this.ptsQueue.length > 0 && this.frameQueue.length > 0) {
      const seq = this.ptsQueue.shift()!;
      const rgb = this.frameQueue.shift()!;
      for (const [s, p] of this.pending) {
        if (s > seq) break;
        this.pending.delete(s);
        if (p.streamId === null) continue;
        if (s === seq) {
          this.failures = 0;
          this.lastGoodPayload = p.payload;
          this.pool.counters.decoded++;
          const decodeMs = Date.now() - p.sentAt;
          this.pool.recordLatency(decodeMs);
          p.resolve({ ok: true, rgb, decodeMs });
        } else {
          // The decoder skipped this keyframe (rejected data): nothing else is affected.
          this.pool.counters.dropped++;
          p.resolve({ ok: false, reason: 'dropped' });
        }
      }
    }
  }

  private fail(reason: 'crashed' | 'timeout'): void {
    const streams = new Set<string>();
    for (const p of this.pending.values()) {
      if (p.streamId === null) continue;
      streams.add(p.streamId);
      this.pool.counters.lost++;
      p.resolve({ ok: false, reason });
    }
    this.pending.clear();
    this.kill(reason);
    this.failures++;
    this.pool.counters.restarts++;
    this.nextStartAt = Date.now() + Math.min(5_000, 100 * 2 ** Math.min(6, this.failures - 1));
    this.pool.blame(streams);
  }

  private kill(_why: string): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.lastPayload = null;
    this.lastGoodPayload = null;
    this.generation++;
    this.alive = false;
    this.stdin?.destroy();
    this.stdin = null;
    this.proc?.kill('SIGKILL');
    this.proc = null;
  }
}

export class KeyframeDecoderPool {
  readonly options: Required<Omit<KeyframeDecoderOptions, 'log'>>;
  readonly counters = { decoded: 0, busy: 0, dropped: 0, lost: 0, restarts: 0 };

  get flushes(): number {
    return this.procs.reduce((n, p) => n + p.flushes, 0);
  }
  private readonly procs: DecoderProcess[];
  private readonly crashes = new Map<string, number>();
  private readonly quarantine = new Set<string>();
  private readonly latencies: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: KeyframeDecoderOptions) {
    this.options = {
      ffmpeg: opts.ffmpeg,
      width: opts.width,
      height: opts.height,
      processes: Math.max(1, Math.floor(opts.processes ?? 2)),
      maxPendingPerProcess: opts.maxPendingPerProcess ?? 16,
      decodeTimeoutMs: opts.decodeTimeoutMs ?? 5_000,
      quarantineAfter: opts.quarantineAfter ?? 2,
      flushAfterMs: opts.flushAfterMs ?? 25,
    };
    this.procs = Array.from({ length: this.options.processes }, (_, i) => new DecoderProcess(i, this));
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const p of this.procs) p.check(now);
    }, 500);
    this.timer.unref();
  }

  /** Decodes one keyframe of `streamId` to a packed RGB picture at the pool's size. Never rejects. */
  decode(streamId: string, config: PreparedConfig, payload: Buffer): Promise<DecodeResult> {
    if (this.stopped) return Promise.resolve({ ok: false, reason: 'stopped' });
    if (this.quarantine.has(streamId)) return Promise.resolve({ ok: false, reason: 'quarantined' });
    return this.procs[this.route(streamId)]!.decode(streamId, config, payload).then((r) => {
      if (!r.ok && r.reason === 'busy') this.counters.busy++;
      return r;
    });
  }

  isQuarantined(streamId: string): boolean {
    return this.quarantine.has(streamId);
  }

  /** A stream has ended: forget its crash record. */
  forget(streamId: string): void {
    this.crashes.delete(streamId);
    this.quarantine.delete(streamId);
  }

  stats(): KeyframeDecoderStats {
    return {
      processes: this.procs.length,
      running: this.procs.filter((p) => p.running).length,
      ...this.counters,
      flushes: this.flushes,
      quarantined: this.quarantine.size,
      inFlight: this.procs.reduce((n, p) => n + p.inFlight, 0),
    };
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const p of this.procs) p.stop();
  }

  /** Keyframe → picture latencies (ms) recorded since the last call, at most the latest 4096. */
  takeLatencies(): number[] {
    return this.latencies.splice(0);
  }

  /** @internal */
  recordLatency(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > 4096) this.latencies.shift();
  }

  /** @internal */
  blame(streams: Set<string>): void {
    for (const id of streams) {
      const n = (this.crashes.get(id) ?? 0) + 1;
      this.crashes.set(id, n);
      if (n >= this.options.quarantineAfter && !this.quarantine.has(id)) {
        this.quarantine.add(id);
        this.log('warn', 'stream quarantined from the shared keyframe decoder', { stream: id, crashes: n });
      }
    }
  }

  /** @internal */
  log(level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>): void {
    try {
      this.opts.log?.(level, msg, detail);
    } catch {
      // never let logging break decoding
    }
  }

  private route(streamId: string): number {
    if (this.procs.length === 1) return 0;
    return createHash('sha1').update(streamId).digest().readUInt32BE(0) % this.procs.length;
  }
}
