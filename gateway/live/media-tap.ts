/**
 * Fan-out of a WebSocket publisher's media chunks to in-process consumers (the sampler's ffmpeg stdin).
 * The first chunk holds the container header (WebM EBML + tracks, or the MP4 init segment); it is kept so
 * a consumer that (re)starts mid-stream can be fed the header before the live chunks.
 */
export class MediaTap {
  header: Buffer | null = null;
  private readonly consumers = new Set<(chunk: Buffer) => void>();
  private ended = false;
  private readonly endListeners = new Set<() => void>();

  constructor(readonly container: 'webm' | 'mp4') {}

  push(chunk: Buffer): void {
    if (this.ended) return;
    if (this.header === null) this.header = chunk;
    for (const c of this.consumers) c(chunk);
  }

  /** Subscribes to live chunks; with `withHeader`, the stored header is delivered first. */
  subscribe(consumer: (chunk: Buffer) => void, withHeader = true): () => void {
    if (withHeader && this.header) consumer(this.header);
    this.consumers.add(consumer);
    return () => this.consumers.delete(consumer);
  }

  onEnd(listener: () => void): () => void {
    if (this.ended) listener();
    else this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.consumers.clear();
    for (const l of this.endListeners) l();
    this.endListeners.clear();
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
