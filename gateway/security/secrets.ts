import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 24 random bytes = 192 bits, base64url: only [A-Za-z0-9_-], node-media-server's stream-name rule. */
export function newStreamKey(): string {
  return `sk_${randomBytes(24).toString('base64url')}`;
}

export function newAdminToken(): string {
  return `mg_${randomBytes(32).toString('base64url')}`;
}

/** Streamer-facing token (appeals, status), issued with the stream key. */
export function newAccountToken(): string {
  return `at_${randomBytes(32).toString('base64url')}`;
}

/** Keys and tokens are high-entropy random strings, so a plain SHA-256 is the right at-rest hash (no salt/KDF needed). */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && ab.length > 0 && timingSafeEqual(ab, bb);
}

/** Sortable, unique ids: time prefix + randomness, with a type prefix for readability in logs and URLs. */
export function newId(prefix: string, now = Date.now()): string {
  return `${prefix}_${now.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

/** Key shape check before any lookup, so garbage never reaches the database. */
export const STREAM_KEY_RE = /^sk_[A-Za-z0-9_-]{32}$/;

/** A partner's token for this gateway's exchange feed (GET /api/v1/exchange/feed); stored as its SHA-256. */
export function newPartnerToken(): string {
  return `px_${randomBytes(32).toString('base64url')}`;
}

export const PARTNER_TOKEN_RE = /^px_[A-Za-z0-9_-]{43}$/;

/**
 * Outbound credentials (an exchange's API key or password) cannot be stored as a hash the way our own
 * tokens are: the gateway has to present them. They are sealed with AES-256-GCM under the gateway's
 * secret key (gateway/security/secret-key.ts), so a database dump or backup alone does not reveal them,
 * and the API never returns them.
 */
export function sealSecret(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** Opens a sealed secret; throws when it was sealed under another key or tampered with. */
export function openSecret(key: Buffer, sealed: string): string {
  if (!sealed.startsWith('v1.')) throw new Error('not a sealed secret');
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  if (raw.length < 28) throw new Error('sealed secret too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
