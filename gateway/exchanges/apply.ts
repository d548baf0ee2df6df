import type { Kysely } from 'kysely';
import { insertEntries, type EntryFields } from '../banks/insert.ts';
import { getBank } from '../banks/manage.ts';
import { recordBankChange } from '../banks/store.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, ExchangeRow } from '../store/schema.ts';
import type { FetchPage } from './exchange.ts';
import { truncate } from './http.ts';

export interface ApplyResult {
  upserts: number;
  deletes: number;
  quarantined: number;
  /** Entries of a signal type modgate does not match (kept out of the bank). */
  skipped: number;
}

const BATCH = 500;

/**
 * Applies one page to the exchange's bank and stores its checkpoint, in one transaction: either the page's
 * entries and the checkpoint that follows them are both stored, or neither (the page is fetched again).
 * Upserts add the hash (or re-enable it), tombstones disable it and its derived regions, a `complete` page
 * disables what it does not list, and rejected records go to exchange_quarantine without holding the
 * checkpoint back. Changes reach live matching through the bank change feed like any bank write.
 */
export async function applyPage(
  db: Kysely<Database>,
  exchange: Pick<ExchangeRow, 'name' | 'bank'>,
  from: string | null,
  page: FetchPage,
  now: number,
): Promise<ApplyResult> {
  const source = `exchange:${exchange.name}`;
  return db.transaction().execute(async (trx) => {
    const bank = await getBank(trx, exchange.bank);
    const upserts: EntryFields[] = [];
    const tombstones: string[] = [];
    let skipped = 0;
    for (const [key, entry] of page.deltas) {
      if (entry === null) {
        const [type, hash] = splitKey(key);
        if (type === 'pdq' && hash) tombstones.push(hash);
        continue;
      }
      if (entry.signalType !== 'pdq') {
        skipped++;
        continue;
      }
      upserts.push({
        hash: entry.hash,
        category: entry.category && /^[a-z0-9][a-z0-9_.-]{0,79}$/.test(entry.category) ? entry.category : bank.default_category,
        severity: entry.severity ?? bank.default_severity,
        source,
        note: entry.note ?? null,
      });
    }
    const changed: string[] = [];
    const { inserted, revived } = await insertEntries(trx, bank.name, upserts, { addedBy: source, at: now, revive: true });
    changed.push(...inserted, ...revived);
    const added = inserted.length + revived.length;
    if (page.complete) {
      const listed = new Set(upserts.map((u) => u.hash));
      let after = '';
      for (;;) {
        const rows = await trx
          .selectFrom('bank_entries')
          .select(['id', 'hash'])
          .where('bank', '=', bank.name)
          .where('derived_from', 'is', null)
          .where('enabled', '=', 1)
          .where('id', '>', after)
          .orderBy('id')
          .limit(5000)
          .execute();
        for (const r of rows) if (!listed.has(r.hash)) tombstones.push(r.hash);
        if (rows.length < 5000) break;
        after = rows[rows.length - 1]!.id;
      }
    }
    let deletes = 0;
    for (let i = 0; i < tombstones.length; i += BATCH) {
      const hashes = tombstones.slice(i, i + BATCH);
      const gone = await trx
        .updateTable('bank_entries')
        .set({ enabled: 0 })
        .where('bank', '=', bank.name)
        .where('derived_from', 'is', null)
        .where('enabled', '=', 1)
        .where('hash', 'in', hashes)
        .returning('id')
        .execute();
      deletes += gone.length;
      changed.push(...gone.map((r) => r.id));
      if (gone.length) {
        const derived = await trx
          .updateTable('bank_entries')
          .set({ enabled: 0 })
          .where('bank', '=', bank.name)
          .where(
            'derived_from',
            'in',
            gone.map((g) => g.id),
          )
          .returning('id')
          .execute();
        changed.push(...derived.map((r) => r.id));
      }
    }
    // One entry: an entry-level change (cheap for every index to apply); more: reload the bank once.
    if (changed.length === 1) await recordBankChange(trx, bank.name, changed[0]!, now);
    else if (changed.length > 1) await recordBankChange(trx, bank.name, null, now);
    for (const r of page.rejected)
      await trx
        .insertInto('exchange_quarantine')
        .values({ exchange: exchange.name, at: now, checkpoint: from, reason: truncate(r.reason, 500), raw: truncate(r.raw) })
        .execute();
    const current = await trx.selectFrom('exchanges').select(['upserts', 'deletes', 'quarantined']).where('name', '=', exchange.name).executeTakeFirstOrThrow();
    await trx
      .updateTable('exchanges')
      .set({
        checkpoint: page.checkpoint,
        last_fetch_at: now,
        last_success_at: now,
        failures: 0,
        upserts: Number(current.upserts) + added,
        deletes: Number(current.deletes) + deletes,
        quarantined: Number(current.quarantined) + page.rejected.length,
      })
      .where('name', '=', exchange.name)
      .execute();
    if (added || deletes || page.rejected.length) {
      await appendAudit(trx, {
        actor: source,
        action: 'exchange.fetch',
        targetType: 'exchange',
        targetId: exchange.name,
        detail: { from, checkpoint: page.checkpoint, added, deleted: deletes, quarantined: page.rejected.length, skipped },
        at: now,
      });
    }
    return { upserts: added, deletes, quarantined: page.rejected.length, skipped };
  });
}

/** Records a fetch that yielded nothing usable: the checkpoint stays; a malformed body is set aside. */
export async function recordFailure(
  db: Kysely<Database>,
  name: string,
  from: string | null,
  err: { code: string; message: string; raw?: string | undefined },
  now: number,
  nextAt: number,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('exchanges').select(['failures', 'quarantined']).where('name', '=', name).executeTakeFirst();
    if (!row) return;
    const raw = err.raw;
    if (raw !== undefined)
      await trx
        .insertInto('exchange_quarantine')
        .values({ exchange: name, at: now, checkpoint: from, reason: `${err.code}: ${truncate(err.message, 480)}`, raw: truncate(raw) })
        .execute();
    await trx
      .updateTable('exchanges')
      .set({
        last_fetch_at: now,
        last_error: `${err.code}: ${truncate(err.message, 480)}`,
        last_error_at: now,
        failures: row.failures + 1,
        next_fetch_at: nextAt,
        quarantined: Number(row.quarantined) + (raw !== undefined ? 1 : 0),
      })
      .where('name', '=', name)
      .execute();
  });
}

function splitKey(key: string): [string, string | undefined] {
  const at = key.indexOf(':');
  return at < 0 ? [key, undefined] : [key.slice(0, at), key.slice(at + 1).toLowerCase()];
}
