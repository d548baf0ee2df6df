import type { PushClient, PushEvent, PushEventType, PushState } from './push.ts';

/**
 * Push over GET /api/v1/events (server-sent events), read with fetch so the token goes in the
 * Authorization header, never in a URL (EventSource cannot send headers). Reconnects with backoff and
 * Last-Event-ID; a `reset` event (the gateway could not replay what was missed) is passed on so screens
 * reload their lists. A 401 signs the person out.
 */
export class SsePush implements PushClient {
  state: PushState = 'connecting';
  private readonly handlers = new Map<PushEventType, Set<(e: PushEvent) => void>>();
  private readonly stateHandlers = new Set<(s: PushState) => void>();
  private lastId: string | null = null;
  private abort: AbortController | null = null;
  private closed = false;

  constructor(
    private readonly token: () => string | null,
    private readonly onUnauthorized: () => void,
    private readonly url = '/api/v1/events',
  ) {
    void this.run();
  }

  subscribe<T extends PushEventType>(types: readonly T[], handler: (event: Extract<PushEvent, { type: T }>) => void): () => void {
    const h = handler as (e: PushEvent) => void;
    for (const t of types) {
      let set = this.handlers.get(t);
      if (!set) this.handlers.set(t, (set = new Set()));
      set.add(h);
    }
    return () => {
      for (const t of types) this.handlers.get(t)?.delete(h);
    };
  }

  onState(handler: (state: PushState) => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
  }

  private setState(s: PushState): void {
    if (this.state === s) return;
    this.state = s;
    for (const h of this.stateHandlers) h(s);
  }

  private dispatch(type: string, data: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return;
    }
    const event = { ...parsed, type } as PushEvent;
    for (const h of this.handlers.get(type as PushEventType) ?? []) {
      try {
        h(event);
      } catch (err) {
        console.warn('push handler failed', err);
      }
    }
  }

  private async run(): Promise<void> {
    let backoff = 1000;
    while (!this.closed) {
      const token = this.token();
      if (!token) return;
      this.abort = new AbortController();
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
        if (this.lastId) headers['last-event-id'] = this.lastId;
        const res = await fetch(this.url, { headers, signal: this.abort.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) {
          this.closed = true;
          this.onUnauthorized();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
        this.setState('open');
        backoff = 1000;
        await this.read(res.body);
      } catch {
        // network error or abort: reconnect below unless closed
      }
      if (this.closed) return;
      this.setState('reconnecting');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 15_000);
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        let type = 'message';
        let id: string | null = null;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (id !== null) this.lastId = id;
        if (data.length) this.dispatch(type, data.join('\n'));
      }
    }
  }
}
