import type { Insertable } from 'kysely';
import type { DecisionsTable } from '../../gateway/store/schema.ts';

/**
 * A pending, enforced cut decision of the shipped `tve-known-content` rule citing `refs`, as the policy
 * runner stores one: for tests that need a decision on record without running a stream to make it.
 */
export function cutDecisionRow(o: {
  id: string;
  streamId: string;
  accountId: string;
  refs: readonly string[];
  decidedAt?: number;
}): Insertable<DecisionsTable> {
  return {
    id: o.id,
    stream_id: o.streamId,
    account_id: o.accountId,
    identity_subject: null,
    rule_id: 'tve-known-content',
    policy_version: 'default',
    shadow: 0,
    actions: JSON.stringify({ cut: true }),
    reason: 'known content',
    evidence: JSON.stringify({ refs: o.refs, signals: [] }),
    decided_at: o.decidedAt ?? Date.now(),
    decided_by: 'policy:tve-known-content',
    review_status: 'pending',
    review_priority: 'high',
    reviewed_by: null,
    reviewed_at: null,
    review_reason: null,
  };
}
