import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFlvTags, replayPublish, RtmpMessageWriter, type FlvTag, type ReplayPublisher } from '../helpers/flv-replay.ts';
import { FFMPEG, readFrames, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';

/**
 * The in-process FLV replayer the benchmarks use as their load generator, against a real gateway: its
 * publish is accepted and relayed (a real ffmpeg decodes the play path), it is paced in real time and
 * loops with increasing timestamps, and a cut through the registry shows as `closed` by the server.
 */

let t: TestGateway;
let dir: string;
let tags: FlvTag[];
const publishers: ReplayPublisher[] = [];

/** A 2 s 320x240 15 fps H.264 (B-frames, 1 s GOP) + AAC FLV, as ffmpeg writes it. */
function makeFlv(file: string): Promise<void> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x240:rate=15',
    '-f',
    'lavfi',
    '-i',
    'sine',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '2',
    '-g',
    '15',
    '-b:v',
    '300k',
    '-c:a',
    'aac',
    '-t',
    '2',
    '-f',
    'flv',
    file,
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modgate-replay-'));
  const file = path.join(dir, 'clip.flv');
  [t] = await Promise.all([startTestGateway(), makeFlv(file)]);
  tags = readFlvTags(readFileSync(file));
});
afterAll(async () => {
  for (const p of publishers) p.stop();
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function publish(handle: string, opts: { loop?: boolean; onTagSent?: (tag: FlvTag, wallMs: number) => void } = {}): Promise<ReplayPublisher> {
  const a = await t.account(handle);
  const p = await replayPublish({ port: t.rtmpPort, streamKey: a.streamKey, tags, ...opts });
  publishers.push(p);
  return p;
}

const liveOf = (handle: string) => waitFor(() => t.gw.registry.list().find((s) => s.handle === handle), 5_000, `${handle} live`);

describe('readFlvTags', () => {
  it('parses the header and every tag, and refuses truncated or inconsistent files', () => {
    expect(tags[0]).toMatchObject({ type: 18, timestamp: 0 });
    expect(tags.some((x) => x.type === 9 && x.body[1] === 0)).toBe(true); // AVC sequence header
    expect(tags.some((x) => x.type === 8 && x.body[1] === 0)).toBe(true); // AAC sequence header
    const lastVideo = tags.filter((x) => x.type === 9).at(-1)!;
    expect(lastVideo.timestamp).toBeGreaterThan(1800);

    const file = Buffer.concat([Buffer.from('FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00', 'latin1'), tagBytes(9, 40, Buffer.from([0x17, 1, 0, 0, 0, 0xaa]))]);
    expect(readFlvTags(file)).toEqual([{ type: 9, timestamp: 40, body: Buffer.from([0x17, 1, 0, 0, 0, 0xaa]) }]);
    expect(() => readFlvTags(file.subarray(0, file.length - 1))).toThrow(/truncated/);
    const badPrev = Buffer.from(file);
    badPrev.writeUInt32BE(99, badPrev.length - 4);
    expect(() => readFlvTags(badPrev)).toThrow(/PreviousTagSize/);
    expect(() => readFlvTags(Buffer.from('FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00', 'latin1'))).toThrow(/FLV/);
  });
});

function tagBytes(type: number, ts: number, body: Buffer): Buffer {
  const h = Buffer.alloc(11);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  h.writeUIntBE(ts & 0xffffff, 4, 3);
  h[7] = ts >>> 24;
  const prev = Buffer.alloc(4);
  prev.writeUInt32BE(body.length + 11);
  return Buffer.concat([h, body, prev]);
}

describe('RTMP chunking', () => {
  it("node-media-server's parser reads back type-0/type-1 headers, multi-chunk messages and extended timestamps", () => {
    const Rtmp = createRequire(import.meta.url)('node-media-server/src/protocol/rtmp.js') as new () => {
      inChunkSize: number;
      onPacketCallback: (p: { codec_type: number; dts: number; size: number }) => void;
      chunkRead(data: Buffer, p: number, bytes: number): void;
    };
    const parser = new Rtmp();
    parser.inChunkSize = 4096;
    const got: number[][] = [];
    parser.onPacketCallback = (p) => got.push([p.codec_type, p.dts, p.size]);
    const w = new RtmpMessageWriter(4096);
    // First message at an extended timestamp (type 0), then deltas below and above 0xFFFFFF (type 1), then a step back (type 0 again).
    const want = [
      [9, 0x1000005, 9000],
      [8, 0x1000005, 7],
      [9, 0x1000005 + 40, 4096],
      [9, 0x1000005 + 40 + 0xffffff + 3, 4097],
      [8, 0x1000005 + 40 + 0xffffff + 3, 7],
      [9, 100, 12288],
    ];
    const bytes = Buffer.concat([
      w.encode(want.slice(0, 3).map(([type, timestamp, len]) => ({ type: type!, timestamp: timestamp!, payload: Buffer.alloc(len!, 0x17) }))),
      w.encode(want.slice(3).map(([type, timestamp, len]) => ({ type: type!, timestamp: timestamp!, payload: Buffer.alloc(len!, 0xaf) }))),
    ]);
    for (let off = 0; off < bytes.length; off += 777) parser.chunkRead(bytes, off, Math.min(777, bytes.length - off));
    expect(got).toEqual(want);
  });
});

describe('replayPublish against a real gateway', () => {
  it('is accepted, relayed decodably, paced in real time, loops with increasing timestamps, and sees a registry cut as closed by the server', async () => {
    const sent: Array<{ type: number; ts: number; wall: number }> = [];
    const p = await publish('replay-ok', { loop: true, onTagSent: (tag, wall) => sent.push({ type: tag.type, ts: tag.timestamp, wall }) });
    await p.published;
    const s = await liveOf('replay-ok');
    expect(s.protocol).toBe('rtmp');

    const read = await readFrames(t.playUrl(s.id), { frames: 10 });
    expect(read.frames, read.stderr).toBe(10);

    // Past the end of the 2 s file: the replay went on from the start, and the player still decodes.
    await waitFor(() => p.loops >= 1 && sent.some((x) => x.type === 9 && x.ts > 2_300), 6_000, 'a loop');
    const again = await readFrames(t.playUrl(s.id), { frames: 10 });
    expect(again.frames, again.stderr).toBe(10);

    // Real time: a media timestamp never goes out ahead of its wall time (a burst of the whole file would
    // be ~2 s early). How late it may go is the event loop's business on a loaded machine, not asserted.
    const media = sent.filter((x) => x.type === 8 || x.type === 9);
    const w0 = media[0]!.wall - media[0]!.ts;
    for (const x of media) expect(x.wall - w0 - x.ts).toBeGreaterThan(-100);
    // Each track's timestamps keep increasing across the loop; only one metadata tag and one header per track.
    for (const type of [8, 9]) {
      const ts = sent.filter((x) => x.type === type).map((x) => x.ts);
      for (let i = 1; i < ts.length; i++) expect(ts[i]!).toBeGreaterThanOrEqual(ts[i - 1]!);
    }
    expect(sent.filter((x) => x.type === 18)).toHaveLength(1);
    expect(p.bytesSent).toBeGreaterThan(50_000);

    const cutAt = Date.now();
    await t.gw.registry.cut(s.id, { reason: 'cut', message: 'replay test', actor: 'test' });
    const closed = await p.closed;
    expect(closed.by).toBe('server');
    // Closed by the cut, not before it (cut latency is measured in scripts/bench/gateway.ts).
    expect(closed.at).toBeGreaterThanOrEqual(cutAt - 50);
  });

  it('a refused key rejects `published`, and the server closed the connection', async () => {
    const p = await replayPublish({ port: t.rtmpPort, streamKey: `sk_${'x'.repeat(32)}`, tags });
    publishers.push(p);
    await expect(p.published).rejects.toThrow(/refused/);
    expect((await p.closed).by).toBe('server');
    expect(p.tagsSent).toBe(0);
  });

  it('without loop the publisher closes after the last tag; stop() closes by the client', async () => {
    const once = await publish('replay-once');
    await once.published;
    await liveOf('replay-once');
    const done = await once.closed;
    expect(done.by).toBe('client');
    expect(once.loops).toBe(0);
    await t.waitForNoStream('replay-once', 5_000);

    const stopped = await publish('replay-stop', { loop: true });
    await stopped.published;
    await liveOf('replay-stop');
    stopped.stop();
    expect((await stopped.closed).by).toBe('client');
    await t.waitForNoStream('replay-stop', 5_000);
  });
});
