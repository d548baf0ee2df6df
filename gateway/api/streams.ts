import { z } from 'zod';
import { notFound } from '../errors.ts';
import type { LiveStream } from '../live/registry.ts';
import type { ApiContext } from './context.ts';
import { defineRoute, type RouteDef } from './route.ts';

export function streamView(s: LiveStream) {
  return {
    id: s.id,
    account: s.handle,
    protocol: s.protocol,
    startedAt: new Date(s.startedAt).toISOString(),
    playPath: s.playPath,
  };
}

const CutBody = z.object({ reason: z.string().trim().min(1, 'a reason is required').max(500) }).strict();

export function streamRoutes(ctx: ApiContext): RouteDef[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/streams',
      summary: 'List live streams',
      tag: 'streams',
      role: 'moderator',
      responses: { 200: 'Live streams, oldest first', 401: 'Missing or wrong token' },
      handler: async () => ({ streams: ctx.registry.list().map(streamView) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/streams/:id/cut',
      summary: 'Cut a live feed now',
      tag: 'streams',
      role: 'moderator',
      params: { id: 'Stream id (str_…)' },
      body: CutBody,
      responses: { 200: 'The feed was cut', 400: 'Invalid body', 404: 'No such live stream' },
      handler: async ({ params, body, principal }) => {
        const id = params.id ?? '';
        const stream = await ctx.registry.cut(id, { reason: 'cut', message: body.reason, actor: principal.actor });
        if (!stream) throw notFound(`live stream '${id}'`);
        return { cut: streamView(stream) };
      },
    }),
  ];
}
