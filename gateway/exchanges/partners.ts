import type { Kysely } from 'kysely';
import { z } from 'zod';
import { BankNameSchema } from '../banks/schema.ts';
import { getBank } from '../banks/manage.ts';
import { DomainError, notFound } from '../errors.ts';
import { newId, newPartnerToken, PARTNER_TOKEN_RE, safeEqualHex, sha256Hex } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, ExchangePartner } from '../store/schema.ts';

/**
 * Partner platforms this gateway serves its feed to. Each gets a token (shown once, stored as its SHA-256
 * like admin tokens) and a scope: the banks it may read. Nothing outside the scope is ever in its pages.
 */

export const AddPartnerSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a partner name is 1–64 characters of a-z, 0-9, _ . -'),
    banks: z.array(BankNameSchema).min(1).max(100),
  })
  .strict();

export async function addPartner(
  db: Kysely<Database>,
  actor: string,
  input: z.input<typeof AddPartnerSchema>,
): Promise<{ token: string; partner: ExchangePartner }> {
  const p = AddPartnerSchema.parse(input);
  for (const b of p.banks) await getBank(db, b);
  if (await db.selectFrom('exchange_partners').select('id').where('name', '=', p.name).executeTakeFirst())
    throw new DomainError('conflict', `partner '${p.name}' already exists`);
  const token = newPartnerToken();
  const now = Date.now();
  const partner: ExchangePartner = {
    id: newId('ptn', now),
    name: p.name,
    token_hash: sha256Hex(token),
    banks: JSON.stringify([...new Set(p.banks)]),
    created_at: now,
    created_by: actor,
    revoked_at: null,
    last_seen_at: null,
    last_checkpoint: null,
  };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('exchange_partners').values(partner).execute();
    await appendAudit(trx, { actor, action: 'exchange.partner.add', targetType: 'exchange_partner', targetId: p.name, detail: { banks: p.banks }, at: now });
  });
  return { token, partner };
}

export async function revokePartner(db: Kysely<Database>, actor: string, name: string): Promise<void> {
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    const res = await trx.updateTable('exchange_partners').set({ revoked_at: now }).where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw notFound(`live partner '${name}'`);
    await appendAudit(trx, { actor, action: 'exchange.partner.revoke', targetType: 'exchange_partner', targetId: name, at: now });
  });
}

export async function listPartners(db: Kysely<Database>): Promise<ExchangePartner[]> {
  return db.selectFrom('exchange_partners').selectAll().orderBy('name').execute();
}

export async function authenticatePartner(db: Kysely<Database>, presented: string): Promise<ExchangePartner | null> {
  if (!PARTNER_TOKEN_RE.test(presented)) return null;
  const hash = sha256Hex(presented);
  const row = await db.selectFrom('exchange_partners').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  if (!row || row.revoked_at !== null || !safeEqualHex(row.token_hash, hash)) return null;
  return row;
}

export function partnerBanks(p: ExchangePartner): string[] {
  const parsed = z.array(z.string()).safeParse(JSON.parse(p.banks));
  return parsed.success ? parsed.data : [];
}

export function partnerView(p: ExchangePartner) {
  return {
    id: p.id,
    name: p.name,
    banks: partnerBanks(p),
    createdAt: p.created_at,
    revokedAt: p.revoked_at,
    lastSeenAt: p.last_seen_at,
    lastCheckpoint: p.last_checkpoint,
  };
}
