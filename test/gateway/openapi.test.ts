import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppealsGateway, type AppealsGateway, type Streamer } from '../appeals/helpers.ts';

/**
 * The generated OpenAPI document against the routes the gateway actually registered, typed path
 * parameters, and every GET route answering under its response schema on real data (the test gateway
 * runs with `http.checkResponses`, so a response its schema does not describe exactly is a 500).
 */

interface Operation {
  summary?: string;
  security?: Array<Record<string, string[]>>;
  'x-required-role'?: string;
  parameters?: Array<{ in: string; name: string; required: boolean; schema: unknown }>;
  requestBody?: { required: boolean; content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

/** Every route the API has shipped (all of them existed before routes were typed): none may go missing. Add new ones here. */
const SHIPPED_ROUTES = [
  'POST /api/v1/hooks/nginx-rtmp',
  'POST /api/v1/hooks/mediamtx',
  'POST /api/v1/hooks/srs',
  'POST /api/v1/hooks/ome',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /api/v1/streams',
  'POST /api/v1/streams/:id/cut',
  'GET /api/v1/streams/:id/frame',
  'GET /api/v1/streams/:id/frame.jpg',
  'GET /api/v1/streams/:id/live.flv',
  'GET /api/v1/events',
  'GET /api/v1/whoami',
  'POST /api/v1/accounts',
  'GET /api/v1/accounts/:handle',
  'POST /api/v1/accounts/:handle/verify',
  'POST /api/v1/accounts/:handle/revoke',
  'POST /api/v1/accounts/:handle/suspend',
  'POST /api/v1/accounts/:handle/unsuspend',
  'POST /api/v1/accounts/:handle/keys',
  'POST /api/v1/accounts/:handle/keys/revoke',
  'POST /api/v1/accounts/:handle/strikes',
  'GET /api/v1/accounts/:handle/strikes',
  'POST /api/v1/strikes/:id/void',
  'POST /api/v1/accounts/:handle/token',
  'POST /api/v1/identity/webhook',
  'GET /api/v1/audit',
  'GET /api/v1/reviews',
  'GET /api/v1/decisions',
  'GET /api/v1/decisions/:id',
  'GET /api/v1/evidence/:kind/:owner/:seq',
  'POST /api/v1/decisions/:id/confirm',
  'POST /api/v1/decisions/:id/overturn',
  'GET /api/v1/banks',
  'POST /api/v1/banks',
  'POST /api/v1/banks/:name/entries',
  'GET /api/v1/banks/:name/export',
  'GET /api/v1/banks/:name/entries',
  'GET /api/v1/banks/:name/entries/:id',
  'GET /api/v1/banks/:name/entries/:id/picture',
  'POST /api/v1/banks/:name/entries/:id/disable',
  'POST /api/v1/banks/:name/import',
  'GET /api/v1/accounts',
  'GET /api/v1/streams/:id/signals',
  'GET /api/v1/streams/:id/samples',
  'POST /api/v1/banks/:name/disable',
  'GET /api/v1/policy',
  'PUT /api/v1/policy',
  'GET /api/v1/policy/versions',
  'GET /api/v1/policy/versions/:id',
  'POST /api/v1/policy/rollback',
  'POST /api/v1/policy/backtest',
  'GET /api/v1/me',
  'POST /api/v1/me/appeals',
  'GET /api/v1/me/appeals',
  'GET /api/v1/appeals',
  'GET /api/v1/appeals/:id',
  'POST /api/v1/appeals/:id/decide',
  'POST /api/v1/bans',
  'GET /api/v1/bans',
  'POST /api/v1/bans/:id/lift',
  'GET /api/v1/statements',
  'GET /api/v1/statements/:id',
  'POST /api/v1/statements/flush',
  'POST /api/v1/reports',
  'GET /api/v1/reports',
  'POST /api/v1/streams/:id/reports/resolve',
  'GET /api/v1/exchanges',
  'POST /api/v1/exchanges',
  'POST /api/v1/exchanges/:name/fetch',
  'POST /api/v1/exchanges/:name/enabled',
  'GET /api/v1/exchanges/:name/quarantine',
  'GET /api/v1/exchange/partners',
  'POST /api/v1/exchange/partners',
  'POST /api/v1/exchange/partners/:name/revoke',
  'GET /api/v1/exchange/feed',
  'GET /m/lookup',
  'GET /c/banks',
  'POST /c/bank/:name/signal',
  'GET /h/hash',
  'POST /h/hash',
  'PUT /c/bank/:name',
  'POST /api/v1/banks/:name/opinions',
  'GET /api/v1/opinions',
  'POST /api/v1/exchange/opinions',
  'GET /api/v1/entry-quarantines',
  'POST /api/v1/entry-quarantines/:id/clear',
  'POST /api/v1/entry-quarantines/:id/remove',
  'POST /api/v1/incidents',
  'GET /api/v1/incidents',
  'GET /api/v1/incidents/:id',
  'POST /api/v1/incidents/:id/end',
  'POST /api/v1/orders',
  'GET /api/v1/orders',
  'GET /api/v1/orders/:id',
  'POST /api/v1/orders/:id/acknowledge',
  'POST /api/v1/orders/:id/reject',
  'POST /api/v1/orders/:id/execute',
  'GET /api/v1/transparency',
  'GET /api/v1/stats',
];

const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');
const pathParams = (url: string) => [...url.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);

let g: AppealsGateway;
let doc: OpenApiDoc;
let alice: Streamer;

beforeAll(async () => {
  g = await startAppealsGateway();
  const res = await g.anon.get<OpenApiDoc>('/api/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
  alice = await g.streamer('alice');
});
afterAll(async () => g?.stop());

describe('the OpenAPI document is generated from the registered routes', () => {
  it('lists every registered route once, and nothing else', () => {
    const registered = g.gw.http.apiRoutes.filter((r) => !r.hidden).map((r) => `${r.method} ${openApiPath(r.url)}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual([...registered].sort());
    expect(new Set(registered).size).toBe(registered.length);
  });

  it('no shipped route is missing', () => {
    const registered = new Set(g.gw.http.apiRoutes.map((r) => `${r.method} ${r.url}`));
    expect(SHIPPED_ROUTES.filter((r) => !registered.has(r))).toEqual([]);
  });

  it('each operation documents its path parameters, query, body, every declared status, and who may call it', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const r of g.gw.http.apiRoutes.filter((x) => !x.hidden)) {
      const name = `${r.method} ${r.url}`;
      const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
      expect(op, name).toBeDefined();
      expect(op!.summary, name).toBeTruthy();
      const params = op!.parameters ?? [];
      expect(
        params
          .filter((p) => p.in === 'path')
          .map((p) => p.name)
          .sort(),
        name,
      ).toEqual(pathParams(r.url).sort());
      for (const p of params) expect(p.schema, `${name} ${p.in}:${p.name}`).toBeTruthy();
      if (r.validates.includes('params'))
        expect(
          params.every((p) => p.in !== 'path' || p.required),
          name,
        ).toBe(true);
      expect(
        params.some((p) => p.in === 'query'),
        name,
      ).toBe(r.validates.includes('querystring'));
      expect(op!.requestBody !== undefined, name).toBe(r.validates.includes('body'));
      if (op!.requestBody) expect(op!.requestBody.content['application/json']?.schema, name).toBeTruthy();

      expect(Object.keys(op!.responses).sort(), name).toEqual([...r.statuses].sort());
      expect(
        Object.keys(op!.responses).some((s) => s.startsWith('2')),
        `${name} has a success response`,
      ).toBe(true);
      for (const [status, resp] of Object.entries(op!.responses)) {
        expect(resp.description, `${name} ${status}`).toBeTruthy();
        const contents = Object.values(resp.content ?? {});
        expect(contents.length, `${name} ${status} has content`).toBeGreaterThan(0);
        for (const c of contents) expect(c.schema, `${name} ${status} schema`).toBeTruthy();
        if (Number(status) >= 400) expect(resp.content?.['application/json']?.schema, `${name} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      }

      if (r.auth === 'moderator' || r.auth === 'operator') {
        expect(op!.security, name).toEqual([{ bearer: [] }]);
        expect(op!['x-required-role'], name).toBe(r.auth);
        expect(op!.responses['401'] && op!.responses['403'], name).toBeTruthy();
      } else if (r.auth === 'streamer') {
        expect(op!.security, name).toEqual([{ accountToken: [] }]);
      } else if (r.auth === 'public') {
        expect(op!.security, name).toBeUndefined();
      }
    }
  });

  it('response schemas list their fields and forbid others, so the document says exactly what a client reads', () => {
    const decision = doc.components.schemas.Decision as { properties: Record<string, unknown>; additionalProperties: boolean };
    expect(decision.additionalProperties).toBe(false);
    expect(Object.keys(decision.properties)).toEqual(expect.arrayContaining(['id', 'ruleId', 'actions', 'review', 'evidence', 'detail']));
    const me = doc.paths['/api/v1/me']!.get!.responses['200']!.content!['application/json']!.schema as { properties: Record<string, unknown> };
    expect(Object.keys(me.properties)).toEqual(expect.arrayContaining(['canGoLive', 'goLive', 'activeSuspension', 'strikes', 'decisions', 'howToAppeal']));
  });

  it('the security schemes the operations name are defined', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['accountToken', 'bearer', 'webhookSignature']);
  });
});

describe('typed path parameters are validated before any lookup', () => {
  it('a malformed id or handle → 400 invalid_request naming the parameter', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/api/v1/decisions/nope', 'params.id'],
      ['POST', '/api/v1/decisions/42/overturn', 'params.id'],
      ['GET', '/api/v1/appeals/dec_wrong-kind', 'params.id'],
      ['POST', '/api/v1/strikes/x/void', 'params.id'],
      ['POST', '/api/v1/streams/not-a-stream/cut', 'params.id'],
      ['GET', '/api/v1/accounts/Not%20A%20Handle', 'params.handle'],
      ['GET', '/api/v1/banks/Bad%20Bank/export', 'params.name'],
      ['GET', '/api/v1/evidence/elsewhere/str_x/1', 'params.kind'],
      ['GET', '/api/v1/evidence/live/str_x/first', 'params.seq'],
    ];
    for (const [method, url, field] of cases) {
      const res = await g.api.request<{ error: string; field: string }>(method as 'GET' | 'POST', url, method === 'POST' ? { reason: 'x' } : undefined);
      expect(res.status, url).toBe(400);
      expect(res.body, url).toMatchObject({ error: 'invalid_request', field });
    }
  });

  it('a well-formed id that does not exist is still 404', async () => {
    for (const url of ['/api/v1/decisions/dec_missing', '/api/v1/appeals/apl_missing', '/api/v1/accounts/nobody', '/api/v1/evidence/live/str_x/1']) {
      expect((await g.mod.get(url)).status, url).toBe(404);
    }
  });
});

describe('every GET route answers under its response schema on real data', () => {
  it('decisions, appeals, strikes, banks, policy, audit, the streamer view and operations', async () => {
    const enforced = await g.enforce('alice');
    await g.shadow('alice');
    const filed = await alice.me.post<{ appeal: { id: string } }>('/api/v1/me/appeals', { decisionId: enforced.row.id, statement: 'that was a news report' });
    expect(filed.status).toBe(201);
    expect((await g.mod.post('/api/v1/accounts/alice/strikes', { category: 'spam', severity: 'low', reason: 'report #1' })).status).toBe(201);
    expect((await g.api.post('/api/v1/banks', { name: 'sample', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const entry = await g.api.post<{ ids: string[] }>('/api/v1/banks/sample/entries', { entries: [{ hash: 'ab'.repeat(32), note: 'openapi' }] });
    expect(entry.status).toBe(200);
    await g.gw.accountability.syncNow();
    const order = await g.api.post<{ order: { id: string } }>('/api/v1/orders', {
      authority: 'OCRVP',
      memberState: 'FR',
      reference: 'openapi-1',
      handle: 'alice',
    });
    expect(order.status).toBe(201);

    const active = await g.api.get<{ text: string }>('/api/v1/policy');
    const stored = await g.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: active.body.text, comment: 'openapi: a stored version' });
    expect(stored.status).toBe(200);

    const substitutions: Record<string, string> = {
      '/api/v1/policy/versions/:id': `/api/v1/policy/versions/${stored.body.versionId}`,
      '/api/v1/accounts/:handle': '/api/v1/accounts/alice',
      '/api/v1/accounts/:handle/strikes': '/api/v1/accounts/alice/strikes',
      '/api/v1/decisions/:id': `/api/v1/decisions/${enforced.row.id}`,
      '/api/v1/appeals/:id': `/api/v1/appeals/${filed.body.appeal.id}`,
      '/api/v1/banks/:name/export': '/api/v1/banks/sample/export',
      '/api/v1/banks/:name/entries': '/api/v1/banks/sample/entries',
      '/api/v1/banks/:name/entries/:id': `/api/v1/banks/sample/entries/${entry.body.ids[0]}`,
      '/api/v1/streams/:id/samples': `/api/v1/streams/${enforced.row.stream_id}/samples`,
      '/m/lookup': `/m/lookup?signal_type=pdq&signal=${'0'.repeat(64)}`,
      '/api/v1/transparency': '/api/v1/transparency?from=2020-01-01&to=2030-01-01',
      '/api/v1/orders/:id': `/api/v1/orders/${order.body.order.id}`,
      '/api/v1/statements/:id': `/api/v1/statements/${(await g.gw.store.db.selectFrom('statements').select('id').executeTakeFirstOrThrow()).id}`,
    };
    const gets = g.gw.http.apiRoutes.filter((r) => r.method === 'GET' && !r.hidden);
    const streamerOnly = new Set(gets.filter((r) => r.auth === 'streamer').map((r) => r.url));
    const skipped: string[] = [];
    for (const r of gets) {
      const url = substitutions[r.url] ?? r.url;
      // The event stream never ends by itself (test/events reads it); the exchange feed takes a partner's token and
      // /h/hash fetches a URL (test/exchanges).
      if (url.includes(':') || url === '/api/v1/events' || url === '/api/v1/exchange/feed' || url === '/h/hash') {
        skipped.push(r.url);
        continue;
      }
      const client = streamerOnly.has(r.url) ? alice.me : g.api;
      const res = await client.get(url);
      expect(res.status, `${url}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(200);
    }
    // The evidence image and a live stream's latest frame need real frames (test/pipeline, test/events); a
    // bank entry's picture and a stream's stored signals are read in test/gateway/console-api.test.ts.
    expect(skipped.sort()).toEqual([
      '/api/v1/banks/:name/entries/:id/picture',
      '/api/v1/events',
      '/api/v1/evidence/:kind/:owner/:seq',
      '/api/v1/exchange/feed',
      '/api/v1/exchanges/:name/quarantine',
      '/api/v1/incidents/:id',
      '/api/v1/streams/:id/frame',
      '/api/v1/streams/:id/frame.jpg',
      '/api/v1/streams/:id/live.flv',
      '/api/v1/streams/:id/signals',
      '/h/hash',
    ]);

    // The queues with something in them, under the other filters.
    for (const url of ['/api/v1/reviews?status=pending', '/api/v1/decisions?shadow=true', '/api/v1/appeals?status=open', '/api/v1/audit?limit=2']) {
      expect((await g.mod.get(url)).status, url).toBe(200);
    }
  });
});
