import { Readable } from 'node:stream';
import { z } from 'zod';
import { notFound } from '../errors.ts';
import { HttpError } from './errors.ts';
import type { ApiContext } from './context.ts';
import { binary, errors, json, type ApiApp } from './route.ts';
import { ContentCategory, idParams, Reason, StreamId } from './schemas.ts';
import { awaitRemoteCut, requestRemoteCut } from '../live/cut-requests.ts';
import { recordManualCut } from '../enforcement/manual.ts';
import { remoteStreamView, streamView, StreamView } from './views/stream.ts';

/** A chunked FLV body (a stream, not a Buffer). */
const flvResponse = {
  description: 'FLV, chunked, until the stream ends',
  content: { 'video/x-flv': { schema: z.custom<Readable>((v) => v instanceof Readable).meta({ type: 'string', format: 'binary' }) } },
};

/** Live streams: list them, their latest frame, watch one, cut one. */
export function streamRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/api/v1/streams',
    config: { auth: 'moderator' },
    schema: {
      summary: 'List live streams (on every node)',
      description:
        "The platform's live list: this node's streams in full, and every stream another node carries (from the database; a node that stops heartbeating has its streams closed as node_lost). While the database is unreachable, this node's own streams only (`partial`).",
      tags: ['streams'],
      response: {
        200: json(
          z.object({ streams: z.array(StreamView), partial: z.boolean().describe('true: the database did not answer; only this node is listed') }),
          'Live streams, oldest first',
        ),
      },
    },
    handler: async () => {
      const self = ctx.registry.nodeId;
      const local = ctx.registry.list().map((s) => streamView(s, ctx.live, self));
      let rows;
      try {
        rows = await ctx.store.db
          .selectFrom('streams')
          .innerJoin('accounts', 'accounts.id', 'streams.account_id')
          .select(['streams.id', 'accounts.handle', 'streams.protocol', 'streams.server', 'streams.started_at', 'streams.node_id'])
          .where('streams.ended_at', 'is', null)
          .where('streams.node_id', '!=', self)
          .execute();
      } catch (err) {
        ctx.log.warn({ err: (err as Error).message }, "listing other nodes' streams failed; listing this node only");
        return { streams: local, partial: true };
      }
      const all = [...local, ...rows.map(remoteStreamView)].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      return { streams: all, partial: false };
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/streams/:id/cut',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Cut a live feed now',
      tags: ['streams'],
      params: idParams(StreamId),
      body: z
        .object({
          reason: Reason,
          category: ContentCategory.optional().describe(
            'What the content was (a bank or strike category such as `graphic-violence`): the statement of reasons states its ground',
          ),
        })
        .strict(),
      description: 'On any node: a stream another node carries is cut by that node (a cut request it is notified of); the answer waits for it to confirm.',
      response: {
        200: json(z.object({ cut: StreamView }), 'The feed was cut'),
        ...errors({
          404: 'No such live stream',
          504: 'The node carrying the stream did not confirm the cut in time (code `cut_pending`: the request stays pending and is applied when it answers)',
        }),
      },
    },
    handler: async (req) => {
      const { id } = req.params;
      const db = ctx.store.db;
      const live = ctx.registry.get(id);
      const row = live
        ? undefined
        : await db
            .selectFrom('streams')
            .innerJoin('accounts', 'accounts.id', 'streams.account_id')
            .select([
              'streams.id',
              'streams.account_id',
              'accounts.identity_subject',
              'accounts.handle',
              'streams.protocol',
              'streams.server',
              'streams.started_at',
              'streams.node_id',
            ])
            .where('streams.id', '=', id)
            .where('streams.ended_at', 'is', null)
            .where('streams.node_id', '!=', ctx.registry.nodeId)
            .executeTakeFirst();
      if (!live && !row) throw notFound(`live stream '${id}'`);
      // The moderator's cut is a decision of its own: the streamer can read and appeal it, and a statement
      // of reasons (not automated) follows. Open viewer reports make it a cut on notice.
      const reports = await db
        .selectFrom('viewer_reports')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('stream_id', '=', id)
        .where('status', '=', 'open')
        .executeTakeFirst();
      const open = Number(reports?.n ?? 0);
      const recorded = await recordManualCut(db, {
        streamId: id,
        accountId: live?.accountId ?? row!.account_id,
        subject: live ? live.subject : row!.identity_subject,
        actor: req.principal.actor,
        reason: req.body.reason,
        category: req.body.category,
        origin: open > 0 ? { kind: 'viewer_reports', reports: open } : { kind: 'moderator' },
        at: Date.now(),
      });
      const request = {
        reason: 'cut' as const,
        message: req.body.reason,
        // A moderator's own words are the streamer's too (as on GET /me).
        streamerMessage: `ended by a moderator: ${req.body.reason}`,
        actor: req.principal.actor,
        detail: { decisionId: recorded.row.id },
      };
      const stream = await ctx.registry.cut(id, request);
      if (stream) return { cut: streamView(stream, ctx.live, ctx.registry.nodeId) };
      if (!row) throw notFound(`live stream '${id}'`);
      const requestId = await requestRemoteCut(ctx.store.db, id, row.node_id, request);
      const outcome = await awaitRemoteCut(ctx.store.db, requestId, 10_000);
      if (outcome === null) throw new HttpError(504, 'cut_pending', `node ${row.node_id} did not confirm the cut within 10 s; the request stays pending`);
      if (outcome === 'not_live') throw notFound(`live stream '${id}'`);
      return { cut: remoteStreamView(row) };
    },
  });

  for (const url of ['/api/v1/streams/:id/frame', '/api/v1/streams/:id/frame.jpg']) {
    app.route({
      method: 'GET',
      url,
      config: { auth: 'moderator' },
      schema: {
        summary: url.endsWith('.jpg') ? 'The latest sampled frame (same as /frame)' : 'The latest sampled frame of a live stream (JPEG, the sampler size)',
        description: 'Held in memory only, one frame per stream. Headers X-Frame-Seq and X-Frame-At say which frame it is.',
        tags: ['streams'],
        params: idParams(StreamId),
        response: { 200: binary('image/jpeg', 'The frame'), ...errors({ 404: 'Not live, or no frame sampled yet' }) },
      },
      handler: async (req, reply) => {
        const found = ctx.registry.get(req.params.id) ? ctx.latestFrames.jpeg(req.params.id) : null;
        if (!found) throw notFound(`a sampled frame of live stream '${req.params.id}'`);
        return reply
          .type('image/jpeg')
          .header('Cache-Control', 'no-store')
          .header('X-Frame-Seq', String(found.seq))
          .header('X-Frame-At', new Date(found.at).toISOString())
          .send(found.jpeg);
      },
    });
  }

  app.route({
    method: 'GET',
    url: '/api/v1/streams/:id/live.flv',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Watch a live stream: HTTP-FLV for a browser player (mpegts.js), from the last keyframe, until the stream ends',
      description:
        'RTMP streams are copied from the relay; WebSocket streams are transcoded to H.264 + AAC. Send the token in the Authorization header (mpegts.js: `headers` in its config).',
      tags: ['streams'],
      params: idParams(StreamId),
      response: { 200: flvResponse, ...errors({ 404: 'Not live', 503: 'No ffmpeg to serve it with' }) },
    },
    handler: async (req, reply) => {
      const stream = ctx.registry.get(req.params.id);
      if (!stream || !ctx.flv.canWatch(stream)) throw notFound(`live stream '${req.params.id}'`);
      let viewer;
      try {
        viewer = await ctx.flv.open(stream);
      } catch (err) {
        throw new HttpError(503, 'unavailable', `cannot serve live video: ${(err as Error).message}`);
      }
      reply.raw.on('close', () => viewer.stop());
      return reply.type('video/x-flv').header('Cache-Control', 'no-store').header('X-Accel-Buffering', 'no').send(viewer.flv);
    },
  });
}
