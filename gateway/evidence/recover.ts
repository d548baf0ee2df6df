import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { EvidenceStore } from './store.ts';

/**
 * A decision is committed before its evidence is copied out of the live area (the cut must not wait for
 * file copies); a crash (`kill -9`) in between leaves a decision citing live evidence that the sweep would
 * delete after `liveRetentionHours`. This finds such decisions and pins their evidence now: at start, and
 * before every sweep, so no sweep can delete evidence a decision cites. A node can only pin the files in
 * its own data directory (the node that sampled the stream); the others find nothing to copy.
 */
export async function pinUnpinnedEvidence(db: Kysely<Database>, evidence: EvidenceStore, opts: { since?: number; limit?: number } = {}): Promise<number> {
  const rows = await db
    .selectFrom('decisions')
    .select(['id', 'evidence'])
    .where('evidence', 'like', '%"refs":["live/%')
    .where('evidence', 'not like', '%"pinned":%')
    .where('decided_at', '>=', opts.since ?? 0)
    .orderBy('decided_at')
    .limit(opts.limit ?? 10_000)
    .execute();
  let pinnedDecisions = 0;
  for (const row of rows) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(row.evidence) as Record<string, unknown>;
    } catch {
      continue;
    }
    const refs = Array.isArray(parsed.refs) ? parsed.refs.filter((r): r is string => typeof r === 'string') : [];
    if (refs.length === 0 || parsed.pinned !== undefined) continue;
    const pinned = await evidence.pin(refs, row.id);
    if (pinned.length === 0) continue; // not this node's files (or already swept before this fix)
    await db
      .updateTable('decisions')
      .set({ evidence: JSON.stringify({ ...parsed, pinned }) })
      .where('id', '=', row.id)
      .execute();
    pinnedDecisions++;
  }
  return pinnedDecisions;
}
