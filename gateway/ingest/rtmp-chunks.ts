/**
 * RTMP chunk serialization of one media message, as the relay sends it to players: a type-0 chunk on the
 * media's chunk stream, then type-3 continuations every `CHUNK_SIZE` bytes (the size node-media-server
 * announces to every client at `connect`). Byte-identical to node-media-server's `Rtmp.createMessage`
 * (test/gateway/relay.test.ts checks it), in one unfilled allocation instead of five zero-filled ones.
 */

/** node-media-server's outgoing chunk size (RTMP_MAX_CHUNK_SIZE, sent as Set Chunk Size at connect). */
export const CHUNK_SIZE = 0xffff;

/** Chunk stream ids node-media-server uses per message type. */
function csidOf(type: number): number {
  return type === 8 ? 4 : type === 9 ? 5 : type === 18 ? 6 : 0;
}

/** The serialized size of a message of `size` payload bytes. */
export function chunkedLength(size: number, extended: boolean): number {
  const continuations = size > 0 ? Math.ceil(size / CHUNK_SIZE) - 1 : 0;
  return 12 + (extended ? 4 : 0) + size + continuations * (1 + (extended ? 4 : 0));
}

/** Serializes `payload[offset, offset + size)` as one RTMP message (type 8/9/18, message stream 0). */
export function rtmpMessage(type: number, timestamp: number, payload: Buffer, offset: number, size: number): Buffer {
  const csid = csidOf(type);
  const extended = timestamp >= 0xffffff;
  const out = Buffer.allocUnsafe(chunkedLength(size, extended));
  out[0] = csid; // fmt 0
  out.writeUIntBE(extended ? 0xffffff : timestamp, 1, 3);
  out.writeUIntBE(size, 4, 3);
  out[7] = type;
  out.writeUInt32LE(0, 8);
  let o = 12;
  if (extended) o = out.writeUInt32BE(timestamp >>> 0, o);
  let done = 0;
  while (done < size) {
    if (done > 0) {
      out[o++] = 0xc0 | csid; // fmt 3
      if (extended) o = out.writeUInt32BE(timestamp >>> 0, o);
    }
    const n = Math.min(CHUNK_SIZE, size - done);
    payload.copy(out, o, offset + done, offset + done + n);
    o += n;
    done += n;
  }
  return out;
}
