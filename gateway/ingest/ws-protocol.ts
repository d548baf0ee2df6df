import { z } from 'zod';
import type { EndReason } from '../live/registry.ts';
import type { RefusalReason } from '../identity/gate.ts';

/**
 * The browser ingest protocol (`ws://HOST:HTTPPORT/ingest`):
 *   1. client → `{"type":"auth","streamKey":"sk_…","container":"webm"|"mp4"}` as the first (text) message,
 *      within the auth timeout. The key travels in the message body, never in the URL, so no access log sees it.
 *   2. server → `{"type":"accepted","streamId":"str_…"}`, or a close with a 40xx code.
 *   3. client → binary media chunks (MediaRecorder `dataavailable` blobs), the first holding the header.
 *   4. server → `{"type":"ended","reason":…,"message":…}` then a close, when the feed is cut.
 */
export const AuthMessageSchema = z
  .object({
    type: z.literal('auth'),
    streamKey: z.string().min(1).max(200),
    container: z.enum(['webm', 'mp4']).default('webm'),
  })
  .strict();
export type AuthMessage = z.infer<typeof AuthMessageSchema>;

/** Close codes (4000–4999 are the application's range). */
export const CloseCode = {
  normal: 1000,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  idle: 4000,
  unauthorized: 4001,
  badMedia: 4002,
  forbidden: 4003,
  authTimeout: 4004,
  badAuthMessage: 4005,
  cut: 4008,
  suspended: 4009,
  serverError: 1011,
  goingAway: 1001,
} as const;

export function refusalCloseCode(reason: RefusalReason): number {
  switch (reason) {
    case 'unknown_key':
    case 'key_revoked':
      return CloseCode.unauthorized;
    case 'suspended':
      return CloseCode.suspended;
    default:
      return CloseCode.forbidden;
  }
}

export function cutCloseCode(reason: EndReason): number {
  if (reason === 'suspended') return CloseCode.suspended;
  if (reason === 'identity_revoked' || reason === 'key_revoked' || reason === 'not_verified') return CloseCode.forbidden;
  if (reason === 'gateway_shutdown') return CloseCode.goingAway;
  return CloseCode.cut;
}

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= 123) return text;
  let cut = 120;
  while (cut > 0 && (buf[cut]! & 0xc0) === 0x80) cut--;
  return `${buf.subarray(0, cut).toString('utf8')}...`;
}

/** Recognizes the start of a WebM (EBML) or MP4 (ISO BMFF box) stream. */
export function looksLikeContainer(chunk: Buffer, container: 'webm' | 'mp4'): boolean {
  if (container === 'webm') return chunk.length >= 4 && chunk.readUInt32BE(0) === 0x1a45dfa3;
  if (chunk.length < 8) return false;
  const type = chunk.toString('latin1', 4, 8);
  return ['ftyp', 'styp', 'moof', 'moov'].includes(type);
}
