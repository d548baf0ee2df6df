import { z } from 'zod';
import { notFound } from '../errors.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { idParams, Reason, StreamId } from './schemas.ts';
import { streamView, StreamView } from './views/stream.ts';

/** Live streams: list them, cut one. */
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
    handler: async () => ({ streams: ctx.registry.list().map(streamView) }),
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
      return { cut: streamView(stream) };
    },
  });
}
