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
    provider: z
      .string()
      .min(1)
      .max(60)
      .regex(/^[a-z0-9_.-]+$/)
      .default('idp'),
    /**
     * Age assurance (Ofcom's codes, France's Arcom referential): the provider asserts the person is at least
     * this old. Only the threshold travels, never a birth date (an unknown key such as `birthDate` is refused).
     */
    ageOver: z.number().int().min(0).max(130).optional(),
    /** How the age was assured: `id_document`, `facial_estimation`, `credit_card`, `digital_id`, … */
    ageSource: z
      .string()
      .min(1)
      .max(60)
      .regex(/^[a-z0-9_.-]+$/)
      .optional(),
    /** When the provider established it (default: when the event was received). */
    ageCheckedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((e) => e.ageOver !== undefined || (e.ageSource === undefined && e.ageCheckedAt === undefined), {
    message: 'ageSource and ageCheckedAt describe an ageOver claim',
    path: ['ageOver'],
  });
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
