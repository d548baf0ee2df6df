import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * Identity-verification provider webhook. The provider signs `<timestamp>.<raw body>` with HMAC-SHA256
 * under the shared secret and sends:
 *   X-Modgate-Timestamp: <unix seconds>
 *   X-Modgate-Signature: sha256=<hex>
 */
export const IdentityEventSchema = z
  .object({
    id: z.string().min(1).max(200),
    type: z.enum(['identity.verified', 'identity.pending', 'identity.revoked', 'identity.failed']),
    handle: z.string().min(1).max(40),
    /** The provider's opaque id of the verified person. */
    subject: z.string().min(1).max(200).optional(),
    provider: z.string().min(1).max(60).regex(/^[a-z0-9_.-]+$/).default('idp'),
  })
  .strict();
export type IdentityEvent = z.infer<typeof IdentityEventSchema>;

export function signWebhook(secret: string, timestamp: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing_signature' | 'bad_signature' | 'stale' };

export function checkSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: string,
  nowMs: number,
  toleranceSeconds: number,
): SignatureCheck {
  if (!headers.timestamp || !headers.signature) return { ok: false, reason: 'missing_signature' };
  if (!/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: 'bad_signature' };
  const ts = Number(headers.timestamp);
  const expected = Buffer.from(signWebhook(secret, ts, rawBody));
  const given = Buffer.from(headers.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad_signature' };
  // Checked after the signature so an attacker learns nothing about the clock from unsigned probes.
  if (Math.abs(nowMs / 1000 - ts) > toleranceSeconds) return { ok: false, reason: 'stale' };
  return { ok: true };
}
