import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { quarantineEntry } from '../banks/quarantine.ts';
import { recordBankChange } from '../banks/store.ts';
import { DomainError, notFound } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, EntryOpinion, ExchangePartner } from '../store/schema.ts';
import type { OpinionCategory } from './exchange.ts';
import type { Delivery, OpinionOutbox } from './opinion-outbox.ts';
import { partnerBanks } from './partners.ts';

/**
 * Opinions of shared signals (python-threatexchange fetch_state.py SignalOpinion: is_mine, category,
 * tags). Ours: a moderator confirms (positive_class) or deconfirms (negative_class: a false positive) a bank
 * entry; a deconfirmed entry is disabled and stays so whatever its exchange lists again
 * (gateway/banks/insert.ts), and the opinion is delivered to the exchange that fed the entry where its
 * kind takes opinions (modgate: POST /api/v1/exchange/opinions), through the outbox (opinion-outbox.ts)
 * until it is taken. Theirs: a partner's opinion of an entry we
 * served it is recorded for our moderators, and a deconfirmation quarantines the entry (config
 * exchanges.partnerOpinions: `quarantine`, the default, or `record`).
 */

export const OpinionBody = z
  .object({
    signal_type: z.literal('pdq'),
    hash: z.string().regex(/^[0-9a-fA-F]{64}$/, 'a PDQ hash is 64 hex characters'),
    category: z.enum(['negative_class', 'investigation_seed', 'positive_class']),
    tags: z.array(z.string().min(1).max(80)).max(20).default([]),
  })
  .strict();
export type OpinionBody = z.infer<typeof OpinionBody>;

export type Verdict = 'confirm' | 'deconfirm';

export interface GivenOpinion {
  opinion: EntryOpinion;
  /** The exchange it was delivered to; null when the entry came from none, its kind takes no opinions, or it is still pending. */
  reportedTo: string | null;
  /** Why the first attempt failed (`code: message`); the outbox keeps trying. */
  reportError: string | null;
}

/**
 * A moderator's opinion of one entry, stored and audited with its delivery to the exchange that fed it
 * pending; the first attempt is made at once unless an older opinion to that exchange still waits (order).
 */
export async function giveOpinion(
  db: Kysely<Database>,
  outbox: OpinionOutbox | null,
  actor: string,
  bankName: string,
  entryId: string,
  verdict: Verdict,
  reason: string | null,
  now = Date.now(),
): Promise<GivenOpinion> {
  const category: OpinionCategory = verdict === 'confirm' ? 'positive_class' : 'negative_class';
  const { opinion, claimed } = await db.transaction().execute(async (trx) => {
    const entry = await trx.selectFrom('bank_entries').selectAll().where('id', '=', entryId).where('bank', '=', bankName).executeTakeFirst();
    if (!entry) throw notFound(`entry '${entryId}' in bank '${bankName}'`);
    if (entry.derived_from !== null) throw new DomainError('invalid', 'give the opinion on the entry this crop was derived from');
    const exchange = await trx.selectFrom('exchanges').select(['name']).where('bank', '=', bankName).executeTakeFirst();
    const enabled = verdict === 'confirm' ? 1 : 0;
    const changed = await trx
      .updateTable('bank_entries')
      .set({ enabled, ...(verdict === 'deconfirm' ? { opinion: 'deconfirmed' } : { opinion: 'confirmed' }) })
      .where((eb) => eb.or([eb('id', '=', entryId), eb('derived_from', '=', entryId)]))
      .where('bank', '=', bankName)
      .returning('id')
      .execute();
    // Only the entry itself carries the opinion; its crops just follow it on and off.
    await trx.updateTable('bank_entries').set({ opinion: null }).where('derived_from', '=', entryId).execute();
    for (const c of changed) await recordBankChange(trx, bankName, c.id, now);
    // Claimed for the attempt below only when nothing older waits for this exchange; else the outbox sends it in turn.
    const older = exchange
      ? await trx.selectFrom('entry_opinions').select('id').where('exchange', '=', exchange.name).where('delivery', '=', 'pending').executeTakeFirst()
      : undefined;
    const claimed = exchange !== undefined && outbox !== null && older === undefined;
    const inserted = await trx
      .insertInto('entry_opinions')
      .values({
        at: now,
        bank: bankName,
        entry_id: entryId,
        signal_type: 'pdq',
        hash: entry.hash,
        category,
        tags: '[]',
        is_mine: 1,
        source: 'moderator',
        actor,
        reason,
        exchange: exchange?.name ?? null,
        reported_at: null,
        report_error: null,
        delivery: exchange ? 'pending' : null,
        next_attempt_at: exchange ? (claimed ? now + outbox.leaseMs : now) : null,
        idempotency_key: exchange ? randomUUID() : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await appendAudit(trx, {
      actor,
      action: verdict === 'confirm' ? 'bank.entry.confirm' : 'bank.entry.deconfirm',
      targetType: 'bank',
      targetId: bankName,
      reason,
      detail: { entryId, hash: entry.hash, exchange: exchange?.name ?? null },
      at: now,
    });
    const opinion = await trx.selectFrom('entry_opinions').selectAll().where('id', '=', inserted.id).executeTakeFirstOrThrow();
    return { opinion, claimed };
  });
  if (!claimed || !outbox) return { opinion, reportedTo: null, reportError: null };
  // After the commit: the opinion stands here, and stays pending in the outbox, whether or not the exchange takes it now.
  const r = await outbox.attempt(opinion);
  const after = (await db.selectFrom('entry_opinions').selectAll().where('id', '=', opinion.id).executeTakeFirst()) ?? opinion;
  return { opinion: after, reportedTo: r.delivery === 'delivered' ? opinion.exchange : null, reportError: r.error };
}

/**
 * A partner's opinion of a hash we serve it: recorded against every entry of that hash in its banks; a
 * negative_class one quarantines them unless the operator chose `record`. An opinion carrying a key this
 * partner already sent (a retry whose answer it lost) is answered as before and recorded once, also when
 * both arrive at once: the key's receipt is taken first, in the same transaction, with ON CONFLICT DO
 * NOTHING on its primary key, so the later of two waits for the first to commit and finds it taken.
 */
export async function receivePartnerOpinion(
  db: Kysely<Database>,
  partner: ExchangePartner,
  body: OpinionBody,
  mode: 'quarantine' | 'record',
  now = Date.now(),
  idempotencyKey: string | null = null,
): Promise<{ entries: number; quarantined: number; duplicate: boolean }> {
  const hash = body.hash.toLowerCase();
  const banks = partnerBanks(partner);
  const source = `partner:${partner.name}`;
  if (banks.length === 0) return { entries: 0, quarantined: 0, duplicate: false };
  const recorded = await db.transaction().execute(async (trx) => {
    if (idempotencyKey) {
      const receipt = await trx
        .insertInto('partner_opinion_receipts')
        .values({ source, idempotency_key: idempotencyKey, at: now })
        .onConflict((oc) => oc.columns(['source', 'idempotency_key']).doNothing())
        .returning('source')
        .executeTakeFirst();
      if (!receipt) {
        const seen = await trx
          .selectFrom('entry_opinions')
          .select('entry_id')
          .where('source', '=', source)
          .where('idempotency_key', '=', idempotencyKey)
          .execute();
        return { duplicate: true as const, entries: seen.filter((s) => s.entry_id !== null).length };
      }
    }
    const entries = await trx
      .selectFrom('bank_entries')
      .select(['id', 'bank'])
      .where('bank', 'in', banks)
      .where('hash', '=', hash)
      .where('derived_from', 'is', null)
      .execute();
    for (const e of entries.length ? entries : [{ id: null, bank: null }])
      await trx
        .insertInto('entry_opinions')
        .values({
          at: now,
          bank: e.bank,
          entry_id: e.id,
          signal_type: body.signal_type,
          hash,
          category: body.category,
          tags: JSON.stringify(body.tags),
          is_mine: 0,
          source,
          actor: source,
          reason: null,
          exchange: null,
          reported_at: null,
          report_error: null,
          delivery: null,
          next_attempt_at: null,
          idempotency_key: idempotencyKey,
        })
        .execute();
    await appendAudit(trx, {
      actor: source,
      action: 'exchange.opinion.received',
      targetType: 'exchange_partner',
      targetId: partner.name,
      detail: { hash, category: body.category, tags: body.tags, entries: entries.map((e) => e.id) },
      at: now,
    });
    return { duplicate: false as const, entries };
  });
  if (recorded.duplicate) return { entries: recorded.entries, quarantined: 0, duplicate: true };
  const { entries } = recorded;
  let quarantined = 0;
  if (body.category === 'negative_class' && mode === 'quarantine')
    for (const e of entries) {
      const r = await quarantineEntry(db, { entryId: e.id, reason: 'partner_opinion', actor: source, detail: { partner: partner.name, tags: body.tags } }, now);
      if (r.created) quarantined++;
    }
  return { entries: entries.length, quarantined, duplicate: false };
}

export async function listOpinions(db: Kysely<Database>, q: { mine?: boolean; hash?: string; delivery?: Delivery; limit?: number }): Promise<EntryOpinion[]> {
  let query = db
    .selectFrom('entry_opinions')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(q.limit ?? 200);
  if (q.mine !== undefined) query = query.where('is_mine', '=', q.mine ? 1 : 0);
  if (q.hash) query = query.where('hash', '=', q.hash.toLowerCase());
  if (q.delivery) query = query.where('delivery', '=', q.delivery);
  return query.execute();
}

export function opinionView(o: EntryOpinion) {
  return {
    id: Number(o.id),
    at: Number(o.at),
    bank: o.bank,
    entryId: o.entry_id,
    signalType: o.signal_type,
    hash: o.hash,
    category: o.category as OpinionCategory,
    tags: z.array(z.string()).catch([]).parse(JSON.parse(o.tags)),
    isMine: o.is_mine === 1,
    source: o.source,
    actor: o.actor,
    reason: o.reason,
    exchange: o.exchange,
    reportedAt: o.reported_at === null ? null : Number(o.reported_at),
    reportError: o.report_error,
    delivery: o.delivery as Delivery | null,
    attempts: o.attempts,
    nextAttemptAt: o.delivery === 'pending' && o.next_attempt_at !== null ? Number(o.next_attempt_at) : null,
  };
}
