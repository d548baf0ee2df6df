import { z } from 'zod';
import { addEntries, createBank, listBanks, setBankEnabled } from '../banks/manage.ts';
import { bankListText } from '../banks/videos.ts';
import { BankNameSchema, CreateBankSchema } from '../banks/schema.ts';
import type { ApiContext } from './context.ts';
import { errors, json, text, type ApiApp } from './route.ts';
import { Reason, Severity } from './schemas.ts';

const BankParams = z.object({ name: BankNameSchema.describe('Bank name') });

/** A bank as stored (the API has always answered with the row). */
const BankRow = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    default_category: z.string(),
    default_severity: Severity,
    radius: z.number().int().describe('Hamming radius of a match'),
    enabled: z.number().int().describe('1 enabled, 0 disabled'),
    created_at: z.number().describe('epoch ms'),
    created_by: z.string(),
    kind: z.enum(['positive', 'negative']).describe('negative: HMA\'s "don\'t match" bank, whose matches suppress positive ones'),
    matching_enabled_ratio: z.number().describe("Share of the bank's content that matches (gradual rollout, by content id)"),
  })
  .meta({ id: 'Bank' });

/** Hash banks: list, create, add PDQ hashes, export, disable. Changes apply to live matching at once. */
export function bankRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'GET',
    url: '/api/v1/banks',
    config: { auth: 'moderator' },
    schema: {
      summary: 'List hash banks',
      tags: ['banks'],
      response: {
        200: json(
          z.object({
            banks: z.array(BankRow.extend({ entries: z.number().int(), enabledEntries: z.number().int() })),
            indexed: z.number().int().describe('Hashes in the live matching index'),
            revision: z.number().int().describe('Index revision (grows with every applied change)'),
          }),
          'Banks',
        ),
      },
    },
    handler: async () => ({ banks: await listBanks(db), indexed: ctx.banks.size, revision: ctx.banks.revision }),
  });

  app.route({
    method: 'POST',
    url: '/api/v1/banks',
    config: { auth: 'operator' },
    schema: {
      summary: 'Create a hash bank',
      tags: ['banks'],
      body: CreateBankSchema,
      response: { 201: json(BankRow, 'Created'), ...errors({ 409: 'Exists' }) },
    },
    handler: async (req, reply) => {
      const bank = await createBank(db, req.principal.actor, req.body);
      await ctx.banks.refresh();
      reply.code(201);
      return bank;
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/banks/:name/entries',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Add PDQ hashes to a bank (applies to live matching at once)',
      tags: ['banks'],
      params: BankParams,
      body: z
        .object({
          entries: z
            .array(
              z
                .object({
                  hash: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (PDQ)'),
                  category: z.string().min(1).max(80).optional(),
                  severity: Severity.optional(),
                  note: z.string().max(500).optional(),
                  source: z.string().max(200).optional(),
                })
                .strict(),
            )
            .min(1)
            .max(10_000),
        })
        .strict(),
      response: {
        200: json(
          z.object({
            added: z.number().int(),
            duplicates: z.number().int().describe('Already in the bank (no-op)'),
            ids: z.array(z.string()).describe('Ids of the new entries'),
          }),
          'Added',
        ),
        ...errors({ 404: 'No such bank' }),
      },
    },
    handler: async (req) => {
      const res = await addEntries(db, req.principal.actor, req.params.name, req.body.entries);
      await ctx.banks.refresh();
      return res;
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/banks/:name/export',
    config: { auth: 'moderator' },
    schema: {
      summary: "Export a bank's enabled entries as a hash list (csv, plain or hma: its pictures; vpdq: its videos)",
      tags: ['banks'],
      params: BankParams,
      querystring: z.object({ format: z.enum(['csv', 'plain', 'hma', 'vpdq']).default('csv') }).strict(),
      response: {
        200: text(
          ['text/csv', 'text/plain'],
          'The hash list: text/csv for csv, text/plain for plain, hma and vpdq (`# NAME: vPDQ` then `hash,quality,timestamp` lines per video)',
        ),
        ...errors({ 404: 'No such bank' }),
      },
    },
    handler: async (req, reply) => {
      const format = req.query.format;
      const { text } = await bankListText(db, req.params.name, format);
      return reply.type(format === 'csv' ? 'text/csv' : 'text/plain').send(text);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/banks/:name/disable',
    config: { auth: 'operator' },
    schema: {
      summary: 'Disable (or with enabled:true, re-enable) a bank',
      tags: ['banks'],
      params: BankParams,
      body: z.object({ reason: Reason.optional(), enabled: z.boolean().default(false) }).strict(),
      response: { 200: json(z.object({ bank: z.string(), enabled: z.boolean() }), 'Done'), ...errors({ 404: 'No such bank' }) },
    },
    handler: async (req) => {
      await setBankEnabled(db, req.principal.actor, req.params.name, req.body.enabled, req.body.reason ?? null);
      await ctx.banks.refresh();
      return { bank: req.params.name, enabled: req.body.enabled };
    },
  });
}
