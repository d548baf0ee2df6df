/**
 * What kind of media message an FLV tag body is, as node-media-server's `Flv.parserTag` classifies it
 * (its flags: 0 audio config, 1 audio, 2 video config, 3 keyframe, 4 inter frame, 5 metadata), read in
 * place: the ingest fills one reused packet per connection instead of an object per message.
 * test/gateway/relay.test.ts checks it against node-media-server's own classification.
 */

const AUDIO = 8;
const VIDEO = 9;
const SCRIPT = 18;

/** Enhanced-RTMP FourCCs node-media-server knows: av01, vp09, hvc1. */
const KNOWN_FOURCC = new Set([0x61763031, 0x76703039, 0x68766331]);

/** The flags of a tag, or -1 for a tag node-media-server would not classify (relayed, never cached). */
export function tagFlags(type: number, data: Buffer, size: number): number {
  if (type === AUDIO) {
    if (size < 1) return 1;
    const format = data[0]! >> 4;
    if (format === 9) return (data[0]! & 0x0f) === 0 ? 0 : 1; // ExHeader: AudioPacketType SequenceStart
    return format === 10 && size > 1 && data[1] === 0 ? 0 : 1; // AAC sequence header
  }
  if (type === VIDEO) {
    if (size < 1) return -1;
    const b0 = data[0]!;
    const frameType = (b0 >> 4) & 0b0111;
    if ((b0 & 0x80) !== 0) {
      if (size < 5 || !KNOWN_FOURCC.has(data.readUInt32BE(1))) return -1;
      const packetType = b0 & 0x0f;
      if (packetType === 0) return 2;
      if (packetType === 1 || packetType === 3) return frameType === 1 ? 3 : 4;
      if (packetType === 4) return 6;
      return -1;
    }
    if ((b0 & 0x0f) !== 7) return 4; // not H.264: never a keyframe for node-media-server
    if (size < 2) return -1;
    if (data[1] === 0) return 2;
    return frameType === 1 ? 3 : 4;
  }
  if (type === SCRIPT) return 5;
  return -1;
}
