import { createHmac, randomBytes } from 'node:crypto';

/**
 * Reporters are told apart without being identified: a report keeps HMAC-SHA256(key, address), where the
 * key is random, held only in memory and replaced every `rotateMs`. Within a key period the same address
 * gives the same hash (so one person's repeated reports of a stream count once); after rotation nothing
 * links a stored hash back to an address, even for whoever holds the database.
 */
export class SourceHasher {
  private key = randomBytes(32);
  private since: number;

  constructor(
    private readonly rotateMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
  }

  hash(address: string): string {
    const t = this.now();
    if (t - this.since >= this.rotateMs) {
      this.key = randomBytes(32);
      this.since = t;
    }
    return createHmac('sha256', this.key).update(address).digest('hex').slice(0, 32);
  }
}
