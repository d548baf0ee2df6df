import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { makeFile } from './ffmpeg-publisher.ts';

/**
 * A browser-like WebSocket publisher: authenticates with `{"type":"auth",…}`, then sends a real WebM file
 * (VP8, made once by ffmpeg) in slices of `chunkMs` of media each, in real time, like MediaRecorder's
 * `dataavailable` blobs (the first slice starts with the EBML header).
 */

export interface WsServerMessage {
  type: string;
  streamId?: string;
  reason?: string;
  message?: string;
  /** `ended` / `refused` (gateway/ingest/ws-protocol.ts, EndedMessage). */
  suspension?: { endsAt: string | null; permanent: boolean } | null;
  decisionId?: string | null;
  appeal?: { page: string; endpoint: string; decisionId: string | null } | null;
}

export interface WsClose {
  code: number;
  reason: string;
  at: number;
}

export interface WsPublisher {
  ws: WebSocket;
  /** Resolves with the stream id on `{"type":"accepted"}`, or null when the server closed first. */
  accepted: Promise<string | null>;
  /** Every JSON message the server sent, in order. */
  messages: WsServerMessage[];
  closed: Promise<WsClose>;
  /** Stop sending media but keep the connection open (to test the idle timeout). */
  pause(): void;
  close(): Promise<WsClose>;
}

export interface WsPublishOptions {
  url: string;
  streamKey?: string;
  /** Override the auth message (raw text sent as the first message). */
  authText?: string;
  /** WebM file to send after acceptance; none: only authenticate. */
  file?: string;
  /** Media duration of the file, to pace it in real time (default 10 s). */
  fileDurationSec?: number;
  chunkMs?: number;
  /** Send the file's first N bytes as a message of their own first (Chromium's MediaRecorder: 1 byte, `1a`). */
  firstChunkBytes?: number;
}

export function wsPublish(o: WsPublishOptions): WsPublisher {
  const ws = new WebSocket(o.url, { perMessageDeflate: false });
  const messages: WsServerMessage[] = [];
  let paused = false;
  let timer: NodeJS.Timeout | null = null;
  const closed = new Promise<WsClose>((resolve) => {
    ws.once('close', (code, reason) => {
      if (timer) clearInterval(timer);
      resolve({ code, reason: reason.toString('utf8'), at: Date.now() });
    });
  });
  ws.on('error', () => {
    // A refused or cut connection may error (ECONNRESET); the close event carries what tests need.
  });
  const accepted = new Promise<string | null>((resolve) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: WsServerMessage;
      try {
        msg = JSON.parse(data.toString()) as WsServerMessage;
      } catch {
        return;
      }
      messages.push(msg);
      if (msg.type === 'accepted') {
        resolve(msg.streamId ?? '');
        if (o.file) startSending(o.file);
      }
    });
    void closed.then(() => resolve(null));
  });
  ws.once('open', () => {
    ws.send(o.authText ?? JSON.stringify({ type: 'auth', streamKey: o.streamKey ?? '', container: 'webm' }));
  });

  const startSending = (file: string) => {
    const data = readFileSync(file);
    const chunkMs = o.chunkMs ?? 250;
    const perChunk = Math.max(1, Math.ceil((data.length * chunkMs) / ((o.fileDurationSec ?? 10) * 1000)));
    let offset = 0;
    if (o.firstChunkBytes) {
      ws.send(data.subarray(0, o.firstChunkBytes), { binary: true });
      offset = o.firstChunkBytes;
    }
    const send = () => {
      if (paused || ws.readyState !== WebSocket.OPEN) return;
      if (offset >= data.length) {
        if (timer) clearInterval(timer);
        return;
      }
      ws.send(data.subarray(offset, offset + perChunk), { binary: true });
      offset += perChunk;
    };
    send();
    timer = setInterval(send, chunkMs);
  };

  return {
    ws,
    accepted,
    messages,
    closed,
    pause: () => {
      paused = true;
    },
    close: async () => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
      return closed;
    },
  };
}

/** A small VP8 WebM (160x120, 15 fps, no audio) cached under `dir`. */
export async function webmFixture(dir: string, ffmpegPath: string, durationSec = 20): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `testsrc-160x120-${durationSec}s.webm`);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp.webm`;
    await makeFile({ file: tmp, ffmpegPath, width: 160, height: 120, rate: 15, durationSec, bitrateKbps: 200, gopSec: 1 });
    const { renameSync } = await import('node:fs');
    renameSync(tmp, file);
  }
  return file;
}
