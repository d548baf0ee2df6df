import type { Kysely } from 'kysely';
import { COPY_SIGNAL_TYPE } from '../../classifiers/bank-store.ts';
import type { CopyDescriber, CopyView } from '../../classifiers/copy/describer.ts';
import { addEntryWithRegions, evidenceFrameDerived } from '../banks/derive.ts';
import { createBank } from '../banks/manage.ts';
import { DomainError, notFound } from '../errors.ts';
import { appendAudit, touchGate } from '../store/audit.ts';
import type { Database, DecisionRow } from '../store/schema.ts';

export const CONFIRMED_BANK = 'confirmed';

async function getDecision(db: Kysely<Database>, id: string): Promise<DecisionRow> {
  const row = await db.selectFrom('decisions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`decision '${id}'`);
  return row;
}

/** Frame hashes a decision's evidence carries (PDQ of each cited frame, and any matched bank hash). */
export function evidenceHashes(facts: unknown[]): string[] {
  const out = new Set<string>();
  for (const f of facts) {
    const pdq = (f as { pdq?: { hash?: string; quality?: number } | null }).pdq;
    if (pdq?.hash && (pdq.quality ?? 0) >= 50) out.add(pdq.hash);
  }
  return [...out];
}

/** One evidence frame of a decision: its facts and, when its file is still there, the JPEG kept of it. */
export interface EvidenceFrame {
  facts: unknown;
  jpeg: Buffer | null;
}

/**
 * What to bank from a decision's evidence: each cited frame's PDQ hash, its JPEG (for the derived crops),
 * and, where the copy descriptor ran on that frame (classifiers/copy/matcher.ts), its descriptor.
 */
export function evidenceBankables(evidence: readonly EvidenceFrame[]): Array<{ hash: string; copy: string | null; jpeg: Buffer | null }> {
  const out = new Map<string, { copy: string | null; jpeg: Buffer | null }>();
  for (const { facts, jpeg } of evidence) {
    const { pdq, copy } = facts as { pdq?: { hash?: string; quality?: number } | null; copy?: { descriptor?: unknown } | null };
    if (!pdq?.hash || (pdq.quality ?? 0) < 50) continue;
    const descriptor = typeof copy?.descriptor === 'string' && copy.descriptor.length < 20_000 ? copy.descriptor : null;
    const prev = out.get(pdq.hash);
    out.set(pdq.hash, { copy: prev?.copy ?? descriptor, jpeg: prev?.jpeg ?? jpeg });
  }
  return [...out].map(([hash, b]) => ({ hash, ...b }));
}

/**
 * The copy views to bank for a frame: the describer's views of its evidence JPEG, with the whole-frame view
 * replaced by the descriptor the live matcher computed on the frame itself (full analysis size, not the
 * thumbnail) where there is one.
 */
function copyViews(live: string | null, described: readonly CopyView[]): CopyView[] {
  if (!live) return [...described];
  return [{ region: COPY_SIGNAL_TYPE, text: live }, ...described.filter((v) => v.region !== COPY_SIGNAL_TYPE)];
}

/**
 * A moderator confirms a violation. With `addToBank`, the PDQ hashes of the decision's evidence frames go
 * into the `confirmed` bank, so re-streams of the same footage by other accounts match within their first
 * sampled frames (the Christchurch re-upload problem) — each with the crop set a banked picture gets
 * (centre crops, tiles, the frame inside its borders: a cropped or captioned re-stream still matches) and
 * its copy descriptor views (`describer`: the gateway's copy descriptor, when it runs).
 */
export async function confirmDecision(
  db: Kysely<Database>,
  actor: string,
  id: string,
  opts: { reason: string; addToBank: boolean; evidence: readonly EvidenceFrame[]; describer?: CopyDescriber },
): Promise<{ decision: DecisionRow; bankAdded: number }> {
  const row = await getDecision(db, id);
  if (row.shadow) throw new DomainError('conflict', 'a shadow decision was never enforced: nothing to confirm');
  if (row.review_status === 'overturned') throw new DomainError('conflict', 'this decision was overturned');
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('decisions')
      .set({ review_status: 'confirmed', reviewed_by: actor, reviewed_at: now, review_reason: opts.reason })
      .where('id', '=', id)
      .execute();
    await appendAudit(trx, {
      actor,
      action: 'decision.confirm',
      targetType: 'decision',
      targetId: id,
      reason: opts.reason,
      detail: { addToBank: opts.addToBank },
      at: now,
    });
  });
  let bankAdded = 0;
  if (opts.addToBank) {
    const bankables = evidenceBankables(opts.evidence);
    if (bankables.length) {
      const exists = await db.selectFrom('banks').select('name').where('name', '=', CONFIRMED_BANK).executeTakeFirst();
      if (!exists)
        await createBank(db, actor, {
          name: CONFIRMED_BANK,
          category: 'confirmed',
          severity: 'critical',
          description: 'content confirmed violating by moderators',
        });
      // One entry per frame with its crops and copy views (one transaction per frame: a decision cites few).
      for (const b of bankables) {
        const derived = b.jpeg ? await evidenceFrameDerived(b.jpeg, opts.describer) : { regions: [], copy: [] };
        const res = await addEntryWithRegions(db, actor, CONFIRMED_BANK, { hash: b.hash, note: `decision ${id}`, source: `decision:${id}` }, derived.regions, {
          source: `decision:${id}`,
          copy: copyViews(b.copy, derived.copy),
        });
        if (res.added) bankAdded++;
      }
    }
  }
  return { decision: { ...row, review_status: 'confirmed', reviewed_by: actor, reviewed_at: now, review_reason: opts.reason }, bankAdded };
}

/** Overturns a decision: voids its strike, lifts its suspension (restoring the right to go live), on record. */
export async function overturnDecision(
  db: Kysely<Database>,
  actor: string,
  id: string,
  reason: string,
): Promise<{ decision: DecisionRow; strikesVoided: number; suspensionsLifted: number }> {
  const row = await getDecision(db, id);
  if (row.review_status === 'overturned') throw new DomainError('conflict', 'this decision was already overturned');
  const now = Date.now();
  return db.transaction().execute(async (trx) => {
    const strikes = await trx
      .updateTable('strikes')
      .set({ voided_at: now, voided_by: actor, void_reason: reason })
      .where('decision_id', '=', id)
      .where('voided_at', 'is', null)
      .executeTakeFirst();
    const lifted = await trx
      .updateTable('suspensions')
      .set({ lifted_at: now, lifted_by: actor, lift_reason: `decision overturned: ${reason}` })
      .where('decision_id', '=', id)
      .where('lifted_at', 'is', null)
      .executeTakeFirst();
    await trx
      .updateTable('decisions')
      .set({ review_status: 'overturned', reviewed_by: actor, reviewed_at: now, review_reason: reason })
      .where('id', '=', id)
      .execute();
    await appendAudit(trx, {
      actor,
      action: 'decision.overturn',
      targetType: 'decision',
      targetId: id,
      reason,
      detail: { strikesVoided: Number(strikes.numUpdatedRows), suspensionsLifted: Number(lifted.numUpdatedRows), account: row.account_id },
      at: now,
    });
    await touchGate(trx, row.account_id, now);
    return {
      decision: { ...row, review_status: 'overturned', reviewed_by: actor, reviewed_at: now, review_reason: reason },
      strikesVoided: Number(strikes.numUpdatedRows),
      suspensionsLifted: Number(lifted.numUpdatedRows),
    };
  });
}
