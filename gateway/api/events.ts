import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { PUSH_EVENT_TYPES, sseFrame, type BusEvent, type PushEventType } from '../events/bus.ts';
import type { ApiContext } from './context.ts';
import { HttpError, json, text, type ApiApp } from './route.ts';
import { iso, IsoTime } from './schemas.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
export const PING_MS = 15_000;
/** How often an open stream checks that its token still stands. */
const REVOCATION_CHECK_MS = 2_000;
/** A client this far behind (bytes queued) is dropped; it reconnects with Last-Event-ID. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

const commaList = <T extends string>(allowed: readonly T[] | null, what: string) =>
  z
    .string()
    .max(10_000)
    .transform((v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .refine((list) => allowed === null || list.every((x) => (allowed as readonly string[]).includes(x)), {
      message: `unknown ${what}; expected a comma-separated list of ${allowed?.join(', ')}`,
    })
    .optional();

/** Who am I, and the push events (server-sent events) the console lives on. */
export function eventRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  const open = new Set<PassThrough>();
  // A stream never ends by itself: end them all before the server waits for its connections to close.
  app.addHook('preClose', async () => {
    for (const s of open) s.end();
  });

  app.route({
    method: 'GET',
    url: '/api/v1/whoami',
    config: { auth: 'moderator' },
    schema: {
      summary: 'The admin token presented: its name and role',
      tags: ['operations'],
      response: {
        200: json(
          z.object({ actor: z.string(), name: z.string(), role: z.enum(['moderator', 'operator', 'authority']), tokenId: z.string(), createdAt: IsoTime }),
          'The token',
        ),
      },
    },
    handler: async (req) => {
      const row = await db
        .selectFrom('admin_tokens')
        .selectAll()
        .where('id', '=', req.principal.tokenId ?? '')
        .executeTakeFirst();
      if (!row) throw new HttpError(401, 'unauthorized', 'invalid or revoked token');
      return { actor: req.principal.actor, name: row.name, role: row.role, tokenId: row.id, createdAt: iso(row.created_at) };
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/events',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Push events (text/event-stream): streams, sampled frames, decisions, reviews, appeals',
      description:
        'Send the token in the Authorization header (read the stream with fetch). A reconnect sends Last-Event-ID and gets what it missed from a buffer of the last 10,000 events, or one `reset` event. `: ping` every 15 s; the stream ends when the token is revoked.',
      tags: ['operations'],
      querystring: z
        .object({
          types: commaList(PUSH_EVENT_TYPES, 'event type').describe('Event types to receive (default: all)'),
          streams: commaList(null, 'stream').describe('Limit stream.frame events to these stream ids (default: all)'),
        })
        .strict(),
      headers: z
        .object({
          'last-event-id': z
            .string()
            .regex(/^\d{1,16}$/, 'expected the id of the last event received')
            .optional(),
        })
        .passthrough(),
      response: { 200: text(['text/event-stream'], 'Server-sent events') },
    },
    handler: async (req, reply) => {
      const types = req.query.types ? new Set<PushEventType>(req.query.types as PushEventType[]) : null;
      const frameStreams = req.query.streams ? new Set(req.query.streams) : null;
      const wanted = (e: BusEvent) =>
        (types === null || types.has(e.type)) && (e.type !== 'stream.frame' || frameStreams === null || frameStreams.has(e.data.streamId as string));

      const out = new PassThrough();
      open.add(out);
      let closed = false;
      const write = (chunk: string) => {
        if (closed) return;
        out.write(chunk);
        if (out.writableLength > MAX_QUEUED_BYTES) finish();
      };
      const send = (e: BusEvent) => {
        if (wanted(e)) write(sseFrame(e));
      };

      // Subscribe first, then replay, so nothing published in between is lost; duplicates are skipped by id.
      let sentUpTo = ctx.events.lastId;
      const queued: BusEvent[] = [];
      let replaying = true;
      const unsubscribe = ctx.events.subscribe((e) => {
        if (replaying) queued.push(e);
        else if (e.id > sentUpTo) {
          sentUpTo = e.id;
          send(e);
        }
      });
      write('retry: 2000\n: connected\n\n');
      const lastHeader = req.headers['last-event-id'];
      if (typeof lastHeader === 'string') {
        const replay = ctx.events.since(Number(lastHeader));
        if ('reset' in replay) write(`id: ${sentUpTo}\nevent: reset\ndata: ${JSON.stringify({ reason: replay.reset })}\n\n`);
        else for (const e of replay.events) if (e.id <= sentUpTo) send(e);
      }
      replaying = false;
      for (const e of queued) if (e.id > sentUpTo) send(e);
      if (queued.length) sentUpTo = Math.max(sentUpTo, queued[queued.length - 1]!.id);

      const ping = setInterval(() => write(': ping\n\n'), ctx.eventsPingMs ?? PING_MS);
      const tokenId = req.principal.tokenId;
      const revocation = setInterval(() => {
        db.selectFrom('admin_tokens')
          .select('revoked_at')
          .where('id', '=', tokenId ?? '')
          .executeTakeFirst()
          .then((row) => {
            if (!row || row.revoked_at !== null) finish();
          })
          .catch(() => {
            // Database trouble: keep the stream; the next check decides.
          });
      }, REVOCATION_CHECK_MS);
      ping.unref();
      revocation.unref();

      function finish() {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(ping);
        clearInterval(revocation);
        open.delete(out);
        out.end();
      }
      reply.raw.on('close', finish);
      out.on('close', finish);

      return reply.header('Cache-Control', 'no-store').header('X-Accel-Buffering', 'no').type('text/event-stream; charset=utf-8').send(out);
    },
  });
}
