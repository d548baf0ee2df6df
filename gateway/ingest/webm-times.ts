/**
 * The presentation time of every video block in a WebM byte stream, read as the chunks arrive: what the
 * RTMP ingest gets from each message's header, for a browser's MediaRecorder stream. The WebSocket ingest
 * notes each block's arrival (gateway/live/arrivals.ts), so a browser stream's time to cut is measured
 * from its content reaching the gateway too.
 *
 * Only the elements that carry time are read (Matroska spec, RFC 9559: TimestampScale 0x2AD7B1, Cluster
 * 0x1F43B675 and its Timestamp 0xE7, SimpleBlock 0xA3, BlockGroup 0xA0 / Block 0xA1, the video TrackEntry's
 * TrackNumber 0xD7 and TrackType 0x83 = 1); master elements are entered (MediaRecorder writes the Segment
 * and Clusters with unknown sizes), every other element is skipped by its size without being buffered.
 * A stream this cannot follow (an unknown size on a non-master element, a malformed number) stops the
 * scanner for good: the stream is then measured from its frames' decoding, and its media still flows.
 */

const SEGMENT = 0x18538067;
const CLUSTER = 0x1f43b675;
const TRACKS = 0x1654ae6b;
const TRACK_ENTRY = 0xae;
const BLOCK_GROUP = 0xa0;
/** Info holds TimestampScale. */
const INFO = 0x1549a966;
const MASTERS = new Set([SEGMENT, INFO, CLUSTER, TRACKS, TRACK_ENTRY, BLOCK_GROUP]);
const TIMESTAMP_SCALE = 0x2ad7b1;
const CLUSTER_TIMESTAMP = 0xe7;
const SIMPLE_BLOCK = 0xa3;
const BLOCK = 0xa1;
const TRACK_NUMBER = 0xd7;
const TRACK_TYPE = 0x83;
/** Small elements whose value is read (the rest are skipped). */
const VALUES = new Set([TIMESTAMP_SCALE, CLUSTER_TIMESTAMP, TRACK_NUMBER, TRACK_TYPE]);
/** A block's head: track number (a vint of up to 8 bytes) and a 16-bit relative timestamp. */
const BLOCK_HEAD = 10;

export class WebmBlockTimes {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of the current element's content still to skip. */
  private skip = 0;
  private scaleNs = 1_000_000;
  private clusterTs: number | null = null;
  private entry: { number: number | null; type: number | null } = { number: null, type: null };
  private videoTrack: number | null = null;
  /** Set when the stream cannot be followed; nothing is read after it. */
  failed: string | null = null;

  /** The presentation times (ms) of the video blocks that end in or start in this chunk. */
  push(chunk: Buffer): number[] {
    if (this.failed) return [];
    const out: number[] = [];
    let buf = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, buf.length);
      this.skip -= n;
      buf = buf.subarray(n);
    }
    if (this.pending.length) buf = Buffer.concat([this.pending, buf]);
    let at = 0;
    while (at < buf.length && this.skip === 0) {
      const id = readId(buf, at);
      if (id === null) break;
      if (id === 'bad') return this.fail('a malformed element ID');
      const size = readSize(buf, at + id.length);
      if (size === null) break;
      if (size === 'bad') return this.fail('a malformed element size');
      const body = at + id.length + size.length;
      if (MASTERS.has(id.value)) {
        if (id.value === TRACK_ENTRY) this.entry = { number: null, type: null };
        at = body; // enter: its children follow
        continue;
      }
      if (size.value === null) return this.fail(`an element of unknown size (0x${id.value.toString(16)}) that is not a container`);
      if (id.value === SIMPLE_BLOCK || id.value === BLOCK) {
        const need = Math.min(size.value, BLOCK_HEAD);
        if (buf.length - body < need) break;
        const t = this.blockTime(buf.subarray(body, body + need));
        if (t === 'bad') return this.fail('a malformed block');
        if (t !== null) out.push(t);
      } else if (VALUES.has(id.value)) {
        if (size.value > 8) return this.fail('an oversized number');
        if (buf.length - body < size.value) break;
        this.value(id.value, readUint(buf, body, size.value));
      }
      const end = body + size.value;
      if (end > buf.length) {
        this.skip = end - buf.length;
        at = buf.length;
        break;
      }
      at = end;
    }
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    // An element header is at most 12 bytes and a block head 10: anything longer pending is not WebM.
    if (this.pending.length > 64) return this.fail('an element that does not parse');
    return out;
  }

  private value(id: number, v: number): void {
    if (id === TIMESTAMP_SCALE && v > 0) this.scaleNs = v;
    else if (id === CLUSTER_TIMESTAMP) this.clusterTs = v;
    else if (id === TRACK_NUMBER) this.entry.number = v;
    else if (id === TRACK_TYPE) this.entry.type = v;
    if (this.entry.type === 1 && this.entry.number !== null && this.videoTrack === null) this.videoTrack = this.entry.number;
  }

  /** A video block's presentation time in ms; null for another track's or before the cluster's timestamp. */
  private blockTime(head: Buffer): number | 'bad' | null {
    const track = readSize(head, 0);
    if (track === null || track === 'bad' || track.value === null) return 'bad';
    if (head.length < track.length + 2) return 'bad';
    if (track.value !== this.videoTrack || this.clusterTs === null) return null;
    const rel = head.readInt16BE(track.length);
    return ((this.clusterTs + rel) * this.scaleNs) / 1e6;
  }

  private fail(why: string): number[] {
    this.failed = why;
    this.pending = Buffer.alloc(0);
    return [];
  }
}

/** An EBML element ID (1–4 bytes, marker bit kept); null: not all here yet. */
function readId(buf: Buffer, at: number): { value: number; length: number } | 'bad' | null {
  if (at >= buf.length) return null;
  const first = buf[at]!;
  const length = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
  if (length === 0) return 'bad';
  if (at + length > buf.length) return null;
  return { value: readUint(buf, at, length), length };
}

/** An EBML variable-size integer (1–8 bytes); value null: the all-ones "unknown size". */
function readSize(buf: Buffer, at: number): { value: number | null; length: number } | 'bad' | null {
  if (at >= buf.length) return null;
  const first = buf[at]!;
  if (first === 0) return 'bad';
  const length = Math.clz32(first) - 23;
  if (at + length > buf.length) return null;
  let v = first & (0xff >> length);
  let allOnes = v === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[at + i]!;
    v = v * 256 + b;
    allOnes &&= b === 0xff;
  }
  return { value: allOnes ? null : v, length };
}

function readUint(buf: Buffer, at: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + buf[at + i]!;
  return v;
}
