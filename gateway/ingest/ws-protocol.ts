import { z } from 'zod';
import type { EndReason } from '../live/registry.ts';
import type { RefusalReason } from '../identity/gate.ts';
import { APPEAL_PAGE } from '../enforcement/streamer-words.ts';

/**
 * The browser ingest protocol (`ws://HOST:HTTPPORT/ingest`):
 *   1. client → `{"type":"auth","streamKey":"sk_…","container":"webm"|"mp4"}` as the first (text) message,
 *      within the auth timeout. The key travels in the message body, never in the URL, so no access log sees it.
 *   2. server → `{"type":"accepted","streamId":"str_…"}`, or a close with a 40xx code.
 *   3. client → binary media chunks (MediaRecorder `dataavailable` blobs), the first holding the header.
 *   4. server → `{"type":"ended","reason":…,"message":…,"suspension":…,"decisionId":…,"appeal":…}` then a close,
 *      when the feed is cut (`EndedMessage`); a publish refused for a suspension gets the same shape as
 *      `{"type":"refused",…}` before its close, because a close reason holds only 123 bytes.
 */
export const AuthMessageSchema = z
  .object({
    type: z.literal('auth'),
    streamKey: z.string().min(1).max(200),
    container: z.enum(['webm', 'mp4']).default('webm'),
  })
  .strict();
export type AuthMessage = z.infer<typeof AuthMessageSchema>;

/**
 * Why a feed ended, in fields a page can show without parsing text: the stable reason code, the
 * streamer-facing words (never a rule id, score or distance), the suspension's end and where to appeal.
 */
export interface EndedMessage {
  type: 'ended' | 'refused';
  reason: string;
  message: string;
  suspension: { endsAt: string | null; permanent: boolean } | null;
  decisionId: string | null;
  /** Where the streamer reads the decision and appeals it (null: nothing to appeal). */
  appeal: { page: string; endpoint: string; decisionId: string | null } | null;
}

export function endedMessage(
  type: EndedMessage['type'],
  reason: string,
  message: string,
  suspension: { endsAt: number | null } | undefined,
  decisionId: string | null,
): EndedMessage {
  const s = suspension
    ? { endsAt: suspension.endsAt === null ? null : new Date(suspension.endsAt).toISOString(), permanent: suspension.endsAt === null }
    : null;
  const appeal = decisionId || s ? { page: APPEAL_PAGE, endpoint: '/api/v1/me/appeals', decisionId } : null;
  return { type, reason, message, suspension: s, decisionId, appeal };
}

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
  /** Too many attempts from this address (config `abuse.wsAuth`); the reason says when to retry. */
  rateLimited: 4029,
  serverError: 1011,
  goingAway: 1001,
} as const;

export function refusalCloseCode(reason: RefusalReason): number {
  switch (reason) {
    case 'unknown_key':
    case 'key_revoked':
      return CloseCode.unauthorized;
    case 'suspended':
    case 'banned':
      return CloseCode.suspended;
    default:
      return CloseCode.forbidden;
  }
}

export function cutCloseCode(reason: EndReason): number {
  if (reason === 'suspended' || reason === 'banned') return CloseCode.suspended;
  if (reason === 'identity_revoked' || reason === 'key_revoked' || reason === 'not_verified' || reason === 'under_age') return CloseCode.forbidden;
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

/** How much of a stream's start the ingest holds while it waits to recognise the container header. */
export const HEADER_PREFIX_MAX_BYTES = 64 * 1024;

export type Sniff = 'match' | 'mismatch' | 'need_more';

const EBML_MAGIC = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);
const EBML_DOCTYPE_ID = 0x4282;
const MP4_FIRST_BOXES = ['ftyp', 'styp', 'moof', 'moov'];

/**
 * Judges the bytes received so far (`prefix`, the concatenation of the first binary messages) as the start
 * of a WebM (EBML header with DocType webm/matroska) or MP4 (a top-level ftyp/styp/moof/moov box) stream.
 * `need_more` while the prefix is consistent with a header but too short to tell: Chromium's MediaRecorder
 * sends a 1-byte first chunk (`1a`) and the rest of the EBML header in the next, so judging the first
 * message alone refuses every real browser. The caller bounds the prefix (HEADER_PREFIX_MAX_BYTES).
 */
export function sniffContainer(prefix: Buffer, container: 'webm' | 'mp4'): Sniff {
  return container === 'webm' ? sniffWebm(prefix) : sniffMp4(prefix);
}

function sniffWebm(b: Buffer): Sniff {
  const n = Math.min(b.length, 4);
  if (!b.subarray(0, n).equals(EBML_MAGIC.subarray(0, n))) return 'mismatch';
  if (b.length < 5) return 'need_more';
  const size = readVint(b, 4);
  if (size === 'short') return 'need_more';
  if (size === null || size.value > 4096) return 'mismatch'; // an EBML header is a few dozen bytes
  const end = 4 + size.length + size.value;
  if (b.length < end) return 'need_more';
  // Walk the header's children for DocType.
  let at = 4 + size.length;
  while (at < end) {
    const id = readElementId(b, at);
    if (id === null) return 'mismatch';
    const len = readVint(b, at + id.length);
    if (len === null || len === 'short') return 'mismatch';
    const dataAt = at + id.length + len.length;
    if (dataAt + len.value > end) return 'mismatch';
    if (id.value === EBML_DOCTYPE_ID) {
      const docType = b.toString('latin1', dataAt, dataAt + len.value).replace(/\0+$/, '');
      return docType === 'webm' || docType === 'matroska' ? 'match' : 'mismatch';
    }
    at = dataAt + len.value;
  }
  return 'mismatch';
}

function sniffMp4(b: Buffer): Sniff {
  if (b.length >= 4) {
    const size = b.readUInt32BE(0);
    if (size !== 0 && size !== 1 && size < 8) return 'mismatch';
  }
  const typed = b.toString('latin1', Math.min(4, b.length), Math.min(8, b.length));
  if (!MP4_FIRST_BOXES.some((t) => t.startsWith(typed))) return 'mismatch';
  return b.length >= 8 ? 'match' : 'need_more';
}

/** An EBML element id (1–4 bytes, marker bits kept), or null when malformed or cut short. */
function readElementId(b: Buffer, at: number): { value: number; length: number } | null {
  const first = b[at];
  if (first === undefined || first === 0) return null;
  const length = Math.clz32(first) - 23; // leading zeros within the byte, plus one
  if (length > 4 || at + length > b.length) return null;
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + b[at + i]!;
  return { value, length };
}

/** An EBML variable-size integer (marker bit removed); 'short' when the buffer ends inside it. */
function readVint(b: Buffer, at: number): { value: number; length: number } | null | 'short' {
  const first = b[at];
  if (first === undefined) return 'short';
  if (first === 0) return null;
  const length = Math.clz32(first) - 23;
  if (at + length > b.length) return 'short';
  let value = first & (0xff >> length);
  for (let i = 1; i < length; i++) value = value * 256 + b[at + i]!;
  return { value, length };
}
