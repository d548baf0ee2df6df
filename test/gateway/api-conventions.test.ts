import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { createApiServer } from '../../gateway/api/http.ts';
import { errors, json, text, type ApiApp } from '../../gateway/api/route.ts';
import { idOf, idParams, Reason } from '../../gateway/api/schemas.ts';
import { createLogger } from '../../gateway/log.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';

/**
 * The conventions every API route gets, on a small API of test routes (in-process, a real SQLite file):
 * authentication before validation, the 400 naming the field, fastify's own client errors in the error
 * shape, and response checking — a response its schema does not describe exactly is a 500 when
 * `checkResponses` is on, and is sent untouched (never stripped) when it is off.
 */

const WidgetId = idOf('wid', 'Widget id (wid_…)');
const Widget = z.object({ id: z.string(), turns: z.number().int() });

/** Test routes; `answer` picks what the handler returns, to show each kind of mismatch. */
function widgetRoutes(app: ApiApp): void {
  app.route({
    method: 'POST',
    url: '/api/v1/widgets/:id/spin',
    config: { auth: 'moderator' },
    schema: {
      summary: 'Spin a widget',
      tags: ['widgets'],
      params: idParams(WidgetId),
      querystring: z.object({ answer: z.enum(['exact', 'extra', 'wrong-type', 'missing', 'undeclared-status']).default('exact') }).strict(),
      body: z.object({ reason: Reason, turns: z.number().int().min(1) }).strict(),
      response: { 200: json(Widget, 'The widget, spun'), ...errors({ 404: 'No such widget' }) },
    },
    handler: async (req, reply) => {
      const w = { id: req.params.id, turns: req.body.turns };
      switch (req.query.answer) {
        case 'extra':
          return { ...w, secret: 'not in the schema' };
        case 'wrong-type':
          return { ...w, turns: String(w.turns) } as unknown as typeof w;
        case 'missing':
          return { id: w.id } as typeof w;
        case 'undeclared-status':
          reply.code(202 as 200); // the types know the declared statuses; the check catches what slips past them
          return w;
        default:
          return w;
      }
    },
  });

  // A stream answer (server-sent events, as the console's push will be) passes the checks untouched.
  app.route({
    method: 'GET',
    url: '/api/v1/widgets/events',
    config: { auth: 'public' },
    schema: { summary: 'Widget events', tags: ['widgets'], response: { 200: text(['text/event-stream'], 'Server-sent events') } },
    handler: async (_req, reply) => reply.type('text/event-stream').send(Readable.from(['event: spun\ndata: {"id":"wid_1"}\n\n'])),
  });
}

async function server(store: Store, checkResponses: boolean): Promise<FastifyInstance> {
  const app = await createApiServer({ log: createLogger('silent'), version: 'test', db: store.db, checkResponses, routes: widgetRoutes });
  await app.ready();
  return app;
}

let dir: string;
let store: Store;
let checked: FastifyInstance;
let unchecked: FastifyInstance;
let token: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modgate-api-'));
  store = await openStore(`sqlite:${path.join(dir, 'api.sqlite')}`);
  token = (await issueToken(store.db, 'test', 'mod', 'moderator')).token;
  [checked, unchecked] = await Promise.all([server(store, true), server(store, false)]);
});
afterAll(async () => {
  await Promise.all([checked?.close(), unchecked?.close()]);
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function spin(app: FastifyInstance, opts: { id?: string; answer?: string; body?: unknown; raw?: string; contentType?: string; auth?: string | null } = {}) {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  const auth = opts.auth === undefined ? token : opts.auth;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  return app.inject({
    method: 'POST',
    url: `/api/v1/widgets/${opts.id ?? 'wid_1'}/spin${opts.answer ? `?answer=${opts.answer}` : ''}`,
    headers,
    payload: opts.raw ?? JSON.stringify(opts.body ?? { reason: 'test', turns: 3 }),
  });
}

describe('request handling every route gets', () => {
  it('typed params, query and body reach the handler validated', async () => {
    const res = await spin(checked);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'wid_1', turns: 3 });
  });

  it('a malformed id in the path → 400 invalid_request naming params.id, before any handler runs', async () => {
    const res = await spin(checked, { id: 'not-an-id' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', field: 'params.id' });
  });

  it('bad body and query fields are named as body.x and query.x; an unknown key names the part', async () => {
    expect((await spin(checked, { body: { reason: 'x', turns: 0 } })).json()).toMatchObject({ error: 'invalid_request', field: 'body.turns' });
    expect((await spin(checked, { body: { reason: 'x', turns: 1, more: true } })).json()).toMatchObject({ field: 'body' });
    expect((await spin(checked, { answer: 'sometimes' })).json()).toMatchObject({ field: 'query.answer' });
  });

  it('authentication comes before validation: no token → 401 whatever the body; a bad body with a token → 400', async () => {
    const res = await spin(checked, { auth: null, body: { nonsense: true } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('unauthorized');
    expect((await spin(checked, { auth: 'mg_unknown', id: 'bad id' })).statusCode).toBe(401);
  });

  it("fastify's own client errors keep the error shape: malformed JSON 400, wrong content type 415, body too large 413", async () => {
    const malformed = await spin(checked, { raw: '{"reason": ' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toBe('invalid_json');
    const xml = await spin(checked, { raw: '<spin/>', contentType: 'application/xml' });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', message: expect.any(String) });
    const huge = await spin(checked, { raw: JSON.stringify({ reason: 'x'.repeat(300 * 1024), turns: 1 }) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  });

  it('a server-sent event stream goes out as sent', async () => {
    const res = await checked.inject({ method: 'GET', url: '/api/v1/widgets/events' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.body).toBe('event: spun\ndata: {"id":"wid_1"}\n\n');
  });

  it('a route without config.auth or without response schemas is refused at start-up', async () => {
    const bare = (route: Parameters<ApiApp['route']>[0]) =>
      createApiServer({ log: createLogger('silent'), version: 'test', db: store.db, checkResponses: true, routes: (app) => app.route(route) });
    await expect(
      bare({ method: 'GET', url: '/api/v1/open', schema: { response: { 200: json(z.object({}), 'x') } }, handler: async () => ({}) }),
    ).rejects.toThrow(/config\.auth/);
    await expect(bare({ method: 'GET', url: '/api/v1/vague', config: { auth: 'public' }, handler: async () => ({}) })).rejects.toThrow(/schema\.response/);
  });
});

describe('responses are checked against their schemas (http.checkResponses)', () => {
  it('a field the schema does not list → 500 in tests; without the check it is sent, not stripped', async () => {
    const res = await spin(checked, { answer: 'extra' });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('internal');
    const sent = await spin(unchecked, { answer: 'extra' });
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toEqual({ id: 'wid_1', turns: 3, secret: 'not in the schema' });
  });

  it('a mistyped or missing field → 500', async () => {
    expect((await spin(checked, { answer: 'wrong-type' })).statusCode).toBe(500);
    expect((await spin(checked, { answer: 'missing' })).statusCode).toBe(500);
  });

  it('a status the route does not declare → 500', async () => {
    expect((await spin(checked, { answer: 'undeclared-status' })).statusCode).toBe(500);
    expect((await spin(unchecked, { answer: 'undeclared-status' })).statusCode).toBe(202);
  });

  it('error answers are checked too, and the generic statuses are declared for every route', async () => {
    const doc = (await checked.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const op = doc.paths['/api/v1/widgets/{id}/spin'].post;
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '404', '413', '415', '500']);
    expect(op.responses['404'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(op['x-required-role']).toBe('moderator');
  });
});
