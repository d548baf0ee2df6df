import type { Insertable, Kysely } from 'kysely';
import { z } from 'zod';
import { appendAudit, touchGate } from '../audit.ts';
import type { Database, DecisionRow, PublishRefusalsTable, SignalsTable, StreamProtocol, StrikeRow, Suspension } from '../schema.ts';

/**
 * A unit of work on the enforcement write path: everything one decision, cut, stream start or end, publish
 * refusal or batch of stored signals writes, committed in one transaction, directly or (while the database
 * is away) from the local journal. Its `id` is stable (derived from the decision or stream it records, or
 * drawn once when the unit is built), so writing it twice writes it once (applied_units).
 * The schemas are the journal file's boundary: a record that does not parse is set aside, never applied.
 */

const num = z.number().finite();
const DecisionRowSchema = z.object({
  id: z.string(),
  stream_id: z.string(),
  account_id: z.string(),
  identity_subject: z.string().nullable(),
  rule_id: z.string(),
  policy_version: z.string(),
  shadow: z.number().int(),
  actions: z.string(),
  reason: z.string(),
  evidence: z.string(),
  decided_at: num,
  decided_by: z.string(),
  review_status: z.enum(['none', 'pending', 'confirmed', 'overturned']),
  review_priority: z.string().nullable(),
  reviewed_by: z.string().nullable(),
  reviewed_at: num.nullable(),
  review_reason: z.string().nullable(),
}) satisfies z.ZodType<DecisionRow>;

const StrikeRowSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  identity_subject: z.string().nullable(),
  stream_id: z.string().nullable(),
  decision_id: z.string().nullable(),
  category: z.string(),
  severity: z.enum(['low', 'medium', 'high', 'critical']),
  rule_id: z.string(),
  at: num,
  expires_at: num,
  voided_at: num.nullable(),
  voided_by: z.string().nullable(),
  void_reason: z.string().nullable(),
}) satisfies z.ZodType<StrikeRow>;

const SuspensionSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  identity_subject: z.string().nullable(),
  reason: z.string(),
  starts_at: num,
  ends_at: num.nullable(),
  created_by: z.string(),
  decision_id: z.string().nullable(),
  lifted_at: num.nullable(),
  lifted_by: z.string().nullable(),
  lift_reason: z.string().nullable(),
  // Units written before migration 0043 carry no category.
  category: z.string().nullable().default(null),
}) satisfies z.ZodType<Suspension>;

const AuditSchema = z.object({
  actor: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string(),
  reason: z.string().nullable().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
  at: num,
});

const ProtocolSchema = z.enum(['rtmp', 'websocket', 'rtsp', 'srt', 'webrtc']) satisfies z.ZodType<StreamProtocol>;

/** A stream's row as its start writes it (open: its end comes with a later unit). */
const StreamStartSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  key_id: z.string().nullable(),
  protocol: ProtocolSchema,
  remote_addr: z.string().nullable(),
  started_at: num,
  node_id: z.string(),
  server: z.string().nullable(),
});

const SignalRowSchema = z.object({ stream_id: z.string(), account_id: z.string(), observed_at: num, body: z.string() }) satisfies z.ZodType<
  Omit<Insertable<SignalsTable>, 'id'>
>;

const RefusalRowSchema = z.object({
  at: num,
  protocol: ProtocolSchema,
  remote_addr: z.string().nullable(),
  account_id: z.string().nullable(),
  reason: z.string(),
  detail: z.string().nullable(),
  server: z.string().nullable(),
  count: z.number().int().positive(),
  last_at: num.nullable(),
}) satisfies z.ZodType<Omit<Insertable<PublishRefusalsTable>, 'id'>>;

export const WriteUnitSchema = z.object({
  /** Stable: `decision:<id>`, `cut:<stream>`, `start:<stream>`, `end:<stream>`; `refusal:<uuid>`, `signals:<uuid>` drawn once. */
  id: z.string().min(1),
  at: num,
  decisions: z.array(DecisionRowSchema).default([]),
  strikes: z.array(StrikeRowSchema).default([]),
  suspensions: z.array(SuspensionSchema).default([]),
  audits: z.array(AuditSchema).default([]),
  /** Accounts whose gate changed (gate_changes rows: other nodes re-read them). */
  gateTouches: z.array(z.object({ accountId: z.string(), at: num })).default([]),
  /** Streams ended (only where still open: the end may already be on record). */
  streamEnds: z.array(z.object({ streamId: z.string(), at: num, reason: z.string(), detail: z.string().nullable() })).default([]),
  /** Streams that went live (their row, open; one already on record is left as it is). Written before `streamEnds`. */
  streamStarts: z.array(StreamStartSchema).default([]),
  /** Refused publishes (publish_refusals rows). */
  refusals: z.array(RefusalRowSchema).default([]),
  /** Signals kept for backtests and statements (policy-runner's storeSignalsFloor). */
  signals: z.array(SignalRowSchema).default([]),
});

export type WriteUnit = z.output<typeof WriteUnitSchema>;
export type WriteUnitInput = z.input<typeof WriteUnitSchema>;

export function writeUnit(input: WriteUnitInput): WriteUnit {
  return WriteUnitSchema.parse(input);
}

const DAY_MS = 86_400_000;

/**
 * How long a unit's marker is kept (pruneAppliedUnits). A unit is written again only by a journal's replay,
 * and a journal is replayed at start and whenever the database answers again, so a marker this old guards
 * nothing in practice; the replay still checks (markerMayBeGone) rather than trust that.
 */
export const APPLIED_UNIT_RETENTION_MS = 30 * DAY_MS;

/**
 * A journaled unit older than this may have lost its marker: its marker was inserted at most a moment before
 * it was journaled (a direct write that ran past its deadline), and the prune may run on a node whose clock
 * is ahead; a day short of the retention covers both.
 */
export function markerMayBeGone(journaledAt: number, now: number): boolean {
  return journaledAt < now - (APPLIED_UNIT_RETENTION_MS - DAY_MS);
}

/** Deletes the markers of units applied before `before`; returns how many. */
export async function pruneAppliedUnits(db: Kysely<Database>, before: number): Promise<number> {
  const res = await db.deleteFrom('applied_units').where('applied_at', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** A journaled unit past the markers' retention that is not on record: it may have been applied, its marker since pruned. */
export class UnitPastRetentionError extends Error {
  readonly code = 'unit_past_marker_retention';
  constructor(id: string) {
    super(`journal unit ${id} is older than the applied-unit markers are kept: whether it was applied cannot be told, so it is set aside`);
  }
}

/**
 * Writes the unit inside `trx` unless a unit of that id is already on record; returns whether it wrote.
 * The marker row goes first: two writers of one unit (a slow direct commit and the journal's replay)
 * serialize on its primary key, and the second writes nothing. With `markerGone` (markerMayBeGone) a unit
 * not on record is not written but refused (UnitPastRetentionError): writing it twice is the worse error.
 */
export async function applyUnit(
  trx: Kysely<Database>,
  unit: WriteUnit,
  via: 'direct' | 'journal',
  nodeId: string | null,
  markerGone = false,
): Promise<boolean> {
  if (markerGone) {
    const onRecord = await trx.selectFrom('applied_units').select('id').where('id', '=', unit.id).executeTakeFirst();
    if (onRecord) return false;
    throw new UnitPastRetentionError(unit.id);
  }
  const marker = await trx
    .insertInto('applied_units')
    .values({ id: unit.id, node_id: nodeId, applied_at: Date.now(), via })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  if (Number(marker.numInsertedOrUpdatedRows ?? 0) === 0) return false;
  for (const s of unit.streamStarts) {
    await trx
      .insertInto('streams')
      // Unclaimed: its node claims it when the database answers (LiveRegistry.record); until then it does not
      // stand in the way of another node's claim, or two nodes that both went live would both be cut.
      .values({ ...s, ended_at: null, end_reason: null, end_detail: null, claim_pending: 1 })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    if (s.key_id)
      await trx
        .updateTable('stream_keys')
        .set({ last_used_at: s.started_at })
        .where('id', '=', s.key_id)
        .where((w) => w.or([w('last_used_at', 'is', null), w('last_used_at', '<', s.started_at)]))
        .execute();
  }
  for (const row of unit.decisions) await trx.insertInto('decisions').values(row).execute();
  for (const row of unit.strikes) await trx.insertInto('strikes').values(row).execute();
  for (const row of unit.suspensions) await trx.insertInto('suspensions').values(row).execute();
  for (const e of unit.streamEnds) {
    // A peer's node_lost close is its guess while this node was away (gateway/live/nodes.ts); the owner's
    // own record of how and when the stream ended (a cut kept in its journal) replaces it.
    await trx
      .updateTable('streams')
      .set({ ended_at: e.at, end_reason: e.reason, end_detail: e.detail })
      .where('id', '=', e.streamId)
      .where((w) =>
        nodeId === null ? w('ended_at', 'is', null) : w.or([w('ended_at', 'is', null), w.and([w('end_reason', '=', 'node_lost'), w('node_id', '=', nodeId)])]),
      )
      .execute();
  }
  for (const a of unit.audits) await appendAudit(trx, a);
  if (unit.refusals.length > 0) await trx.insertInto('publish_refusals').values(unit.refusals).execute();
  // 200 rows (800 parameters) a statement, as the signal flush always wrote them.
  for (let i = 0; i < unit.signals.length; i += 200)
    await trx
      .insertInto('signals')
      .values(unit.signals.slice(i, i + 200))
      .execute();
  for (const g of unit.gateTouches) await touchGate(trx, g.accountId, g.at);
  return true;
}

/** An audit record as a unit carries it (its time fixed when it was decided, not when it is written). */
export type UnitAudit = WriteUnit['audits'][number];
