/**
 * Just enough container knowledge to restart a decoder in the middle of a chunked stream.
 *
 * A browser's MediaRecorder sends the init segment (WebM EBML header + Tracks, or MP4 ftyp+moov)
 * only at the very start. A restarted ffmpeg needs that header again, followed by data that starts
 * at a boundary it can parse from: a WebM Cluster, or an MP4 `moof` (or `styp`) box. Everything
 * before the first boundary is the header; chunks after a restart are skipped up to a boundary.
 */

export type ChunkFormat = 'webm' | 'mp4';

const CLUSTER_ID = Buffer.from([0x1f, 0x43, 0xb6, 0x75]);

/** Offset in `buf` (from `from`) where parsing can restart, or -1 if there is none. */
export function findResyncPoint(format: ChunkFormat, buf: Buffer, from = 0): number {
  if (format === 'webm') return buf.indexOf(CLUSTER_ID, from);
  // MP4: a box header is 4-byte size + 4-byte type; look for a fragment's type and back up to its size.
  let best = -1;
  for (const type of ['moof', 'styp']) {
    let at = buf.indexOf(type, from + 4, 'latin1');
    while (at >= 0) {
      const size = buf.readUInt32BE(at - 4);
      if (size >= 8) {
        if (best < 0 || at - 4 < best) best = at - 4;
        break;
      }
      at = buf.indexOf(type, at + 1, 'latin1');
    }
  }
  return best;
}

/**
 * Collects the init segment from the first chunks of a stream. The header ends at the first resync
 * point; if none shows up within `maxBytes`, the first chunk alone is taken as the header (the
 * MediaRecorder contract: the first chunk holds it).
 */
export class HeaderCollector {
  private parts: Buffer[] = [];
  private size = 0;
  private firstChunk: Buffer | null = null;
  header: Buffer | null = null;

  constructor(
    private readonly format: ChunkFormat,
    private readonly maxBytes = 2 * 1024 * 1024,
  ) {}

  get done(): boolean {
    return this.header !== null;
  }

  /** Everything collected while the header is still incomplete. */
  soFar(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }

  push(chunk: Buffer): void {
    if (this.header) return;
    this.firstChunk ??= chunk;
    this.parts.push(chunk);
    this.size += chunk.length;
    const all = Buffer.concat(this.parts, this.size);
    // The header itself starts with EBML/ftyp, never with a boundary: search from byte 1.
    const at = findResyncPoint(this.format, all, 1);
    if (at > 0) this.header = all.subarray(0, at);
    else if (this.size > this.maxBytes) this.header = this.firstChunk;
    if (this.header) {
      this.parts = [];
      this.firstChunk = null;
    }
  }
}
