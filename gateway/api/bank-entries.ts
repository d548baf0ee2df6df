import { Transform, type Readable } from 'node:stream';
import { z } from 'zod';
import { PDQ_MIN_QUALITY } from '../../classifiers/pdq.ts';
import { importEntries } from '../banks/bulk-import.ts';
import { getEntry, listEntries, type EntryRow } from '../banks/entries.ts';
import { getBank, setEntryEnabled } from '../banks/manage.ts';
import { entriesWithPictures, entryPicture } from '../banks/pictures.ts';
import { readHashListStream } from '../banks/read-list.ts';
import { BankNameSchema } from '../banks/schema.ts';
import { addVideos } from '../banks/videos.ts';
import { notFound } from '../errors.ts';
import type { ApiContext } from './context.ts';
import { HttpError } from './errors.ts';
import { binary, errors, json, type ApiApp } from './route.ts';
import { iso, IsoTime, limitQuery, Reason, Severity } from './schemas.ts';

const BankParams = z.object({ name: BankNameSchema.describe('Bank name') });
const EntryId = z
  .string()
  .regex(/^bk[ed]_[A-Za-z0-9_-]{1,64}$/, 'expected a bke_… entry id')
  .describe('Entry id (bke_…)');
const EntryParams = BankParams.extend({ id: EntryId });

/** The most an import upload may hold (a hash list of about a million lines). */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;
/** The per-line errors an import answers with (the count is always exact). */
export const IMPORT_MAX_ERRORS = 1000;

/** A bank entry as moderators see it. */
export const BankEntryView = z
  .object({
    id: z.string().describe('bke_…'),
    bank: z.string(),
    hash: z.string().describe('PDQ, 64 hex; for a video (signalType vpdq) its identity, `vpdq:` and the sha256 of its frames'),
    signalType: z.string().describe("`pdq`: a picture; `vpdq`: a video, matched by a stream's recent frames"),
    frames: z.number().int().nullable().describe('A video: how many frame hashes it holds; null for a picture'),
    category: z.string(),
    severity: Severity,
    note: z.string().nullable(),
    source: z.string().nullable().describe('Where it came from: a list, a file, or `decision:dec_…` for a confirmed decision'),
    addedBy: z.string(),
    addedAt: IsoTime,
    enabled: z.boolean(),
    derived: z.number().int().describe('Derived entries (crops of this picture) matched on its behalf'),
    derivedFrom: z.string().nullable().describe('For a derived entry: the entry it was cut from'),
    region: z.string().nullable().describe('For a derived entry: which crop of its entry it hashes'),
    picture: z.string().nullable().describe('URL of a small JPEG of what was banked (pictures and confirmed evidence); null: a hash only'),
    quarantined: z
      .boolean()
      .describe('Held by the flood guard or a partner deconfirmation: its matches are logged but act on nothing (GET /api/v1/entry-quarantines)'),
    opinion: z.enum(['confirmed', 'deconfirmed']).nullable().describe("A moderator's opinion of this (third-party) signal; null: none given"),
  })
  .meta({ id: 'BankEntry' });

export function entryView(e: EntryRow, hasPicture: boolean): z.infer<typeof BankEntryView> {
  return {
    id: e.id,
    bank: e.bank,
    hash: e.hash,
    signalType: e.signal_type,
    frames: e.frames === null ? null : e.frames.split('\n').length,
    category: e.category,
    severity: e.severity,
    note: e.note,
    source: e.source,
    addedBy: e.added_by,
    addedAt: iso(e.added_at),
    enabled: e.enabled === 1,
    derived: e.derived,
    derivedFrom: e.derived_from,
    region: e.region,
    picture: hasPicture ? `/api/v1/banks/${encodeURIComponent(e.bank)}/entries/${encodeURIComponent(e.id)}/picture` : null,
    quarantined: e.quarantined === 1,
    opinion: e.opinion === 'confirmed' || e.opinion === 'deconfirmed' ? e.opinion : null,
  };
}

const ImportReport = z.object({
  bank: z.string(),
  format: z.enum(['plain', 'hma', 'csv', 'vpdq']).nullable().describe('The format read (detected from the first line unless given); null for an empty file'),
  lines: z.number().int(),
  valid: z.number().int(),
  added: z.number().int(),
  duplicates: z.number().int().describe('Already in the bank (no-op)'),
  lowQuality: z.number().int().describe('Lines skipped for a PDQ quality below minQuality'),
  videos: z
    .object({
      valid: z.number().int().describe('Videos read: runs of vPDQ frame lines, each one entry'),
      added: z.number().int(),
      duplicates: z.number().int().describe('Already in the bank (the same frames)'),
      ids: z.array(z.string()).describe('Ids of the new video entries'),
    })
    .describe("vPDQ videos (one entry each, matched by a stream's recent frames)"),
  errorCount: z.number().int(),
  errors: z.array(z.object({ line: z.number().int(), reason: z.string() })).describe(`The first ${IMPORT_MAX_ERRORS} per-line errors`),
  bytes: z.number().int(),
});

/** Counts the bytes of an upload and fails it past the limit, so a huge body is refused while it streams. */
function limited(input: Readable, max: number): { stream: Readable; bytes: () => number } {
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      if (n > max) return done(new HttpError(413, 'body_too_large', `the file is over ${max / 1024 / 1024} MiB; import it with \`modgate bank import\``));
      done(null, chunk);
    },
  });
  input.on('error', (err) => t.destroy(err));
  return { stream: input.pipe(t), bytes: () => n };
}

/** A bank's entries: paged, one by one with its picture, disable/enable, and a large-file import streamed line by line. */
export function bankEntryRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'GET',
    url: '/api/v1/banks/:name/entries',
    config: { auth: 'moderator' },
    schema: {
      summary: "A bank's entries, a page at a time (ordered by id)",
      tags: ['banks'],
      params: BankParams,
      querystring: z
        .object({
          after: EntryId.optional().describe("The previous page's `next`"),
          limit: limitQuery(500, 50),
          q: z.string().trim().max(200).optional().describe('A hash prefix, or text in the note or source'),
          enabled: z.enum(['true', 'false']).optional(),
        })
        .strict(),
      response: {
        200: json(z.object({ entries: z.array(BankEntryView), next: z.string().nullable().describe('Pass as `after`; null on the last page') }), 'Entries'),
        ...errors({ 404: 'No such bank' }),
      },
    },
    handler: async ({ params, query }) => {
      const page = await listEntries(db, params.name, {
        limit: query.limit,
        ...(query.after ? { after: query.after } : {}),
        ...(query.q ? { q: query.q } : {}),
        ...(query.enabled ? { enabled: query.enabled === 'true' } : {}),
      });
      const pictures = await entriesWithPictures(
        db,
        page.entries.map((e) => e.id),
      );
      return { entries: page.entries.map((e) => entryView(e, pictures.has(e.id))), next: page.next };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/banks/:name/entries/:id',
    config: { auth: 'moderator' },
    schema: {
      summary: 'One bank entry (the review screen shows it beside the frame that matched it)',
      tags: ['banks'],
      params: EntryParams,
      response: { 200: json(BankEntryView, 'The entry'), ...errors({ 404: 'No such entry in this bank' }) },
    },
    handler: async ({ params }) => {
      const e = await getEntry(db, params.name, params.id);
      return entryView(e, (await entriesWithPictures(db, [e.id])).has(e.id));
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/banks/:name/entries/:id/picture',
    config: { auth: 'moderator' },
    schema: {
      summary: 'A small JPEG of what the entry was hashed from (a banked picture, or the confirmed evidence frame)',
      tags: ['banks'],
      params: EntryParams,
      response: { 200: binary('image/jpeg', 'The picture'), ...errors({ 404: 'No such entry, or it was banked as a hash only' }) },
    },
    handler: async ({ params }, reply) => {
      await getEntry(db, params.name, params.id);
      const p = await entryPicture(db, params.id);
      if (!p) throw notFound(`a picture of entry '${params.id}'`);
      return reply.type('image/jpeg').header('Cache-Control', 'private, max-age=3600').send(p.jpeg);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/banks/:name/entries/:id/disable',
    config: { auth: 'operator' },
    schema: {
      summary: 'Disable (or with enabled:true, re-enable) one entry and its derived crops; live matching follows within a second',
      tags: ['banks'],
      params: EntryParams,
      body: z.object({ reason: Reason.optional(), enabled: z.boolean().default(false) }).strict(),
      response: { 200: json(z.object({ entry: BankEntryView, enabled: z.boolean() }), 'Done'), ...errors({ 404: 'No such entry in this bank' }) },
    },
    handler: async (req) => {
      await setEntryEnabled(db, req.principal.actor, req.params.name, req.params.id, req.body.enabled, req.body.reason ?? null);
      await ctx.banks.refresh();
      await ctx.videos?.refresh();
      const e = await getEntry(db, req.params.name, req.params.id);
      return { entry: entryView(e, (await entriesWithPictures(db, [e.id])).has(e.id)), enabled: req.body.enabled };
    },
  });

  // The upload is a hash-list file as sent (text/plain, text/csv or application/octet-stream): the parser
  // below hands the request stream to the route, which reads it line by line and never holds the text.
  app.register(async (child: ApiApp) => {
    child.addContentTypeParser(['text/plain', 'text/csv', 'application/octet-stream'], (_req, payload, done) => done(null, payload));
    child.route({
      method: 'POST',
      url: '/api/v1/banks/:name/import',
      config: { auth: 'moderator' },
      bodyLimit: IMPORT_MAX_BYTES,
      schema: {
        summary: 'Import a hash-list file (plain, HMA, CSV or vPDQ lines), streamed: every valid line in one transaction, with a per-line error report',
        description: `Send the file itself as the body (text/plain, text/csv or application/octet-stream), up to ${IMPORT_MAX_BYTES / 1024 / 1024} MiB. Lines are parsed as they arrive with the parser \`modgate bank import\` uses; the valid ones are added in one transaction (re-adding a hash is a no-op), the invalid ones reported by line.`,
        tags: ['banks'],
        params: BankParams,
        querystring: z
          .object({
            format: z.enum(['auto', 'plain', 'hma', 'csv', 'vpdq']).default('auto'),
            source: z.string().trim().min(1).max(200).optional().describe('Where the list came from (kept on each entry; default: upload)'),
            minQuality: z.coerce
              .number()
              .int()
              .min(0)
              .max(100)
              .default(PDQ_MIN_QUALITY)
              .describe('Skip lines whose PDQ quality is below this (lines that carry one)'),
            framesAsPhotos: z
              .enum(['true', 'false'])
              .default('false')
              .describe('true: bank each frame of a vPDQ video as its own picture entry (the older reading; any one frame then matches by itself)'),
          })
          .strict(),
        response: { 200: json(ImportReport, 'Imported'), ...errors({ 404: 'No such bank' }) },
      },
      handler: async (req) => {
        const bank = await getBank(db, req.params.name);
        const body = req.body as Readable | undefined;
        if (!body || typeof (body as Readable).pipe !== 'function')
          throw new HttpError(400, 'invalid_request', 'send the hash list as the request body', 'body');
        const upload = limited(body, IMPORT_MAX_BYTES);
        const { format, query } = { format: req.query.format, query: req.query };
        const list = await readHashListStream(upload.stream, {
          ...(format !== 'auto' ? { format } : {}),
          minQuality: query.minQuality,
          framesAsPhotos: query.framesAsPhotos === 'true',
        });
        const source = query.source ?? 'upload';
        const res =
          list.entries.length > 0 ? await importEntries(ctx.store, req.principal.actor, bank.name, list.entries, { source }) : { added: 0, duplicates: 0 };
        const videos =
          list.videos.length > 0 ? await addVideos(db, req.principal.actor, bank.name, list.videos, { source }) : { added: 0, duplicates: 0, ids: [] };
        if (res.added > 0) await ctx.banks.refresh();
        if (videos.added > 0) await ctx.videos?.refresh();
        return {
          bank: bank.name,
          format: list.format,
          lines: list.lines,
          valid: list.entries.length,
          added: res.added,
          duplicates: res.duplicates,
          lowQuality: list.lowQuality,
          videos: { valid: list.videos.length, ...videos },
          errorCount: list.errors.length,
          errors: list.errors.slice(0, IMPORT_MAX_ERRORS),
          bytes: upload.bytes(),
        };
      },
    });
  });
}
