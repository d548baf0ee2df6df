/**
 * Publishes a camera/microphone MediaStream to the gateway's WebSocket ingest (README "WebSocket
 * (browsers)"): auth message first (the key travels in the message, never in the URL), then MediaRecorder
 * chunks as binary messages, the first ones joined (container.ts).
 */
import { FirstMessageCoalescer, pickRecorderType } from './container.ts';
import { endedFields, type EndedFields } from './words.ts';

export type IngestState = 'idle' | 'connecting' | 'live' | 'ended';

export interface IngestEnd {
  code: number;
  closeReason: string;
  /** The structured `ended` / `refused` message, when one arrived before the close. */
  ended: EndedFields | null;
  /** The person pressed "End stream". */
  byUser: boolean;
}

export interface IngestCallbacks {
  onState: (s: IngestState, streamId: string | null) => void;
  onEnd: (e: IngestEnd) => void;
  onWarning: (message: string) => void;
  /** Bytes queued but not yet sent (a slow uplink). */
  onBacklog?: (bytes: number) => void;
}

const TIMESLICE_MS = 250;

export class BrowserPublisher {
  private ws: WebSocket | null = null;
  private recorder: MediaRecorder | null = null;
  private ended: EndedFields | null = null;
  private byUser = false;
  streamId: string | null = null;

  constructor(
    private readonly url: string,
    private readonly media: MediaStream,
    private readonly cb: IngestCallbacks,
  ) {}

  start(streamKey: string): void {
    const type = pickRecorderType((t) => MediaRecorder.isTypeSupported(t));
    if (!type) {
      this.cb.onEnd({ code: 0, closeReason: 'this browser cannot record WebM or MP4', ended: null, byUser: false });
      return;
    }
    this.cb.onState('connecting', null);
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    // Attach handlers before anything can await: the open event must not be missed.
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', streamKey, container: type.container }));
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let msg: { type?: string; streamId?: string; message?: string } & Record<string, unknown>;
      try {
        msg = JSON.parse(m.data) as typeof msg;
      } catch {
        return;
      }
      if (msg.type === 'accepted') {
        this.streamId = msg.streamId ?? null;
        this.record(type.mimeType);
        this.cb.onState('live', this.streamId);
      } else if (msg.type === 'ended' || msg.type === 'refused') {
        this.ended = endedFields(msg);
      } else if (msg.type === 'warning' && msg.message) {
        this.cb.onWarning(msg.message);
      }
    };
    ws.onclose = (e) => {
      this.stopRecorder();
      this.cb.onState('ended', this.streamId);
      this.cb.onEnd({ code: e.code, closeReason: e.reason, ended: this.ended, byUser: this.byUser });
    };
  }

  stop(): void {
    this.byUser = true;
    this.stopRecorder();
    this.ws?.close(1000, 'ended by the streamer');
  }

  private record(mimeType: string): void {
    const ws = this.ws;
    if (!ws) return;
    const rec = new MediaRecorder(this.media, { mimeType, videoBitsPerSecond: 2_500_000, audioBitsPerSecond: 128_000 });
    const first = new FirstMessageCoalescer<Blob>((parts) => new Blob(parts, { type: mimeType }));
    rec.ondataavailable = (e) => {
      if (!e.data.size || ws.readyState !== WebSocket.OPEN) return;
      for (const b of first.push(e.data)) ws.send(b);
      this.cb.onBacklog?.(ws.bufferedAmount);
    };
    rec.start(TIMESLICE_MS);
    this.recorder = rec;
  }

  private stopRecorder(): void {
    if (this.recorder && this.recorder.state !== 'inactive') this.recorder.stop();
    this.recorder = null;
  }
}
