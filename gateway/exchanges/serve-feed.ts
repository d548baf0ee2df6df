import type { Kysely } from 'kysely';
import type { Database, Dialect } from '../store/schema.ts';
import { latestSeq, readFeedAt } from './feed.ts';
import { signWithTokenHash } from './feed-format.ts';
import { authenticatePartner, partnerBanks } from './partners.ts';

/** How often a waiting long-poll looks for a new change (one indexed max() per look). */
const POLL_MS = 100;

let servedDeltas = 0;
/** Deltas served to partners since start (metrics). */
export const feedDeltaCount = (n: number) => (servedDeltas += n);
export const feedDeltasServed = () => servedDeltas;

export type Served = { status: 'ok'; body: string; signature: string; deltas: number } | { status: 'unauthorized' } | { status: 'bad_checkpoint' };

/** One long-poll of the feed for the partner holding `token`. */
export async function serveFeed(
  db: Kysely<Database>,
  dialect: Dialect,
  token: string,
  q: { checkpoint?: string | undefined; wait: number; limit: number },
  closed: AbortSignal,
): Promise<Served> {
  const partner = await authenticatePartner(db, token);
  if (!partner) return { status: 'unauthorized' };
  const banks = partnerBanks(partner);
  const deadline = Date.now() + q.wait * 1000;
  let page = await readFeedAt(db, dialect, banks, q.checkpoint, q.limit);
  if (!page) return { status: 'bad_checkpoint' };
  while (page.deltas.length === 0 && !page.more && Date.now() < deadline && !closed.aborted) {
    // SQLite: one indexed max() per look tells whether anything landed. PostgreSQL: the floor read is as
    // cheap (an indexed window), and only it sees a change committed late with a lower sequence.
    if (dialect !== 'postgres' && (await latestSeq(db, banks)) <= Number(page.checkpoint.split('.')[0])) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    if (dialect === 'postgres') await new Promise((r) => setTimeout(r, POLL_MS));
    // Changes that resolve to nothing (a derived entry) move the checkpoint on; keep waiting from there.
    page = (await readFeedAt(db, dialect, banks, page.checkpoint, q.limit))!;
  }
  await db.updateTable('exchange_partners').set({ last_seen_at: Date.now(), last_checkpoint: page.checkpoint }).where('id', '=', partner.id).execute();
  const body = JSON.stringify(page);
  return { status: 'ok', body, signature: signWithTokenHash(partner.token_hash, body), deltas: page.deltas.length };
}
