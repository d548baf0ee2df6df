import { z } from 'zod';
import { fromHex } from '../../classifiers/pdq.ts';
import { addEntries, getBank, listBanks, setBankRatio } from '../banks/manage.ts';
import type { Bank } from '../store/schema.ts';
import { contentIds } from '../exchanges/hma-ids.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';

/**
 * Routes of Meta's Hasher-Matcher-Actioner (HMA 2.x, OpenMediaMatch) that a platform's existing HMA clients
 * call, with HMA's answer shapes, written from its code (facebook/ThreatExchange,
 * hasher-matcher-actioner/src/OpenMediaMatch/blueprints/):
 *  - matching.py `lookup_get` (GET /m/lookup?signal_type=&signal=[&banks=a,b]): with a signal type given the
 *    outer object keyed by signal type is elided, so the answer is `{BANK: [{bank_content_id, distance}]}`;
 *    `distance` is `similarity_info.pretty_str()`, a string; only enabled content in banks whose
 *    `matching_enabled_ratio` beats a coin flip (seeded by `seed`) is listed;
 *  - curation.py `banks_index` (GET /c/banks): a list of BankConfig `{name, matching_enabled_ratio}`;
 *  - curation.py `bank_add_as_signals` (POST /c/bank/<name>/signal, JSON `{signal_type: value}`) answers
 *    `_bank_add_signals`' `{id, signals: {signal_type: value}}`.
 *  - curation.py `bank_update` (PUT /c/bank/<name>, JSON `{matching_enabled_ratio}`) answers the BankConfig.
 * Differences: these routes take a moderator token (operator for the update; HMA leaves auth to the network
 * in front of it); bank names are modgate's (lowercase); a disabled bank answers ratio 0; the rollout is
 * decided per content id (classifiers/bank-index.ts rolloutPoint), the same on every lookup and node, rather
 * than by a coin flip per lookup — `seed` is accepted and ignored, `bypass_coinflip=true` lists content
 * outside the rollout too; errors carry modgate's `{error, message}` body with HMA's statuses.
 */

const PdqSignal = z.string().regex(/^[0-9a-fA-F]{64}$/, 'invalid signal: a PDQ hash is 64 hex characters');
const Match = z.object({ bank_content_id: z.number().int(), distance: z.string() });
const BankConfig = z.object({ name: z.string(), matching_enabled_ratio: z.number() }).meta({ id: 'HmaBankConfig' });

const bankConfig = (b: Pick<Bank, 'name' | 'enabled' | 'matching_enabled_ratio'>) => ({
  name: b.name,
  matching_enabled_ratio: b.enabled === 1 ? Number(b.matching_enabled_ratio) : 0,
});

export function hmaRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'GET',
    url: '/m/lookup',
    config: { auth: 'moderator' },
    schema: {
      summary: 'HMA: look a hash up in the banks ({BANK: [{bank_content_id, distance}]})',
      tags: ['hma'],
      querystring: z
        .object({
          signal_type: z.string().max(40),
          signal: z.string().max(1000),
          banks: z.string().max(10_000).optional().describe('Comma-separated banks to restrict the search to'),
          seed: z.string().max(200).optional().describe('Seed of the matching_enabled_ratio coin flip (HMA)'),
          bypass_coinflip: z.enum(['true', 'false']).optional(),
        })
        .strict(),
      response: { 200: json(z.record(z.string(), z.array(Match)), 'Matches by bank') },
    },
    handler: async (req) => {
      if (req.query.signal_type !== 'pdq') throw new HttpError(400, 'invalid', `No such SignalType '${req.query.signal_type}'`, 'query.signal_type');
      const parsed = PdqSignal.safeParse(req.query.signal);
      if (!parsed.success) throw new HttpError(400, 'invalid', parsed.error.issues[0]!.message, 'query.signal');
      const wanted = req.query.banks ? new Set(req.query.banks.split(',').map((b) => b.trim())) : null;
      // Only the hash as given (HMA's PDQ index does not try rotations); disabled banks never match.
      const bypass = req.query.bypass_coinflip === 'true';
      const matches = ctx.banks
        .match([{ variant: 'original', hash: fromHex(parsed.data.toLowerCase()) }])
        .filter((m) => (!wanted || wanted.has(m.bank)) && (bypass || !m.outsideRollout));
      const ids = await contentIds(
        db,
        matches.map((m) => m.entryId),
      );
      const out: Record<string, Array<z.infer<typeof Match>>> = {};
      for (const m of matches) (out[m.bank] ??= []).push({ bank_content_id: ids.get(m.entryId)!, distance: String(m.distance) });
      return out;
    },
  });

  app.route({
    method: 'GET',
    url: '/c/banks',
    config: { auth: 'moderator' },
    schema: { summary: 'HMA: list banks (BankConfig)', tags: ['hma'], response: { 200: json(z.array(BankConfig), 'Banks') } },
    handler: async () => (await listBanks(db)).map(bankConfig),
  });

  app.route({
    method: 'PUT',
    url: '/c/bank/:name',
    config: { auth: 'operator' },
    schema: {
      summary: "HMA: update a bank's matching_enabled_ratio (gradual rollout) → BankConfig",
      tags: ['hma'],
      params: z.object({ name: z.string().min(1).max(64) }),
      body: z.object({ matching_enabled_ratio: z.number().min(0).max(1) }).strict(),
      response: { 200: json(BankConfig, 'The bank'), ...errors({ 404: 'No such bank' }) },
    },
    handler: async (req) => {
      const bank = await setBankRatio(db, req.principal.actor, req.params.name, req.body.matching_enabled_ratio);
      await ctx.banks.refresh();
      return bankConfig(bank);
    },
  });

  app.route({
    method: 'POST',
    url: '/c/bank/:name/signal',
    config: { auth: 'moderator' },
    schema: {
      summary: 'HMA: add content to a bank by its signals ({pdq: hex}) → {id, signals}',
      tags: ['hma'],
      params: z.object({ name: z.string().min(1).max(64) }),
      body: z.record(z.string().max(40), z.string().max(1000)),
      response: { 200: json(z.object({ id: z.number().int(), signals: z.record(z.string(), z.string()) }), 'Banked'), ...errors({ 404: 'No such bank' }) },
    },
    handler: async (req) => {
      const bank = await getBank(db, req.params.name);
      const entries = Object.entries(req.body);
      if (entries.length === 0) throw new HttpError(400, 'invalid', 'No signals given', 'body');
      for (const [type] of entries) if (type !== 'pdq') throw new HttpError(400, 'invalid', `No such signal type ${type}`, 'body');
      const hash = PdqSignal.safeParse(req.body.pdq);
      if (!hash.success) throw new HttpError(400, 'invalid', `Invalid pdq signal: ${hash.error.issues[0]!.message}`, 'body.pdq');
      const value = hash.data.toLowerCase();
      await addEntries(db, req.principal.actor, bank.name, [{ hash: value, source: 'hma-api' }]);
      await ctx.banks.refresh();
      const row = await db.selectFrom('bank_entries').select('id').where('bank', '=', bank.name).where('hash', '=', value).executeTakeFirstOrThrow();
      const ids = await contentIds(db, [row.id]);
      return { id: ids.get(row.id)!, signals: { pdq: value } };
    },
  });
}
