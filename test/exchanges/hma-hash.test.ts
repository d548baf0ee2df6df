import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { REPO_ROOT, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * HMA's hashing route (facebook/ThreatExchange, hasher-matcher-actioner/src/OpenMediaMatch/blueprints/hashing.py):
 * `GET /h/hash?url=` and `POST /h/hash` (multipart, one file whose field name is the content type) answer
 * `{"pdq": "<hex>"}`. The pictures are the PDQ fixtures, whose hashes Meta's pdq-photo-hasher printed
 * (test/fixtures/pdq/reference.json).
 */

const IMAGES = path.join(REPO_ROOT, 'test/fixtures/pdq/images');
const reference = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/pdq/reference.json'), 'utf8')) as {
  fixtures: Record<string, { hash: string; quality: number }>;
};
const jpg = readFileSync(path.join(IMAGES, 'grey-320x240.jpg'));
const png = readFileSync(path.join(IMAGES, 'grey-256x192.png'));

let site: http.Server;
let siteUrl = '';
let open: TestGateway;
let closed: TestGateway;

beforeAll(async () => {
  // A picture host: /pics/ serves the PNG, /pics/moved redirects, /pics/page is HTML, /private/ is outside the allowlist.
  site = http.createServer((req, res) => {
    if (req.url === '/pics/grey.png' || req.url === '/private/grey.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    if (req.url === '/pics/moved') return res.writeHead(302, { location: '/private/grey.png' }).end();
    if (req.url === '/pics/page') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  open = await startTestGateway({
    extra: { exchanges: { enabled: false, pollMs: 1000 }, hma: { hashUrlAllowlist: [`${siteUrl}/pics/`], hashMaxBytes: 64 * 1024 } },
  });
  closed = await startTestGateway({ extra: { exchanges: { enabled: false, pollMs: 1000 } } });
});
afterAll(async () => {
  await open?.stop();
  await closed?.stop();
  await new Promise((r) => site?.close(r));
});

async function post(g: TestGateway, body: FormData | Buffer, contentType?: string, query = ''): Promise<{ status: number; body: Record<string, string> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${g.mod.token}` };
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(`${g.mod.baseUrl}/h/hash${query}`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const form = (...files: Array<[string, Buffer, string]>) => {
  const f = new FormData();
  for (const [field, bytes, name] of files) f.append(field, new Blob([bytes]), name);
  return f;
};

describe('HMA /h/hash', () => {
  it("POST multipart with one `photo` file answers {pdq} equal to Meta's reference hasher", async () => {
    const res = await post(open, form(['photo', jpg, 'grey.jpg']));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ pdq: reference.fixtures['grey-320x240.jpg']!.hash });
  });

  it('POST a raw image body answers the same hash as `modgate hash` on the file (an ffmpeg-decoded BMP too)', async () => {
    expect((await post(open, png, 'image/png')).body).toEqual({ pdq: reference.fixtures['grey-256x192.png']!.hash });
    const bmp = path.join(IMAGES, 'rgb-128x96.bmp');
    const [want] = await hashFile(bmp);
    const res = await post(open, readFileSync(bmp), 'application/octet-stream');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ pdq: want!.hash });
  });

  it("bad uploads get HMA's 400s: no file, two files, an unknown content type, video, not a picture; too large is 413", async () => {
    const none = new FormData();
    none.append('note', 'no file here');
    const cases: Array<[Promise<{ status: number; body: Record<string, string> }>, number, string]> = [
      [post(open, none), 400, 'invalid'],
      [post(open, form(['photo', jpg, 'a.jpg'], ['photo', jpg, 'b.jpg'])), 400, 'invalid'],
      [post(open, form(['sound', jpg, 'a.jpg'])), 400, 'invalid'],
      [post(open, form(['video', jpg, 'a.jpg'])), 400, 'unsupported'],
      [post(open, Buffer.from('hello, not a picture'), 'application/octet-stream'), 400, 'unsupported_media'],
      [post(open, form(['photo', jpg, 'a.jpg']), undefined, '?types=md5'), 400, 'invalid'],
      [post(open, form(['photo', Buffer.alloc(100 * 1024, 1), 'big.jpg'])), 413, 'too_large'],
    ];
    for (const [i, [res, status, code]] of cases.entries()) {
      const r = await res;
      expect(r.status, `case ${i}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error, `case ${i}`).toBe(code);
    }
    expect((await open.anon.post('/h/hash', { raw: 'x', contentType: 'image/png' })).status).toBe(401);
  });

  it('GET /h/hash?url= fetches only under hma.hashUrlAllowlist; by default it fetches nothing (403 url_fetch_disabled)', async () => {
    const ok = await open.mod.get<Record<string, string>>(`/h/hash?url=${encodeURIComponent(`${siteUrl}/pics/grey.png`)}`);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toEqual({ pdq: reference.fixtures['grey-256x192.png']!.hash });
    const code = async (g: TestGateway, url: string) => (await g.mod.get<{ error: string }>(`/h/hash?url=${encodeURIComponent(url)}`)).body.error;
    expect(await code(closed, `${siteUrl}/pics/grey.png`)).toBe('url_fetch_disabled');
    expect(await code(open, `${siteUrl}/private/grey.png`)).toBe('url_not_allowed');
    // Dot segments are resolved before the prefix is compared.
    expect(await code(open, `${siteUrl}/pics/../private/grey.png`)).toBe('url_not_allowed');
    expect(await code(open, 'file:///etc/passwd')).toBe('url_not_allowed');
    // A redirect could lead outside the list: not followed.
    expect(await code(open, `${siteUrl}/pics/moved`)).toBe('fetch_failed');
    expect(await code(open, `${siteUrl}/pics/page`)).toBe('unsupported_media');
    expect(await code(open, `${siteUrl}/pics/absent.png`)).toBe('fetch_failed');
    expect((await open.mod.get<{ error: string; field: string }>('/h/hash')).body.field).toBe('query.url');
  });
});
