import multipart from '@fastify/multipart';
import { z } from 'zod';
import { hashImageBytes } from '../media/hash-bytes.ts';
import { MediaError } from '../media/image/raster.ts';
import type { ApiContext } from './context.ts';
import { errors, HttpError, json, type ApiApp } from './route.ts';

/**
 * HMA's hashing route (facebook/ThreatExchange, hasher-matcher-actioner/src/OpenMediaMatch/blueprints/hashing.py):
 *  - `GET /h/hash?url=…[&content_type=photo][&types=pdq]` (`hash_media`): HMA downloads the URL, picks the
 *    content type from the response's Content-Type (image → photo) or `content_type`, and answers a mapping
 *    of signal type to hash, `{"pdq": "<64 hex>"}`;
 *  - `POST /h/hash` (`hash_media_from_form_data`): multipart/form-data with exactly one file whose field
 *    name is the content type (`photo`); same answer. "Missing multipart/form-data file upload" and "Only
 *    one file allowed per request" are 400s, as there.
 * Differences, and why:
 *  - modgate fetches no URL by default: a server that fetches whatever URL it is handed can be aimed at the
 *    network behind it (SSRF). The GET answers 403 `url_fetch_disabled` unless `hma.hashUrlAllowlist` lists a
 *    prefix of the URL (403 `url_not_allowed` otherwise); redirects are not followed (the target could be
 *    outside the list); size and time are bounded (`hma.hashMaxBytes`, `hma.hashFetchTimeoutMs`).
 *  - POST also takes the picture as the raw body (`Content-Type: image/*` or `application/octet-stream`),
 *    for clients without a multipart encoder.
 *  - Only photos (PDQ) are hashed here; `content_type=video` is a 400 `unsupported` (hash videos with
 *    `modgate hash`, which writes vPDQ).
 *  - A moderator token is required, as on the other HMA routes.
 */

const HashAnswer = z.record(z.string(), z.string()).meta({ id: 'HmaHashAnswer', description: 'Signal type → hash, e.g. {"pdq": "<64 hex>"}' });

const HashQuery = z
  .object({
    url: z.string().max(4000).optional().describe('The picture to fetch (only URLs under `hma.hashUrlAllowlist`)'),
    content_type: z.string().max(40).optional().describe('photo (the default for image/* responses); video is not hashed here'),
    types: z.string().max(200).optional().describe('Comma-separated signal types; only pdq'),
  })
  .strict();

/** HMA's `_parse_request_signal_type`: `types` may only name enabled types (here: pdq). */
function checkTypes(types: string | undefined): void {
  if (types === undefined) return;
  const wanted = types
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (wanted.length === 0) throw new HttpError(400, 'invalid', 'empty signal type selection', 'query.types');
  for (const t of wanted) if (t !== 'pdq') throw new HttpError(400, 'invalid', `signal type '${t}' doesn't exist or is disabled`, 'query.types');
}

function checkContentType(contentType: string): void {
  if (contentType === 'photo') return;
  if (contentType === 'video')
    throw new HttpError(400, 'unsupported', 'content_type video is not hashed over HTTP here; hash videos with `modgate hash` (vPDQ)');
  throw new HttpError(400, 'invalid', `no such content_type: '${contentType}'`, 'query.content_type');
}

async function pdqAnswer(bytes: Uint8Array): Promise<Record<string, string>> {
  try {
    return { pdq: (await hashImageBytes(bytes)).hash };
  } catch (err) {
    if (err instanceof MediaError)
      throw new HttpError(err.code === 'too_large' ? 413 : 400, err.code === 'too_large' ? 'too_large' : 'unsupported_media', err.message);
    throw err;
  }
}

/** Reads a fetch body up to `max` bytes; more is a 413. */
async function readBounded(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) throw new HttpError(413, 'too_large', `the picture is ${declared} bytes, over hma.hashMaxBytes (${max})`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > max) throw new HttpError(413, 'too_large', `the picture is over hma.hashMaxBytes (${max} bytes)`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks);
}

export function hmaHashRoutes(app: ApiApp, ctx: ApiContext): void {
  const { hashUrlAllowlist: allow, hashMaxBytes: maxBytes, hashFetchTimeoutMs: timeoutMs } = ctx.config.hma;

  app.route({
    method: 'GET',
    url: '/h/hash',
    config: { auth: 'moderator' },
    schema: {
      summary: 'HMA: hash a picture fetched from a URL ({pdq: hex}); only URLs under hma.hashUrlAllowlist',
      tags: ['hma'],
      querystring: HashQuery,
      response: {
        200: json(HashAnswer, 'Hashes by signal type'),
        ...errors({
          403: 'url_fetch_disabled (no hma.hashUrlAllowlist configured) or url_not_allowed (the URL is under none of its prefixes)',
          502: 'fetch_failed: the URL did not answer a picture',
        }),
      },
    },
    handler: async (req) => {
      const url = req.query.url;
      if (url === undefined) throw new HttpError(400, 'invalid', 'url is required', 'query.url');
      if (allow.length === 0)
        throw new HttpError(403, 'url_fetch_disabled', 'this gateway fetches no URLs (hma.hashUrlAllowlist is empty): upload the picture with POST /h/hash');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new HttpError(400, 'invalid', 'url is not a URL', 'query.url');
      }
      // Compared after URL normalisation, so `http://host/../x` or a userinfo trick cannot step outside a prefix.
      if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !allow.some((p) => parsed.href.startsWith(new URL(p).href)))
        throw new HttpError(403, 'url_not_allowed', 'the URL is under none of the prefixes in hma.hashUrlAllowlist', 'query.url');
      checkTypes(req.query.types);
      let res: Response;
      try {
        res = await fetch(parsed, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw new HttpError(502, 'fetch_failed', `fetching the URL failed: ${(err as Error).message}`);
      }
      if (res.status >= 300 && res.status < 400) throw new HttpError(502, 'fetch_failed', `the URL redirects (${res.status}); redirects are not followed`);
      if (!res.ok) throw new HttpError(502, 'fetch_failed', `the URL answered ${res.status}`);
      const mediaType = (res.headers.get('content-type') ?? '').toLowerCase();
      if (req.query.content_type) checkContentType(req.query.content_type);
      else if (mediaType.startsWith('video')) checkContentType('video');
      else if (!mediaType.startsWith('image'))
        throw new HttpError(
          400,
          'unsupported_media',
          `unsupported url ContentType: '${mediaType}', if you know the expected type, provide it with the content_type query param`,
        );
      return pdqAnswer(await readBounded(res, maxBytes));
    },
  });

  // Multipart (HMA's form) and raw pictures are parsed in this route's context only: the API stays JSON elsewhere.
  app.register(async (child: ApiApp) => {
    await child.register(multipart, { limits: { fileSize: maxBytes, files: 2, fields: 10, parts: 12 } });
    const raw = (_req: unknown, body: string | Buffer, done: (err: null, body: Buffer) => void) => done(null, Buffer.from(body));
    child.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBytes }, raw);
    child.addContentTypeParser(/^image\//, { parseAs: 'buffer', bodyLimit: maxBytes }, raw);
    child.route({
      method: 'POST',
      url: '/h/hash',
      config: { auth: 'moderator' },
      bodyLimit: maxBytes,
      schema: {
        summary: 'HMA: hash an uploaded picture (multipart field `photo`, or the raw body as image/*) → {pdq: hex}',
        tags: ['hma'],
        querystring: HashQuery.omit({ url: true }),
        response: { 200: json(HashAnswer, 'Hashes by signal type') },
      },
      handler: async (req) => {
        checkTypes(req.query.types);
        if (Buffer.isBuffer(req.body)) return pdqAnswer(req.body);
        if (!req.isMultipart()) throw new HttpError(400, 'invalid', 'Missing multipart/form-data file upload', 'body');
        let file: { field: string; bytes: Buffer } | null = null;
        try {
          for await (const part of req.parts()) {
            if (part.type !== 'file') continue;
            // Read every part (a stream left unread stalls the request), then judge.
            const bytes = await part.toBuffer();
            if (file) throw new HttpError(400, 'invalid', 'Only one file allowed per request', 'body');
            file = { field: part.fieldname, bytes };
          }
        } catch (err) {
          if (err instanceof HttpError) throw err;
          const code = (err as { code?: string }).code;
          if (code === 'FST_REQ_FILE_TOO_LARGE') throw new HttpError(413, 'too_large', `the upload is over hma.hashMaxBytes (${maxBytes} bytes)`);
          if (code === 'FST_FILES_LIMIT') throw new HttpError(400, 'invalid', 'Only one file allowed per request', 'body');
          throw new HttpError(400, 'invalid', `malformed multipart body: ${(err as Error).message}`, 'body');
        }
        if (!file) throw new HttpError(400, 'invalid', 'Missing multipart/form-data file upload', 'body');
        // HMA: "the file key must be one of the supported content types".
        checkContentType(req.query.content_type ?? file.field);
        return pdqAnswer(file.bytes);
      },
    });
  });
}
