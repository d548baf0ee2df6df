import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { authorizePublish, type GateSnapshot } from '../identity/gate.ts';
import { MediaTap } from '../live/media-tap.ts';
import type { CutRequest, LiveRegistry } from '../live/registry.ts';
import { STREAM_KEY_RE, newId, sha256Hex } from '../security/secrets.ts';
import type { Refusal } from './refusals.ts';
import { WebmBlockTimes } from './webm-times.ts';
import { SHUTTING_DOWN } from '../live/lifecycle.ts';
import { sourceAddress } from '../security/rate-limit.ts';
import { retryWords, type SourceGuard } from '../security/source-guard.ts';
import { suspensionReasonWords } from '../enforcement/streamer-words.ts';
import {
  AuthMessageSchema,
  CloseCode,
  closeReason,
  cutCloseCode,
  endedMessage,
  HEADER_PREFIX_MAX_BYTES,
  refusalCloseCode,
  sniffContainer,
} from './ws-protocol.ts';

export const WS_INGEST_PATH = '/ingest';

export interface WsIngestOptions {
  maxMessageBytes: number;
  authTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface WsIngestDeps {
  gate: () => GateSnapshot;
  registry: LiveRegistry;
  refuse: (refusal: Refusal) => void;
  log: Logger;
  /** Per-source attempt limit (config `abuse.wsAuth`); none: unlimited. */
  guard?: SourceGuard;
  /** False once the node shuts down: new publishes are refused as shutting_down. */
  accepting?: () => boolean;
}

/**
 * WebSocket ingest for browsers (MediaRecorder chunks). Attached to the gateway's own HTTP server, so it
 * shares the API's port; each connection is isolated: whatever one client sends closes only that client.
 */
export class WsIngest {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly opts: WsIngestOptions,
    private readonly deps: WsIngestDeps,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false });
  }

  /** Handles an HTTP upgrade for the ingest path; returns false for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = req.url ?? '';
    if (url !== WS_INGEST_PATH && !url.startsWith(`${WS_INGEST_PATH}?`)) return false;
    // Each connection is an auth attempt of its source. Over the limit it is still answered with a close
    // a browser can read (4029 rate_limited); far over it (past abuse.maxRefusalsPerWindow) the upgrade
    // gets a bare 429 and no WebSocket is made.
    const admission = this.deps.guard?.admit(sourceAddress(req.socket.remoteAddress)) ?? { verdict: 'ok' as const };
    if (admission.verdict === 'drop') {
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${Math.max(1, Math.ceil(admission.retryAfterMs / 1000))}\r\nConnection: close\r\n\r\n`);
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (admission.verdict === 'limited') {
        ws.close(CloseCode.rateLimited, closeReason(`rate_limited: ${retryWords(admission.retryAfterMs)}`));
        setTimeout(() => ws.terminate(), 2000).unref();
        return;
      }
      this.connection(ws, req);
    });
    return true;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.close(CloseCode.goingAway, 'gateway shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private connection(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const source = sourceAddress(req.socket.remoteAddress);
    let streamId: string | null = null;
    let tap: MediaTap | null = null;
    /** The video blocks' presentation times, read as chunks arrive (the time to cut starts at their arrival). */
    let blockTimes: WebmBlockTimes | null = null;
    let sawMedia = false;
    // The first binary messages, held until they hold a recognisable header (bounded: HEADER_PREFIX_MAX_BYTES).
    let prefix: Buffer[] = [];
    let prefixBytes = 0;
    let closed = false;

    const close = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      clearTimeout(authTimer);
      clearTimeout(idleTimer);
      ws.close(code, closeReason(reason));
      // A client that ignores the close handshake is cut off at the socket.
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    const authTimer = setTimeout(() => close(CloseCode.authTimeout, 'no auth message within the auth timeout'), this.opts.authTimeoutMs);
    authTimer.unref();
    let idleTimer: NodeJS.Timeout = setTimeout(() => {}, 0);
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        if (streamId) this.deps.registry.ended(streamId, 'idle_timeout', 'no media received');
        streamId = null;
        close(CloseCode.idle, `no media received for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`);
      }, this.opts.idleTimeoutMs);
      idleTimer.unref();
    };

    const refuse = (code: number, reason: string, message: string, accountId: string | null) => {
      this.deps.refuse({ protocol: 'websocket', remoteAddr: remote, source, accountId, reason, detail: message });
      close(code, message);
    };

    const authenticate = (data: RawData, isBinary: boolean) => {
      if (isBinary) return refuse(CloseCode.badAuthMessage, 'bad_auth_message', 'the first message must be a JSON auth message', null);
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawToString(data));
      } catch {
        return refuse(CloseCode.badAuthMessage, 'bad_auth_message', 'the auth message is not valid JSON', null);
      }
      const auth = AuthMessageSchema.safeParse(parsed);
      if (!auth.success) {
        const issue = auth.error.issues[0];
        return refuse(
          CloseCode.badAuthMessage,
          'bad_auth_message',
          `bad auth message: ${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`,
          null,
        );
      }
      if (this.deps.accepting && !this.deps.accepting()) return refuse(CloseCode.goingAway, SHUTTING_DOWN.reason, SHUTTING_DOWN.message, null);
      const key = auth.data.streamKey;
      if (!STREAM_KEY_RE.test(key)) return refuse(CloseCode.unauthorized, 'unknown_key', 'unknown stream key', null);
      const verdict = authorizePublish(this.deps.gate(), sha256Hex(key), Date.now());
      if (!verdict.ok) {
        const s = verdict.suspension;
        if (s && ws.readyState === ws.OPEN)
          ws.send(JSON.stringify(endedMessage('refused', verdict.reason, suspensionReasonWords(s), { endsAt: s.endsAt }, s.decisionId)));
        return refuse(refusalCloseCode(verdict.reason), verdict.reason, verdict.message, verdict.account?.id ?? null);
      }

      clearTimeout(authTimer);
      this.deps.guard?.accepted(source);
      streamId = newId('str');
      tap = new MediaTap(auth.data.container);
      blockTimes = tap.arrivals ? new WebmBlockTimes() : null;
      const id = streamId;
      const mediaTap = tap;
      this.deps.registry.start({
        id,
        accountId: verdict.account.id,
        handle: verdict.account.handle,
        subject: verdict.account.subject,
        keyId: verdict.keyId,
        protocol: 'websocket',
        remoteAddr: remote,
        startedAt: Date.now(),
        playPath: null,
        media: mediaTap,
        connection: {
          terminate: (request: CutRequest) => {
            streamId = null;
            mediaTap.end();
            // The streamer's words: an automated decision's reason (distances, limits) stays with moderators.
            const message = request.streamerMessage ?? request.message;
            const decisionId = typeof request.detail?.decisionId === 'string' ? request.detail.decisionId : null;
            if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(endedMessage('ended', request.reason, message, request.suspension, decisionId)));
            close(cutCloseCode(request.reason), message);
          },
          warn: (message: string) => {
            if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'warning', message }));
          },
        },
      });
      ws.send(JSON.stringify({ type: 'accepted', streamId: id }));
      armIdle();
    };

    const media = (data: RawData, isBinary: boolean) => {
      if (!isBinary) return endWith(CloseCode.unsupportedData, 'protocol_error', 'only binary media chunks are accepted after auth');
      let chunk = rawToBuffer(data);
      if (!sawMedia) {
        prefix.push(chunk);
        prefixBytes += chunk.length;
        const held = Buffer.concat(prefix, prefixBytes);
        const verdict = sniffContainer(held.subarray(0, HEADER_PREFIX_MAX_BYTES), tap!.container);
        const name = tap!.container === 'webm' ? 'WebM' : 'fragmented MP4';
        if (verdict === 'mismatch' || (verdict === 'need_more' && prefixBytes >= HEADER_PREFIX_MAX_BYTES)) {
          return endWith(CloseCode.badMedia, 'protocol_error', `the stream does not start with a ${name} header`);
        }
        armIdle();
        if (verdict === 'need_more') return;
        // Consumers see the held prefix as one chunk, so the media tap's replayed header is whole.
        sawMedia = true;
        prefix = [];
        chunk = held;
      }
      armIdle();
      if (blockTimes && tap!.arrivals) {
        const now = Date.now();
        try {
          for (const pts of blockTimes.push(chunk)) tap!.arrivals.note(pts, now);
        } catch {
          // A reader bug must not cost the stream: its time to cut then runs from decoding.
          blockTimes = null;
        }
      }
      tap!.push(chunk);
    };

    const endWith = (code: number, reason: 'protocol_error', message: string) => {
      if (streamId) this.deps.registry.ended(streamId, reason, message);
      streamId = null;
      tap?.end();
      close(code, message);
    };

    ws.on('message', (data, isBinary) => {
      if (closed) return;
      try {
        if (tap === null) authenticate(data, isBinary);
        else media(data, isBinary);
      } catch (err) {
        this.deps.log.error({ err, remote }, 'WebSocket ingest handler failed');
        endWith(CloseCode.serverError, 'protocol_error', 'internal error');
      }
    });
    ws.on('error', (err) => {
      // ws reports protocol violations (oversized frames → 1009, bad UTF-8, bad opcodes) here, then closes.
      this.deps.log.debug({ remote, err: err.message }, 'WebSocket ingest connection error');
    });
    ws.on('close', () => {
      closed = true;
      clearTimeout(authTimer);
      clearTimeout(idleTimer);
      tap?.end();
      if (streamId) this.deps.registry.ended(streamId, 'publisher_disconnected');
      streamId = null;
    });
  }
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function rawToString(data: RawData): string {
  return rawToBuffer(data).toString('utf8');
}
