import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { DEADLINE_MS } from './wait.ts';

/**
 * A minimal raw RTMP client for tests and benchmarks: simple (unsigned) handshake, AMF0 commands, and
 * hand-crafted chunks, so tests can send exactly the malformed bytes they need and time socket events.
 */

export type Amf = number | string | boolean | null | { [key: string]: Amf };

export function amf0(value: Amf): Buffer {
  if (value === null) return Buffer.from([0x05]);
  if (typeof value === 'number') {
    const b = Buffer.alloc(9);
    b[0] = 0x00;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'boolean') return Buffer.from([0x01, value ? 1 : 0]);
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(3);
    h[0] = 0x02;
    h.writeUInt16BE(s.length, 1);
    return Buffer.concat([h, s]);
  }
  const parts: Buffer[] = [Buffer.from([0x03])];
  for (const [k, v] of Object.entries(value)) {
    const kb = Buffer.from(k, 'utf8');
    const kl = Buffer.alloc(2);
    kl.writeUInt16BE(kb.length);
    parts.push(kl, kb, amf0(v));
  }
  parts.push(Buffer.from([0x00, 0x00, 0x09]));
  return Buffer.concat(parts);
}

export function amfCommand(...values: Amf[]): Buffer {
  return Buffer.concat(values.map(amf0));
}

/** One RTMP message as type-0 chunk + type-3 continuations of `chunkSize` bytes. */
export function rtmpMessage(opts: {
  csid: number;
  type: number;
  streamId: number;
  payload: Buffer;
  timestamp?: number;
  chunkSize?: number;
  declaredLength?: number;
}): Buffer {
  const chunkSize = opts.chunkSize ?? 128;
  const header = Buffer.alloc(12);
  header[0] = opts.csid & 0x3f; // fmt 0
  header.writeUIntBE(Math.min(opts.timestamp ?? 0, 0xffffff), 1, 3);
  header.writeUIntBE(opts.declaredLength ?? opts.payload.length, 4, 3);
  header[7] = opts.type;
  header.writeUInt32LE(opts.streamId, 8);
  const parts: Buffer[] = [header];
  for (let off = 0; off < opts.payload.length; off += chunkSize) {
    if (off > 0) parts.push(Buffer.from([0xc0 | (opts.csid & 0x3f)]));
    parts.push(opts.payload.subarray(off, off + chunkSize));
  }
  return Buffer.concat(parts);
}

export const setChunkSize = (size: number) => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(size >>> 0);
  return rtmpMessage({ csid: 2, type: 1, streamId: 0, payload: p });
};

export const connectCmd = (tcUrl: string, app = 'live') =>
  rtmpMessage({ csid: 3, type: 20, streamId: 0, payload: amfCommand('connect', 1, { app, type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl }) });
export const createStreamCmd = () => rtmpMessage({ csid: 3, type: 20, streamId: 0, payload: amfCommand('createStream', 2, null) });
export const publishCmd = (name: string) => rtmpMessage({ csid: 4, type: 20, streamId: 1, payload: amfCommand('publish', 3, null, name, 'live') });
export const playCmd = (name: string) => rtmpMessage({ csid: 4, type: 20, streamId: 1, payload: amfCommand('play', 3, null, name) });

export interface RawRtmp {
  socket: net.Socket;
  /** All bytes the server sent (after S0S1S2). */
  received(): Buffer;
  /** Epoch ms (performance.now based) of the socket's 'close', once closed. */
  closedAt: Promise<number>;
  isClosed(): boolean;
  write(data: Buffer): void;
  /** Resolves true when `text` appears in the server's bytes, false if the socket closes first or on timeout. */
  waitFor(text: string, timeoutMs?: number): Promise<boolean>;
  destroy(): void;
}

/** Connects and, unless `handshake` is false, performs C0/C1/C2 and waits for S0/S1/S2. */
export async function rawRtmp(port: number, opts: { handshake?: boolean; host?: string } = {}): Promise<RawRtmp> {
  const socket = net.connect(port, opts.host ?? '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {
    // resets are expected: tests look at 'close'
  });
  let buf = Buffer.alloc(0);
  let closed = false;
  const listeners = new Set<() => void>();
  const closedAt = new Promise<number>((resolve) => {
    socket.once('close', () => {
      closed = true;
      resolve(performance.now());
      for (const l of listeners) l();
    });
  });
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const l of listeners) l();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  let offset = 0;
  if (opts.handshake !== false) {
    const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(1528)]);
    socket.write(Buffer.concat([Buffer.from([3]), c1]));
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (buf.length >= 3073) {
          listeners.delete(check);
          resolve();
        } else if (closed) {
          listeners.delete(check);
          reject(new Error('connection closed during the RTMP handshake'));
        }
      };
      listeners.add(check);
      check();
    });
    socket.write(buf.subarray(1, 1537)); // C2 = S1
    offset = 3073;
  }
  const client: RawRtmp = {
    socket,
    received: () => buf.subarray(offset),
    closedAt,
    isClosed: () => closed,
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    // Resolves false once the server closed the connection without it; the deadline is for broken runs (wait.ts).
    waitFor: (text, timeoutMs = DEADLINE_MS) =>
      new Promise<boolean>((resolve) => {
        const check = () => {
          if (client.received().includes(text, 0, 'latin1')) done(true);
          else if (closed) done(false);
        };
        const timer = setTimeout(() => done(false), timeoutMs);
        const done = (v: boolean) => {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(v);
        };
        listeners.add(check);
        check();
      }),
    destroy: () => socket.destroy(),
  };
  return client;
}

/** connect + createStream + publish(name); resolves with the client once the server answered or closed. */
export async function rawPublish(port: number, name: string, opts: { tcUrl?: string; app?: string } = {}): Promise<{ client: RawRtmp; started: boolean }> {
  const client = await rawRtmp(port);
  client.write(connectCmd(opts.tcUrl ?? `rtmp://127.0.0.1:${port}/${opts.app ?? 'live'}`, opts.app));
  client.write(createStreamCmd());
  client.write(publishCmd(name));
  const started = await client.waitFor('NetStream.Publish.Start');
  return { client, started };
}
