/**
 * In-process fan-out of one publisher's media to consumers (samplers, the keyframe decoder), with a
 * replayable "first item" (a container header, a decoder configuration) for consumers that join late.
 * Consumers run synchronously on the ingest path; one that throws is dropped, never the publisher.
 */
export class Tap<T> {
  private readonly consumers = new Set<(item: T) => void>();
  private readonly endListeners = new Set<() => void>();
  private ended = false;

  /** What a late subscriber gets first, if anything (overridden by MediaTap / VideoTap). */
  protected replay(): T | null {
    return null;
  }

  protected fanOut(item: T): void {
    for (const c of this.consumers) {
      try {
        c(item);
      } catch {
        this.consumers.delete(c);
      }
    }
  }

  /** Live items from now on; with `withReplay`, the stored header/configuration first. */
  subscribe(consumer: (item: T) => void, withReplay = true): () => void {
    const first = withReplay ? this.replay() : null;
    if (first !== null) consumer(first);
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

  /** Whether anyone consumes: producers skip building items nobody reads. */
  get hasConsumers(): boolean {
    return this.consumers.size > 0;
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
