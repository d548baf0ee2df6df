import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packagePath } from '../package/root.ts';
import { BROADCAST_PATH, CONSOLE_SECTIONS } from './src/app/paths.ts';

/**
 * Serves the built console (console/dist, written by `npm run build:console` at install) on the gateway's
 * HTTP port: `/` and the console's own paths get index.html, `/broadcast` gets broadcast.html, and the
 * content-hashed files under /assets/ are cached for a year. Only the paths listed in CONSOLE_SECTIONS fall
 * back to the console, so an unknown /api/… path still gets the API's JSON 404.
 */
export const CONSOLE_DIST = packagePath('console', 'dist');

// The console loads nothing from elsewhere: scripts, styles and media come from this origin only (blob: for
// evidence images fetched with the bearer token, mediastream: for the broadcaster's camera preview).
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' ws: wss:",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

function htmlHeaders(reply: FastifyReply): FastifyReply {
  return (
    reply
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // The broadcaster asks for the camera and microphone; nothing else may.
      .header('permissions-policy', 'camera=(self), microphone=(self), geolocation=()')
  );
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>modgate console not built</title>
<body style="font:16px system-ui;margin:3rem;max-width:40rem"><h1>The console is not built</h1>
<p><code>npm install</code> builds it; in a checkout without that step run <code>npm run build:console</code>
and reload. The API is unaffected: <a href="/api/openapi.json">/api/openapi.json</a>.</p>`;

export async function consoleRoutes(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? CONSOLE_DIST;
  const pages = ['/', ...CONSOLE_SECTIONS.flatMap((s) => [`/${s}`, `/${s}/*`])];
  if (!existsSync(`${dir}/index.html`)) {
    const notBuilt = async (_req: unknown, reply: FastifyReply) => htmlHeaders(reply).code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    for (const p of [...pages, BROADCAST_PATH]) app.get(p, notBuilt);
    return;
  }
  await app.register(fastifyStatic, {
    root: `${dir}/assets`,
    prefix: '/assets/',
    // File names carry a content hash (Vite), so a cached copy is never stale.
    maxAge: '365d',
    immutable: true,
    index: false,
    list: false,
  });
  const page = (file: string) => async (_req: unknown, reply: FastifyReply) =>
    htmlHeaders(reply).sendFile(file, dir, { maxAge: 0, immutable: false, cacheControl: false });
  for (const p of pages) app.get(p, page('index.html'));
  app.get(BROADCAST_PATH, page('broadcast.html'));
}
