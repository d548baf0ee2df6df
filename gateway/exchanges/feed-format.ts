import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { sha256Hex } from '../security/secrets.ts';

/**
 * The page modgate serves to partners (GET /api/v1/exchange/feed) and reads from another modgate
 * (modgate.ts): deltas keyed `<signal_type>:<hash>`, `deleted` a tombstone, and the checkpoint to ask from
 * next. The body is signed: `x-modgate-signature: sha256=<hex HMAC-SHA256 of the body>` keyed by the
 * SHA-256 of the partner's token, which both sides hold (the server stores only that hash), so a page
 * altered on the way, or served by someone without the partner's record, is refused.
 */

export const SEVERITY = z.enum(['low', 'medium', 'high', 'critical']);

export const FeedDelta = z
  .object({
    key: z.string().describe('`<signal_type>:<hash>`'),
    signal_type: z.string(),
    hash: z.string(),
    bank: z.string().describe('The bank on the serving gateway'),
    category: z.string(),
    severity: SEVERITY,
    deleted: z.boolean().describe('A tombstone: the entry was disabled or removed'),
  })
  .meta({ id: 'ExchangeFeedDelta' });

export const FeedPage = z
  .object({
    checkpoint: z.string().describe('Ask from this checkpoint next'),
    more: z.boolean().describe('More changes wait: ask again at once'),
    deltas: z.array(FeedDelta),
  })
  .meta({ id: 'ExchangeFeedPage' });
export type FeedPage = z.infer<typeof FeedPage>;

export const SIGNATURE_HEADER = 'x-modgate-signature';

export function signFeedBody(token: string, body: string): string {
  return signWithTokenHash(sha256Hex(token), body);
}

export function signWithTokenHash(tokenHash: string, body: string): string {
  return `sha256=${createHmac('sha256', Buffer.from(tokenHash, 'hex')).update(body, 'utf8').digest('hex')}`;
}
