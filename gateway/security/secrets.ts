import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
