import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { tagFlags } from '../../gateway/ingest/flv-tag.ts';
import type { NmsPacket, RelaySubscriber } from '../../gateway/ingest/nms-adapter.ts';
import { Relay } from '../../gateway/ingest/relay.ts';
import { CHUNK_SIZE, rtmpMessage } from '../../gateway/ingest/rtmp-chunks.ts';
import { endStatus } from '../../gateway/ingest/rtmp.ts';

/**
 * The lean relay's parts against node-media-server's own code where they replace it: the chunk
 * serializer byte for byte against `Rtmp.createMessage`, the tag classification against
 * `Flv.parserTag`; and the GOP cache's bounds.
 */

const require = createRequire(import.meta.url);
const NmsRtmp = require('node-media-server/src/protocol/rtmp.js') as { createMessage(p: NmsPacket): Buffer };
const NmsFlv = require('node-media-server/src/protocol/flv.js') as { parserTag(type: number, time: number, size: number, data: Buffer): NmsPacket };

function packet(codec_type: number, flags: number, dts: number, body: Buffer, spare = 0): NmsPacket {
  // A reused parser buffer is longer than the message: only `size` bytes count.
  const data = Buffer.alloc(body.length + spare, 0xee);
  body.copy(data);
  return { codec_type, flags, dts, size: body.length, data };
}

const fill = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('RTMP chunk serializer', () => {
  const cases: Array<[string, number, number, number]> = [
    ['small audio', 8, 40, 7],
    ['video of one chunk', 9, 1234, 4000],
    ['video of exactly one chunk size', 9, 99, CHUNK_SIZE],
    ['video over several chunks', 9, 5000, CHUNK_SIZE * 2 + 17],
    ['metadata', 18, 0, 300],
    ['an extended timestamp over several chunks', 9, 0x1234567, CHUNK_SIZE + 5],
  ];
  for (const [name, type, dts, size] of cases) {
    it(`${name}: identical to node-media-server's Rtmp.createMessage`, () => {
      const p = packet(type, 1, dts, fill(size, type), 100);
      expect(rtmpMessage(type, dts, p.data, 0, p.size).equals(NmsRtmp.createMessage(p))).toBe(true);
    });
  }
});

it('an empty message is a whole 12-byte header (node-media-server cuts it to 11 bytes)', () => {
  const m = rtmpMessage(9, 10, Buffer.alloc(0), 0, 0);
  expect(m.toString('hex')).toBe('05' + '00000a' + '000000' + '09' + '00000000');
  expect(NmsRtmp.createMessage(packet(9, 1, 10, Buffer.alloc(0)))).toHaveLength(11);
});

describe('FLV tag classification', () => {
  const avc = (frameType: number, packetType: number) => Buffer.from([(frameType << 4) | 7, packetType, 0, 0, 0, 1, 2, 3]);
  const ex = (frameType: number, packetType: number, fourcc: string) =>
    Buffer.concat([Buffer.from([0x80 | (frameType << 4) | packetType]), Buffer.from(fourcc), Buffer.from([0, 0, 0, 9, 9])]);
  const tags: Array<[string, number, Buffer]> = [
    ['AAC sequence header', 8, Buffer.from([0xaf, 0x00, 0x12, 0x10])],
    ['AAC frame', 8, Buffer.from([0xaf, 0x01, 0x21, 0x00])],
    ['MP3 frame', 8, Buffer.from([0x2f, 0xff, 0xfb])],
    ['enhanced audio sequence start', 8, Buffer.from([0x90, 0x4f, 0x70, 0x75, 0x73])],
    ['enhanced audio frame', 8, Buffer.from([0x91, 0x4f, 0x70, 0x75, 0x73, 0x00])],
    ['AVC sequence header', 9, avc(1, 0)],
    ['AVC keyframe', 9, avc(1, 1)],
    ['AVC inter frame', 9, avc(2, 1)],
    ['AVC end of sequence on a keyframe', 9, avc(1, 2)],
    ['VP6 frame', 9, Buffer.from([0x14, 0, 0, 0, 0, 1])],
    ['HEVC sequence start', 9, ex(1, 0, 'hvc1')],
    ['HEVC coded keyframe', 9, ex(1, 1, 'hvc1')],
    ['HEVC coded frames X', 9, ex(2, 3, 'hvc1')],
    ['AV1 inter frame', 9, ex(2, 1, 'av01')],
    ['VP9 metadata', 9, ex(1, 4, 'vp09')],
    ['script data', 18, Buffer.from([0x02, 0x00, 0x0a])],
  ];
  for (const [name, type, body] of tags) {
    it(`${name}: the flags node-media-server gives it`, () => {
      const data = Buffer.concat([body, Buffer.alloc(16)]);
      expect(tagFlags(type, data, body.length)).toBe(NmsFlv.parserTag(type, 0, body.length, data).flags);
    });
  }
  it('a tag node-media-server would misfile as an audio header (unknown FourCC, sequence end) is -1: relayed, never cached', () => {
    expect(tagFlags(9, ex(1, 1, 'xxxx'), 10)).toBe(-1);
    expect(tagFlags(9, ex(1, 2, 'hvc1'), 10)).toBe(-1);
    expect(tagFlags(9, Buffer.alloc(0), 0)).toBe(-1);
  });
});

class Player implements RelaySubscriber {
  protocol = 'rtmp';
  got: Buffer[] = [];
  sendBuffer(b: Buffer) {
    this.got.push(b);
  }
}

describe('Relay', () => {
  it('a joining player gets headers and the current GOP as node-media-server serializes them, from copies of reused buffers', () => {
    const relay = new Relay(1024 * 1024);
    const scratch = Buffer.alloc(2048);
    const send = (type: number, flags: number, dts: number, body: Buffer) => {
      body.copy(scratch);
      relay.onMessage({ codec_type: type, flags, dts, size: body.length, data: scratch }, [], false);
      scratch.fill(0xaa); // the parser reuses its buffer for the next message
    };
    send(18, 5, 0, fill(50, 1));
    send(8, 0, 0, fill(4, 2));
    send(9, 2, 0, fill(30, 3));
    send(9, 3, 40, fill(900, 4));
    send(8, 1, 46, fill(200, 5));
    send(9, 4, 80, fill(300, 6));
    send(9, 3, 120, fill(700, 7)); // a new GOP replaces the old one
    send(9, 4, 160, fill(100, 8));
    const expected = (type: number, dts: number, body: Buffer) => NmsRtmp.createMessage({ codec_type: type, flags: 0, dts, size: body.length, data: body });
    expect(relay.metaData()!.equals(expected(18, 0, fill(50, 1)))).toBe(true);
    expect(relay.audioHeader()!.equals(expected(8, 0, fill(4, 2)))).toBe(true);
    expect(relay.videoHeader()!.equals(expected(9, 0, fill(30, 3)))).toBe(true);
    const gop = relay.gop()!;
    expect(gop.map((m) => m.toString('hex'))).toEqual([expected(9, 120, fill(700, 7)), expected(9, 160, fill(100, 8))].map((m) => m.toString('hex')));
    expect(relay.gop()).toBe(gop); // read twice by postPlay: serialized once
    expect(relay.gopBytes).toBe(800);
  });

  it('live messages are serialized once for all players and not at all without players', () => {
    const relay = new Relay();
    const a = new Player();
    const b = new Player();
    relay.onMessage(packet(9, 3, 0, fill(100, 1)), [], false);
    relay.onMessage(packet(9, 4, 33, fill(100, 2), 50), [a, b, { protocol: 'flv', sendBuffer: () => expect.unreachable() }], true);
    expect(a.got).toHaveLength(1);
    expect(b.got[0]).toBe(a.got[0]);
    expect(a.got[0]!.equals(NmsRtmp.createMessage(packet(9, 4, 33, fill(100, 2))))).toBe(true);
  });

  it('the GOP cache is bounded by bytes: a GOP that outgrows it is dropped until the next keyframe', () => {
    const relay = new Relay(10_000);
    relay.onMessage(packet(9, 3, 0, fill(4_000, 1)), [], false);
    relay.onMessage(packet(9, 4, 33, fill(4_000, 2)), [], false);
    expect(relay.gop()).toHaveLength(2);
    relay.onMessage(packet(9, 4, 66, fill(4_000, 3)), [], false);
    expect(relay.gop()).toBeNull();
    expect(relay.gopBytes).toBe(0);
    relay.onMessage(packet(9, 4, 99, fill(10, 4)), [], false);
    expect(relay.gop()).toBeNull();
    relay.onMessage(packet(9, 3, 132, fill(5_000, 5)), [], false);
    expect(relay.gop()).toHaveLength(1);
  });

  it('clear() (a finished publish) forgets headers and the GOP', () => {
    const relay = new Relay();
    relay.onMessage(packet(9, 2, 0, fill(10, 1)), [], false);
    relay.onMessage(packet(9, 3, 0, fill(10, 1)), [], false);
    relay.clear();
    expect([relay.videoHeader(), relay.gop()]).toEqual([null, null]);
  });
});

describe('what a publisher is told when its stream ends', () => {
  it('a policy cut names the decision for an appeal, never its scores or distances', () => {
    const s = endStatus({
      reason: 'cut',
      message: 'bank match: closest distance 16 (limit 31)',
      actor: 'policy',
      detail: { decisionId: 'dec_1', ruleId: 'r' },
    });
    expect(s).toMatchObject({ level: 'error', code: 'NetStream.Publish.Denied' });
    expect(s.description).toBe('cut: ended by the moderation policy; to appeal decision dec_1, open /broadcast (your status) or POST /api/v1/me/appeals');
  });
  it('a gate cut carries the gate message; a moderator cut says so; a shutdown is a status, not an error', () => {
    expect(endStatus({ reason: 'key_revoked', message: 'this stream key has been revoked', actor: 'gate-sync' }).description).toBe(
      'key_revoked: this stream key has been revoked',
    );
    expect(endStatus({ reason: 'cut', message: 'internal note', actor: 'token:x' }).description).toBe('cut: ended by a moderator');
    expect(endStatus({ reason: 'gateway_shutdown', message: 'x', actor: 'system' })).toMatchObject({ level: 'status', code: 'NetStream.Unpublish.Success' });
  });
});
