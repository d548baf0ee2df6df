import type { Kysely } from 'kysely';
import { z } from 'zod';
import { BankNameSchema, SeverityEnum } from '../banks/schema.ts';
import { createBank, getBank } from '../banks/manage.ts';
import { DomainError, notFound } from '../errors.ts';
import { sealSecret } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, ExchangeRow } from '../store/schema.ts';
import { EXCHANGE_KINDS } from './kinds.ts';

/** Operators' side of exchanges: add one (with the bank it feeds), list, enable/disable, remove. */

export const ExchangeNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'an exchange name is 1–48 characters of a-z, 0-9, _ -');

export const AddExchangeSchema = z
  .object({
    name: ExchangeNameSchema,
    kind: z.enum(EXCHANGE_KINDS),
    url: z.string().min(1).max(2000).describe('Base URL (tat, modgate), or URL or file path of the list (hashlist)'),
    bank: BankNameSchema.optional().describe('The bank it feeds (default: exchange-<name>); created when absent'),
    category: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[a-z0-9][a-z0-9_.-]*$/)
      .default('terrorism')
      .describe("The new bank's category"),
    severity: SeverityEnum.default('critical').describe("The new bank's severity"),
    credential: z.string().min(1).max(4000).optional().describe('tat: username:password; modgate: the partner token; hashlist: a bearer token'),
    intervalMs: z.number().int().min(1000).max(86_400_000).default(300_000).describe('Time between fetches (a modgate feed long-polls instead)'),
  })
  .strict();
export type AddExchange = z.input<typeof AddExchangeSchema>;

export async function addExchange(db: Kysely<Database>, key: Buffer, actor: string, input: AddExchange): Promise<ExchangeRow> {
  const e = AddExchangeSchema.parse(input);
  if (e.kind !== 'hashlist' && !/^https?:\/\//i.test(e.url)) throw new DomainError('invalid', `a ${e.kind} exchange needs an http(s) URL`);
  const bank = e.bank ?? `exchange-${e.name}`;
  const existing = await db.selectFrom('exchanges').select('name').where('name', '=', e.name).executeTakeFirst();
  if (existing) throw new DomainError('conflict', `exchange '${e.name}' already exists`);
  const feeding = await db.selectFrom('exchanges').select('name').where('bank', '=', bank).executeTakeFirst();
  if (feeding) throw new DomainError('conflict', `bank '${bank}' is already fed by exchange '${feeding.name}'`);
  const hasBank = await db.selectFrom('banks').select('name').where('name', '=', bank).executeTakeFirst();
  if (!hasBank) await createBank(db, actor, { name: bank, description: `fed by exchange ${e.name} (${e.kind})`, category: e.category, severity: e.severity });
  else await getBank(db, bank);
  const now = Date.now();
  const row: ExchangeRow = {
    name: e.name,
    kind: e.kind,
    url: e.url,
    bank,
    credential: e.credential ? sealSecret(key, e.credential) : null,
    interval_ms: e.intervalMs,
    enabled: 1,
    checkpoint: null,
    last_fetch_at: null,
    last_success_at: null,
    last_error: null,
    last_error_at: null,
    failures: 0,
    next_fetch_at: now,
    upserts: 0,
    deletes: 0,
    quarantined: 0,
    created_at: now,
    created_by: actor,
  };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('exchanges').values(row).execute();
    await appendAudit(trx, {
      actor,
      action: 'exchange.add',
      targetType: 'exchange',
      targetId: e.name,
      detail: { kind: e.kind, bank, credential: e.credential !== undefined },
      at: now,
    });
  });
  return row;
}

export async function getExchange(db: Kysely<Database>, name: string): Promise<ExchangeRow> {
  const row = await db.selectFrom('exchanges').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw notFound(`exchange '${name}'`);
  return row;
}

export async function listExchanges(db: Kysely<Database>): Promise<ExchangeRow[]> {
  return db.selectFrom('exchanges').selectAll().orderBy('name').execute();
}

export async function setExchangeEnabled(db: Kysely<Database>, actor: string, name: string, enabled: boolean): Promise<void> {
  await getExchange(db, name);
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('exchanges')
      .set({ enabled: enabled ? 1 : 0, next_fetch_at: now })
      .where('name', '=', name)
      .execute();
    await appendAudit(trx, { actor, action: enabled ? 'exchange.enable' : 'exchange.disable', targetType: 'exchange', targetId: name, at: now });
  });
}

export async function quarantined(db: Kysely<Database>, name: string, limit = 100) {
  return db.selectFrom('exchange_quarantine').selectAll().where('exchange', '=', name).orderBy('id', 'desc').limit(limit).execute();
}

/** What the API and CLI show of an exchange: everything but the credential. */
export function exchangeView(r: ExchangeRow) {
  return {
    name: r.name,
    kind: r.kind,
    url: r.url,
    bank: r.bank,
    hasCredential: r.credential !== null,
    intervalMs: r.interval_ms,
    enabled: r.enabled === 1,
    checkpoint: r.checkpoint,
    lastFetchAt: r.last_fetch_at,
    lastSuccessAt: r.last_success_at,
    lastError: r.last_error,
    lastErrorAt: r.last_error_at,
    failures: r.failures,
    nextFetchAt: r.next_fetch_at,
    upserts: Number(r.upserts),
    deletes: Number(r.deletes),
    quarantined: Number(r.quarantined),
  };
}
