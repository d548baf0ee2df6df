import { Writable } from 'node:stream';

/**
 * Splits ffmpeg's rawvideo pipe into fixed-size frames.
 *
 * The sampler forces a fixed output size, so every frame is exactly `frameBytes` long and the
 * pipe needs no parsing beyond counting bytes. Chunks from the pipe (64 KiB typically) rarely line
 * up with frames; a frame is assembled into one preallocated buffer and handed off whole, and the
 * reader never holds more than one partial frame.
 */
export class FrameReader extends Writable {
  private current: Buffer;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly onFrameBytes: (frame: Buffer) => void,
  ) {
    super();
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`bad frame size ${frameBytes}`);
    this.current = Buffer.allocUnsafe(frameBytes);
  }

  /** Bytes of the frame being assembled (a truncated tail when ffmpeg dies mid-frame). */
  get partialBytes(): number {
    return this.filled;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.current, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        const frame = this.current;
        // A fresh buffer per frame: consumers keep frames past this callback (async models).
        this.current = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
        try {
          this.onFrameBytes(frame);
        } catch {
          // The callback belongs to the sampler, which guards consumers itself; never break the pipe.
        }
      }
    }
    done();
  }
}
