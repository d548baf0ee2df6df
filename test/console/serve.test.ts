import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIST, consoleRoutes } from '../../console/serve.ts';
import { CONSOLE_SECTIONS } from '../../console/src/app/paths.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { ensureConsoleBuilt } from './fixture.ts';

describe('the gateway serves the console on its HTTP port', () => {
  let t: TestGateway;
  beforeAll(async () => {
    await ensureConsoleBuilt();
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });
  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${t.httpUrl}${p}`, { headers });

  it('/ and every console section (with sub-paths) answer the console page, uncached, with a strict CSP', async () => {
    for (const p of ['/', ...CONSOLE_SECTIONS.map((s) => `/${s}`), '/reviews/dec_123', '/accounts/some.handle']) {
      const res = await get(p);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type'), p).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control'), p).toBe('no-cache');
      expect(res.headers.get('content-security-policy'), p).toContain("default-src 'self'");
      expect(await res.text(), p).toContain('<title>modgate console</title>');
    }
  });

  it('/broadcast answers the streamer page, which may use the camera', async () => {
    const res = await get('/broadcast');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>Go live · modgate</title>');
    expect(res.headers.get('permissions-policy')).toContain('camera=(self)');
  });

  it('hashed assets are served with a year-long immutable cache', async () => {
    const html = await (await get('/')).text();
    const assets = [...html.matchAll(/\/assets\/[^"]+/g)].map((m) => m[0]);
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      const res = await get(a);
      expect(res.status, a).toBe(200);
      expect(res.headers.get('cache-control'), a).toBe('public, max-age=31536000, immutable');
    }
    expect((await get('/assets/no-such-file.js')).status).toBe(404);
  });

  it('the fallback never swallows the API, health, metrics or ingest paths', async () => {
    const nope = await get('/api/v1/nope');
    expect(nope.status).toBe(404);
    expect(await nope.json()).toMatchObject({ error: 'not_found' });
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/api/v1/streams')).status).toBe(401);
    const ingest = await get('/ingest');
    expect(ingest.headers.get('content-type') ?? '').not.toMatch(/html/);
    for (const p of ['/unknown', '/reviewsx', '/broadcast/x', '/api', '/api/v1']) {
      const res = await get(p, { accept: 'text/html' });
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type'), p).toMatch(/json/);
    }
  });

  it('the built output holds no source maps or files from a CDN', () => {
    const files = readdirSync(path.join(CONSOLE_DIST, 'assets'));
    expect(files.some((f) => f.endsWith('.map'))).toBe(false);
  });
});

describe('a gateway whose console was not built', () => {
  it('says how to build it instead of failing, and keeps its other routes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modgate-nobuild-'));
    writeFileSync(path.join(dir, 'README'), 'not a build');
    const app = Fastify();
    app.get('/healthz', async () => ({ status: 'ok' }));
    await app.register(consoleRoutes, { dir });
    try {
      const res = await app.inject({ method: 'GET', url: '/reviews' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('npm run build:console');
      expect((await app.inject({ method: 'GET', url: '/broadcast' })).statusCode).toBe(503);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
