import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';

/**
 * Slow clients hold nothing for long on the API port: a WebSocket upgrade (or any request) whose headers
 * trickle in a byte at a time is closed once http.headersTimeoutMs has passed, and the port keeps serving.
 */

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    extra: { http: { host: '127.0.0.1', port: 0, checkResponses: true, headersTimeoutMs: 1_000, requestTimeoutMs: 5_000, maxConnections: 100 } },
  });
});
afterAll(async () => {
  await t?.stop();
});

function trickle(port: number, text: string, everyMs: number): { closed: () => boolean; sent: () => number; stop: () => void } {
  const socket = net.connect(port, '127.0.0.1');
  let closed = false;
  let sent = 0;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  const timer = setInterval(() => {
    if (closed || sent >= text.length) return;
    socket.write(text[sent]!);
    sent++;
  }, everyMs);
  return {
    closed: () => closed,
    sent: () => sent,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

describe('slow clients on the API port', () => {
  it('an upgrade sent a byte every 100 ms is closed after the headers timeout, before its headers are done, and the port still answers', async () => {
    const upgrade =
      'GET /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    // 155 bytes at 10 per second: 15 s to send it all; the headers timeout is 1 s.
    const slow = trickle(t.httpPort, upgrade, 100);
    try {
      await waitFor(() => slow.closed(), 30_000, 'the server to close the slow upgrade');
      expect(slow.sent()).toBeLessThan(upgrade.length);
    } finally {
      slow.stop();
    }
    expect((await t.anon.get('/healthz')).status).toBe(200);
  });
});
