import { z } from 'zod';
import { SignalSchema } from '../../classifiers/signal.ts';
import { notFound } from '../errors.ts';
import type { ApiContext } from './context.ts';
import { json, errors, type ApiApp } from './route.ts';
import { idParams, iso, IsoTime, limitQuery, StreamId } from './schemas.ts';
import { ScoresView } from './views/stream.ts';

const Millis = z.coerce.number().int().min(0);
const TimeQuery = z.union([Millis, z.iso.datetime({ offset: true }).transform((t) => Date.parse(t))]);

const SignalView = z.object({
  id: z.number().int(),
  observedAt: IsoTime,
  frameTimeMs: z.number(),
  source: z.string().describe('violence, nsfw, hash_match, sampler, …'),
  label: z.string(),
  score: z.number().nullable().describe('null for a pure hash match'),
  match: z
    .object({ bank: z.string(), entryId: z.string(), distance: z.number().int(), variant: z.string(), region: z.string().nullable() })
    .nullable()
    .describe('For a hash match: the bank entry and its Hamming distance'),
  version: z.string(),
  evidence: z.object({ ref: z.string(), image: z.string() }).nullable(),
});

const SampleView = z.object({
  seq: z.number().int(),
  at: IsoTime,
  scores: ScoresView,
  nearestBankDistance: z.number().int().nullable().describe('null: no bank hash within the search radius'),
});

/** A stream's timeline: the signals stored for it (live or ended) and, while it is live here, its recent sampled frames. */
export function streamTimelineRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;

  app.route({
    method: 'GET',
    url: '/api/v1/streams/:id/signals',
    config: { auth: 'moderator' },
    schema: {
      summary: 'The signals stored for a stream (at or above the storage floor, matches and stalls), oldest first',
      description: "`since`/`until` bound the observation time (epoch ms or ISO 8601); `after` is the previous page's `next`.",
      tags: ['streams'],
      params: idParams(StreamId),
      querystring: z
        .object({
          since: TimeQuery.optional(),
          until: TimeQuery.optional(),
          after: z.coerce.number().int().min(0).optional(),
          limit: limitQuery(1000, 200),
        })
        .strict(),
      response: {
        200: json(z.object({ signals: z.array(SignalView), next: z.number().int().nullable().describe('Pass as `after`; null on the last page') }), 'Signals'),
        ...errors({ 404: 'No such stream' }),
      },
    },
    handler: async ({ params, query }) => {
      const stream = await db.selectFrom('streams').select('id').where('id', '=', params.id).executeTakeFirst();
      if (!stream) throw notFound(`stream '${params.id}'`);
      let q = db.selectFrom('signals').select(['id', 'observed_at', 'body']).where('stream_id', '=', params.id);
      if (query.since !== undefined) q = q.where('observed_at', '>=', query.since);
      if (query.until !== undefined) q = q.where('observed_at', '<', query.until);
      if (query.after !== undefined) q = q.where('id', '>', query.after);
      const rows = await q
        .orderBy('id')
        .limit(query.limit + 1)
        .execute();
      const page = rows.slice(0, query.limit);
      const signals = page.flatMap((r) => {
        // Stored by this gateway, but read back as outside input: a row that no longer parses is skipped, not a 500.
        const parsed = SignalSchema.safeParse(JSON.parse(r.body));
        if (!parsed.success) return [];
        const s = parsed.data;
        return [
          {
            id: Number(r.id),
            observedAt: iso(Number(r.observed_at)),
            frameTimeMs: s.frameTimeMs,
            source: s.source,
            label: s.label,
            score: s.score ?? null,
            match: s.match
              ? { bank: s.match.bank, entryId: s.match.entryId, distance: s.match.distance, variant: s.match.variant, region: s.match.region ?? null }
              : null,
            version: s.version,
            evidence: s.evidenceRef ? { ref: s.evidenceRef, image: `/api/v1/evidence/${s.evidenceRef}` } : null,
          },
        ];
      });
      return { signals, next: rows.length > query.limit ? Number(page[page.length - 1]!.id) : null };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/streams/:id/samples',
    config: { auth: 'moderator' },
    schema: {
      summary: "A live stream's recent sampled frames (scores per frame, nearest bank distance), oldest first",
      description:
        'Held in memory by the node carrying the stream (about the last 600 sampled frames); empty for a stream that is not live here. New frames arrive as `stream.frame` push events.',
      tags: ['streams'],
      params: idParams(StreamId),
      response: { 200: json(z.object({ live: z.boolean(), samples: z.array(SampleView) }), 'Samples') },
    },
    handler: async ({ params }) => {
      const live = ctx.registry.get(params.id) !== undefined && ctx.registry.get(params.id) !== null;
      const samples = live ? ctx.latestFrames.recent(params.id) : [];
      return { live, samples: samples.map((s) => ({ seq: s.seq, at: iso(s.at), scores: s.scores, nearestBankDistance: s.nearestBankDistance })) };
    },
  });
}
