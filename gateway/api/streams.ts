import { z } from 'zod';
import { notFound } from '../errors.ts';
import type { ApiContext } from './context.ts';
import { binary, errors, json, type ApiApp } from './route.ts';
import { idParams, Reason, StreamId } from './schemas.ts';
import { streamView, StreamView } from './views/stream.ts';

/** Live streams: list them, their latest frame, cut one. */
export function streamRoutes(app: ApiApp, ctx: ApiContext): void {
  app.route({
    method: 'GET',
    url: '/api/v1/streams',
    config: { auth: 'moderator' },
    schema: {
      summary: 'List live streams',
      tags: ['streams'],
      response: { 200: json(z.object({ streams: z.array(StreamView) }), 'Live streams, oldest first') },
    },
    handler: async () => ({ streams: ctx.registry.list().map((s) => streamView(s, ctx.live)) }),
  });

  app.route({
    method: 'POST',
    url: '/api/v1/streams/:id/cut',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Cut a live feed now',
      tags: ['streams'],
      params: idParams(StreamId),
      body: z.object({ reason: Reason }).strict(),
      response: { 200: json(z.object({ cut: StreamView }), 'The feed was cut'), ...errors({ 404: 'No such live stream' }) },
    },
    handler: async (req) => {
      const { id } = req.params;
      const stream = await ctx.registry.cut(id, { reason: 'cut', message: req.body.reason, actor: req.principal.actor });
      if (!stream) throw notFound(`live stream '${id}'`);
      return { cut: streamView(stream, ctx.live) };
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
}
