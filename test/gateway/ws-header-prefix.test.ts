import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, sniffContainer } from '../../gateway/ingest/ws-protocol.ts';
import { FFMPEG, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { webmFixture, wsPublish, type WsPublisher } from '../helpers/ws-publisher.ts';

/**
 * The WebSocket ingest judges the container on the first bytes, not the first message: Chromium's
 * MediaRecorder sends `1a` alone, then the rest of the EBML header.
 */

let t: TestGateway;
let webm: string;
const clients: WsPublisher[] = [];

beforeAll(async () => {
  [t, webm] = await Promise.all([startTestGateway(), webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG)]);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await t?.stop();
});

describe('sniffContainer', () => {
  it('waits on a prefix of a WebM header, accepts it once the EBML header is whole, refuses what contradicts it', () => {
    const file = readFileSync(webm);
    expect(sniffContainer(file.subarray(0, 1), 'webm')).toBe('need_more');
    expect(sniffContainer(file.subarray(0, 4), 'webm')).toBe('need_more');
    expect(sniffContainer(file.subarray(0, 4096), 'webm')).toBe('match');
    expect(sniffContainer(Buffer.from([0x1b]), 'webm')).toBe('mismatch');
    expect(sniffContainer(Buffer.from([0x1a, 0x45, 0x00]), 'webm')).toBe('mismatch');
    // An EBML header of another document type (not WebM/Matroska).
    const other = Buffer.from(file.subarray(0, 64));
    other.write('xxxx', other.indexOf('webm', 0, 'latin1'), 'latin1');
    expect(sniffContainer(other, 'webm')).toBe('mismatch');
  });

  it('recognises the first box of a fragmented MP4, byte by byte', () => {
    const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom', 'latin1'), Buffer.alloc(12)]);
    for (let n = 1; n < 8; n++) expect(sniffContainer(ftyp.subarray(0, n), 'mp4'), `${n} bytes`).toBe('need_more');
    expect(sniffContainer(ftyp, 'mp4')).toBe('match');
    expect(sniffContainer(Buffer.from([0, 0, 0, 0x18, 0x66, 0x72, 0x65, 0x65]), 'mp4')).toBe('mismatch'); // 'free'
    expect(sniffContainer(Buffer.from([0, 0, 0, 4]), 'mp4')).toBe('mismatch');
  });
});

describe('WebSocket ingest with a header split across messages', () => {
  it("a 1-byte first chunk (Chromium's MediaRecorder) goes live, and consumers get the whole header as the first chunk", async () => {
    const a = await t.account('ws-split');
    const c = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, file: webm, fileDurationSec: 20, firstChunkBytes: 1 });
    clients.push(c);
    const id = (await c.accepted)!;
    const live = await waitFor(() => t.gw.registry.get(id), 10_000, 'the live stream');
    await waitFor(() => live.media!.header, 10_000, 'the media header');
    expect(live.media!.header!.length).toBeGreaterThan(1);
    expect(live.media!.header!.readUInt32BE(0)).toBe(0x1a45dfa3);
    const received: Buffer[] = [];
    live.media!.subscribe((chunk) => received.push(chunk));
    await waitFor(() => received.length >= 3, 10_000, 'three chunks');
    expect(received[0]!.readUInt32BE(0)).toBe(0x1a45dfa3); // the replayed header
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it('bytes that never form a header are refused with 4002 within the 64 KiB prefix', async () => {
    const a = await t.account('ws-never-header');
    const c = wsPublish({ url: t.wsUrl, streamKey: a.streamKey });
    clients.push(c);
    const id = (await c.accepted)!;
    // Consistent with a header for 4 bytes, then an EBML size that claims a huge header.
    c.ws.send(Buffer.from([0x1a]), { binary: true });
    c.ws.send(Buffer.from([0x45, 0xdf, 0xa3, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), { binary: true });
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.badMedia);
    const row = await waitFor(
      async () =>
        (await t.gw.store.db.selectFrom('streams').select('end_reason').where('id', '=', id).where('ended_at', 'is not', null).executeTakeFirst()) ?? null,
      10_000,
      'the end record',
    );
    expect(row.end_reason).toBe('protocol_error');
  });

  it('an MP4 stream whose first box is not ftyp/styp/moof/moov is refused, even when sent byte by byte', async () => {
    const a = await t.account('ws-mp4-slow');
    const c = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, authText: JSON.stringify({ type: 'auth', streamKey: a.streamKey, container: 'mp4' }) });
    clients.push(c);
    await c.accepted;
    // Each byte alone is consistent with an MP4 box size; 'zzzz' as a type is not.
    for (const b of [0, 0, 0, 0x20]) c.ws.send(Buffer.from([b]), { binary: true });
    c.ws.send(Buffer.from('zzzz', 'latin1'), { binary: true });
    expect((await c.closed).code).toBe(CloseCode.badMedia);
  });
});
