import type { Readable, Writable } from 'node:stream';
import { findResyncPoint, HeaderCollector, type ChunkFormat } from './container.ts';

/**
 * Media chunks from a WebSocket publisher into the current ffmpeg's stdin, across ffmpeg restarts.
 *
 * A browser's MediaRecorder sends its init segment only once, at the start (container.ts). The feed keeps
 * it; a restarted ffmpeg gets it again, followed by data from the next container boundary (a WebM Cluster,
 * an MP4 fragment), so its demuxer never sees a torn element. An ffmpeg that falls behind by more than
 * `maxBufferBytes` loses chunks rather than the gateway's memory, and resumes at the next boundary too.
 */
export class StdinFeed {
  private readonly header: HeaderCollector;
  private sink: { stdin: Writable; synced: boolean } | null = null;
  private detachSource: (() => void) | null = null;
  /** The source ended (or failed): ffmpeg gets end-of-file once it has drained what it has. */
  ended = false;
  /** Chunks dropped: no ffmpeg to take them, ffmpeg behind, or waiting for a boundary after a restart. */
  dropped = 0;
  /** Of those, dropped because ffmpeg was behind by more than maxBufferBytes (load shedding, not a restart). */
  shed = 0;

  constructor(
    private readonly format: ChunkFormat,
    private readonly maxBufferBytes: number,
  ) {
    this.header = new HeaderCollector(format);
  }

  /** Reads `stream` until it ends or detach(); `onEnd` runs once the source is done. */
  attach(stream: Readable, onEnd: () => void = () => {}): void {
    const onData = (chunk: unknown): void => {
      const buf = Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : null;
      if (buf && buf.length > 0) this.push(buf);
    };
    const end = (): void => {
      this.end();
      onEnd();
    };
    stream.on('data', onData);
    stream.on('end', end);
    // A source error ends the input like 'end' does; listening also keeps it from being unhandled.
    stream.on('error', end);
    this.detachSource = () => {
      stream.off('data', onData);
      stream.off('end', end);
      stream.off('error', end);
    };
  }

  detach(): void {
    this.detachSource?.();
    this.detachSource = null;
  }

  /** One chunk of the publisher's stream. */
  push(chunk: Buffer): void {
    this.header.push(chunk);
    const sink = this.sink;
    if (!sink || sink.stdin.destroyed || sink.stdin.writableEnded) {
      this.dropped += 1;
      return;
    }
    let data = chunk;
    if (!sink.synced) {
      const at = findResyncPoint(this.format, chunk);
      if (at < 0) {
        this.dropped += 1;
        return;
      }
      data = chunk.subarray(at);
      sink.synced = true;
    }
    if (sink.stdin.writableLength > this.maxBufferBytes) {
      // ffmpeg is not keeping up (or not started): drop rather than buffer without bound, and
      // resume at the next boundary so the demuxer never sees a torn element.
      this.dropped += 1;
      this.shed += 1;
      sink.synced = false;
      return;
    }
    sink.stdin.write(data);
  }

  /**
   * Feeds a new ffmpeg from now on. The first is fed from the stream's first byte; a restarted one
   * (`restart`) gets the saved init segment, then chunks from the next boundary on.
   */
  connect(stdin: Writable, restart: boolean): void {
    const sink = { stdin, synced: true };
    if (restart) {
      if (this.header.header) {
        stdin.write(this.header.header);
        sink.synced = false;
      } else {
        // Restarted before the header was complete: replay the stream so far, then continue.
        stdin.write(this.header.soFar());
      }
    }
    if (this.ended) stdin.end();
    this.sink = sink;
  }

  private end(): void {
    this.ended = true;
    this.sink?.stdin.end();
  }
}
