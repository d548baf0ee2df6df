/**
 * The recording container and the first binary message (DOM-free, so unit tests run in Node).
 *
 * Chromium's MediaRecorder can emit a 1-byte first chunk (0x1a) and the rest of the EBML header in the next.
 * The gateway accepts a header split across messages (it judges a bounded prefix), so this is only
 * tidiness: the first chunks are sent as one message once they hold a header's worth of bytes, which also
 * lets a gateway older than that fix accept the page. The bytes are unchanged.
 */

/** Enough for the EBML magic + header start (WebM) or an ftyp box (MP4). */
const FIRST_MESSAGE_MIN_BYTES = 64;

/** The first MediaRecorder type this browser records, and the container to announce in the auth message. */
export function pickRecorderType(isSupported: (mimeType: string) => boolean): { mimeType: string; container: 'webm' | 'mp4' } | null {
  for (const t of ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp9,opus', 'video/webm;codecs=h264,opus', 'video/webm'])
    if (isSupported(t)) return { mimeType: t, container: 'webm' };
  for (const t of ['video/mp4;codecs=avc1,mp4a', 'video/mp4']) if (isSupported(t)) return { mimeType: t, container: 'mp4' };
  return null;
}

/** Holds the first chunks until they are big enough to be recognised as a container header. */
export class FirstMessageCoalescer<B extends { size: number }> {
  private held: B[] = [];
  private heldBytes = 0;
  private released = false;

  constructor(
    private readonly join: (parts: B[]) => B,
    private readonly min = FIRST_MESSAGE_MIN_BYTES,
  ) {}

  /** Returns what to send now (possibly nothing). */
  push(chunk: B): B[] {
    if (this.released) return [chunk];
    this.held.push(chunk);
    this.heldBytes += chunk.size;
    if (this.heldBytes < this.min) return [];
    this.released = true;
    const out = this.join(this.held);
    this.held = [];
    return [out];
  }
}
