import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher } from '../helpers/ffmpeg-publisher.ts';
import { controlApi, mediamtxAuth, omeAdmission, srsHook } from '../helpers/media-server-standins.ts';
import { bankImage, renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from '../pipeline/setup.ts';

/**
 * MediaMTX, SRS and OvenMediaEngine cannot be installed here: their adapters are tested against
 * stand-ins that send the exact hook requests and serve the exact control calls their source and docs
 * describe (test/helpers/media-server-standins.ts names the files). The media an accepted stream is
 * "pulled" from is a recorded FLV file per public name.
 */

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping media-server stand-in tests: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

const MTX_SECRET = 'mediamtx-secret-0123456789';
const SRS_SECRET = 'srs-secret-0123456789abcdef';
const OME_SECRET = 'ome-secret-0123456789abcdef';

describe.skipIf(!ffmpeg)('MediaMTX, SRS and OvenMediaEngine adapters against stand-ins of their hook and control APIs', () => {
  let dir: string;
  let gw: Gateway;
  let api: (method: string, url: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;
  const connected = { mtx: new Set<string>(), mtxs: new Set<string>(), srs: new Set<string>(), ome: new Set<string>() };
  let failKicks = 0;
  let mtx: Awaited<ReturnType<typeof controlApi>>;
  let srs: Awaited<ReturnType<typeof controlApi>>;
  let ome: Awaited<ReturnType<typeof controlApi>>;
  let hook: (kind: string, secret?: string) => string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-standins-'));
    const media = path.join(dir, 'media');
    mkdirSync(media);
    const image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    const record = async (file: string, withImage: boolean) =>
      startPublisher({
        ffmpegPath: ffmpeg!.path,
        file,
        width: 640,
        height: 360,
        durationSec: 8,
        pattern: { color: 'darkslateblue' },
        ...(withImage ? { image: { path: image, afterSec: 1, transform: 'hflip' as const } } : {}),
      }).done;
    await record(path.join(media, 'clean.flv'), false);
    await record(path.join(media, 'violator.flv'), true);
    for (const name of ['alice', 'srsalice']) copyFileSync(path.join(media, 'clean.flv'), path.join(media, `${name}.flv`));

    // MediaMTX API (api_rtmp.go): kick → 200 or 404; get → 200 or 404.
    mtx = await controlApi((method, url) => {
      // List (paginate.go: itemsPerPage, page from 0, pageCount).
      const list = /^\/v3\/rtmpconns\/list\?itemsPerPage=(\d+)&page=(\d+)$/.exec(url);
      if (list && method === 'GET') {
        const per = Number(list[1]);
        const all = [...connected.mtx];
        return [
          200,
          {
            itemCount: all.length,
            pageCount: Math.ceil(all.length / per),
            items: all.slice(Number(list[2]) * per, (Number(list[2]) + 1) * per).map((id) => ({ id, state: 'publish' })),
          },
        ];
      }
      // RTMPS connections (reported as protocol rtmp in the auth request) live in their own list.
      const secure = /^\/v3\/rtmpsconns\/(list|kick)(?:\?itemsPerPage=(\d+)&page=(\d+)|\/([0-9a-f-]+))$/.exec(url);
      if (secure?.[1] === 'list')
        return [200, { itemCount: connected.mtxs.size, pageCount: connected.mtxs.size ? 1 : 0, items: [...connected.mtxs].map((id) => ({ id })) }];
      if (secure?.[1] === 'kick') return connected.mtxs.delete(secure[4]!) ? [200, {}] : [404, { error: 'connection not found' }];
      const m = /^\/v3\/rtmpconns\/(kick|get)\/([0-9a-f-]+)$/.exec(url);
      if (!m) return [404, { error: 'not found' }];
      if (m[1] === 'kick' && method === 'POST') {
        if (failKicks > 0) {
          failKicks--;
          return [500, { error: 'terminated' }];
        }
        return connected.mtx.delete(m[2]!) ? [200, {}] : [404, { error: 'connection not found' }];
      }
      return connected.mtx.has(m[2]!) ? [200, { id: m[2], state: 'publish' }] : [404, { error: 'connection not found' }];
    });
    // SRS API (SrsGoApiClients): DELETE → {"code":0}; unknown client → {"code":2049}.
    srs = await controlApi((method, url) => {
      const m = /^\/api\/v1\/clients\/([^/?]+)$/.exec(url);
      if (!m || method !== 'DELETE') return [405, { code: 1 }];
      return connected.srs.delete(m[1]!) ? [200, { code: 0, server: 'vid-standin' }] : [200, { code: 2049 }];
    });
    // OME REST API (api/ome.yml): DELETE stream → 200, unknown → 404.
    ome = await controlApi((method, url) => {
      const m = /^\/v1\/vhosts\/default\/apps\/app\/streams\/([^/?]+)$/.exec(url);
      if (!m || method !== 'DELETE') return [404, { statusCode: 404, message: 'Not Found' }];
      return connected.ome.delete(decodeURIComponent(m[1]!)) ? [200, { statusCode: 200, message: 'OK' }] : [404, { statusCode: 404, message: 'Not Found' }];
    });

    gw = await startPipelineGateway(path.join(dir, 'gw'), {
      classifiers: { models: [] },
      servers: [
        {
          name: 'mtx',
          kind: 'mediamtx',
          secret: MTX_SECRET,
          control: mtx.url,
          credentials: { user: 'modgate', password: 'pull-pass' },
          pull: `${media}/{path}.flv`,
          controlTimeoutMs: 1_000,
        },
        { name: 'srs1', kind: 'srs', secret: SRS_SECRET, control: srs.url, pull: `${media}/{stream}.flv` },
        {
          name: 'ome1',
          kind: 'ome',
          secret: OME_SECRET,
          control: ome.url,
          credentials: { user: 'ome-access-token' },
          pull: `${media}/{stream}.flv`,
          recheckSeconds: 60,
        },
      ],
    });
    hook = (kind, secret) => `http://127.0.0.1:${gw.httpPort}/api/v1/hooks/${kind}${secret ? `?secret=${secret}` : ''}`;
    const token = (await issueToken(gw.store.db, 'test', 'mod', 'operator')).token;
    api = async (method, url, body) => {
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}${url}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    await bankImage(gw.store.db, image);
    await gw.banks.refresh();
  }, 90_000);

  afterAll(async () => {
    await gw?.stop();
    await Promise.all([mtx?.close(), srs?.close(), ome?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  type StreamRow = { id: string; account: string; server: string | null; protocol: string };
  const live = async (handle: string) => ((await api('GET', '/api/v1/streams')).body.streams as StreamRow[]).find((s) => s.account === handle);
  const gone = (handle: string) => waitFor(async () => ((await live(handle)) ? null : true), 30_000, `${handle}'s stream to end`);
  const suspend = (handle: string) => api('POST', `/api/v1/accounts/${handle}/suspend`, { reason: 'harassment', durationSeconds: 3600 });

  describe('MediaMTX (authMethod: http)', () => {
    it('a verified key as the password is allowed, listed with its server, sampled from the pull URL, and ends when MediaMTX no longer has the connection', async () => {
      const key = await verifiedAccount(gw, 'alice');
      const id = crypto.randomUUID();
      connected.mtx.add(id);
      const res = await mediamtxAuth(hook('mediamtx', MTX_SECRET), { user: 'alice', password: key, action: 'publish', path: 'alice', protocol: 'rtmp', id });
      expect(res.allowed).toBe(true);
      const stream = await waitFor(() => live('alice'), 10_000, 'alice to be live');
      expect(stream).toMatchObject({ server: 'mtx', protocol: 'rtmp' });
      await waitFor(async () => ((gw.watcher?.stats(stream.id)?.framesEmitted ?? 0) > 2 ? true : null), 40_000, 'frames sampled from the pull URL');
      // The shared gate's one-live-per-account rule holds through the hook too.
      const second = await mediamtxAuth(hook('mediamtx', MTX_SECRET), { password: key, action: 'publish', path: 'alice2', protocol: 'srt' });
      expect([second.status, JSON.parse(second.text).error]).toEqual([403, 'already_live']);
      // MediaMTX calls nothing when a publish ends: the reconciler finds the connection gone.
      connected.mtx.delete(id);
      await gone('alice');
      expect(
        mtx.calls.some(
          (c) =>
            c.method === 'GET' &&
            c.url === '/v3/rtmpconns/list?itemsPerPage=1000&page=0' &&
            c.authorization === `Basic ${Buffer.from('modgate:pull-pass').toString('base64')}`,
        ),
      ).toBe(true);
    }, 90_000);

    it('an RTMPS publisher (protocol rtmp, listed in rtmpsconns) is not taken for gone, and is kicked there', async () => {
      const key = await verifiedAccount(gw, 'mtxsecure');
      const id = crypto.randomUUID();
      connected.mtxs.add(id);
      expect((await mediamtxAuth(hook('mediamtx', MTX_SECRET), { password: key, action: 'publish', path: 'mtxsecure', protocol: 'rtmp', id })).allowed).toBe(
        true,
      );
      const stream = await waitFor(() => live('mtxsecure'), 10_000, 'mtxsecure to be live');
      const lists = () => mtx.calls.filter((c) => c.url.startsWith('/v3/rtmpsconns/list')).length;
      const before = lists();
      await waitFor(async () => (lists() >= before + 2 ? true : null), 30_000, 'two reconciler rounds');
      expect((await live('mtxsecure'))?.id, 'still live: the secure list has it').toBe(stream.id);
      expect((await suspend('mtxsecure')).status).toBe(200);
      await waitFor(async () => (connected.mtxs.has(id) ? null : true), 30_000, 'the RTMPS connection to be kicked');
      expect(mtx.calls).toContainEqual(expect.objectContaining({ method: 'POST', url: `/v3/rtmpsconns/kick/${id}` }));
    }, 60_000);

    it('refusals: unknown key, unverified, a key as the path, a wrong secret; reads allowed, API access only with the control credentials', async () => {
      await addAccount(gw.store.db, { id: 'test' }, { handle: 'mtxunverified', verified: false });
      const unverified = (await issueKey(gw.store.db, { id: 'test' }, 'mtxunverified')).key;
      await gw.gate.refresh();
      const url = hook('mediamtx', MTX_SECRET);
      const unknown = await mediamtxAuth(url, { password: 'sk_' + 'y'.repeat(32), action: 'publish', path: 'x', protocol: 'rtmp' });
      expect([unknown.status, JSON.parse(unknown.text).error]).toEqual([403, 'unknown_key']);
      const notVerified = await mediamtxAuth(url, { query: `key=${unverified}`, action: 'publish', path: 'y', protocol: 'srt' });
      expect([notVerified.status, JSON.parse(notVerified.text).error]).toEqual([403, 'not_verified']);
      const keyAsPath = await mediamtxAuth(url, { action: 'publish', path: `live/${unverified}`, protocol: 'rtsp' });
      expect(keyAsPath.status).toBe(403);
      expect((await mediamtxAuth(hook('mediamtx', 'wrong-secret-000000000'), { action: 'read', path: 'alice', protocol: 'rtsp' })).status).toBe(401);
      expect((await mediamtxAuth(url, { action: 'read', path: 'alice', protocol: 'rtsp' })).allowed).toBe(true);
      expect((await mediamtxAuth(url, { action: 'api', path: '', protocol: '', id: null })).allowed).toBe(false);
      expect((await mediamtxAuth(url, { action: 'api', path: '', protocol: '', id: null, user: 'modgate', password: 'pull-pass' })).allowed).toBe(true);
      const rows = await gw.store.db.selectFrom('publish_refusals').select(['reason', 'protocol']).where('server', '=', 'mtx').execute();
      expect(rows).toEqual(
        expect.arrayContaining([
          { reason: 'unknown_key', protocol: 'rtmp' },
          { reason: 'not_verified', protocol: 'srt' },
        ]),
      );
    });

    it('a banked picture is cut with POST /v3/rtmpconns/kick/{id} and the account suspended; a failed kick is retried until MediaMTX confirms it', async () => {
      const key = await verifiedAccount(gw, 'violator');
      const id = crypto.randomUUID();
      connected.mtx.add(id);
      failKicks = 5; // the first attempts and a reconciler round fail
      expect((await mediamtxAuth(hook('mediamtx', MTX_SECRET), { password: key, action: 'publish', path: 'violator', protocol: 'rtmp', id })).allowed).toBe(
        true,
      );
      await waitFor(async () => (connected.mtx.has(id) ? null : true), 60_000, 'the violator to be kicked');
      const kicks = mtx.calls.filter((c) => c.method === 'POST' && c.url === `/v3/rtmpconns/kick/${id}`);
      expect(kicks.length).toBeGreaterThan(3);
      const account = (await api('GET', '/api/v1/accounts/violator')).body as { activeSuspension: { reason: string } | null };
      expect(account.activeSuspension?.reason).toMatch(/^automated moderation found .+ in your stream$/); // streamer-facing words (streamer-words.ts)
      await waitFor(async () => (gw.hooks.unconfirmedCuts === 0 ? true : null), 30_000, 'the cut to be confirmed');
      // And the reconnect is refused.
      const again = await mediamtxAuth(hook('mediamtx', MTX_SECRET), { password: key, action: 'publish', path: 'violator', protocol: 'rtmp' });
      expect(JSON.parse(again.text).error).toBe('suspended');
    }, 120_000);
  });

  describe('SRS (http_hooks)', () => {
    it('on_publish with ?key= is answered 0; a suspension kicks the client with DELETE /api/v1/clients/{id}; on_unpublish ends a stream', async () => {
      const key = await verifiedAccount(gw, 'srsalice');
      connected.srs.add('c101');
      const url = hook('srs', SRS_SECRET);
      const res = await srsHook(url, { action: 'on_publish', client_id: 'c101', app: 'live', stream: 'srsalice', param: `?key=${key}` });
      expect([res.status, res.text, res.allowed]).toEqual([200, '0', true]);
      expect((await live('srsalice'))?.server).toBe('srs1');
      expect((await suspend('srsalice')).status).toBe(200);
      await waitFor(async () => (connected.srs.has('c101') ? null : true), 30_000, 'the SRS client to be kicked');
      expect(srs.calls).toContainEqual(expect.objectContaining({ method: 'DELETE', url: '/api/v1/clients/c101' }));
      await gone('srsalice');

      const bob = await verifiedAccount(gw, 'srsbob');
      expect((await srsHook(url, { action: 'on_publish', client_id: 'c102', app: 'live', stream: 'srsbob', param: `?key=${bob}` })).allowed).toBe(true);
      expect((await srsHook(url, { action: 'on_unpublish', client_id: 'c102', app: 'live', stream: 'srsbob', param: `?key=${bob}` })).allowed).toBe(true);
      await gone('srsbob');
    }, 60_000);

    it('refused publishes are not answered 0 (SRS refuses them): suspended, a key as the stream name, a missing secret', async () => {
      const url = hook('srs', SRS_SECRET);
      const key = (await issueKey(gw.store.db, { id: 'test' }, 'srsalice')).key;
      await gw.gate.refresh();
      const suspended = await srsHook(url, { action: 'on_publish', client_id: 'c103', app: 'live', stream: 'srsalice', param: `?key=${key}` });
      expect(suspended.allowed).toBe(false);
      expect(JSON.parse(suspended.text).error).toBe('suspended');
      expect((await srsHook(url, { action: 'on_publish', client_id: 'c104', app: 'live', stream: 'sk_' + 'z'.repeat(32), param: '' })).allowed).toBe(false);
      expect((await srsHook(hook('srs'), { action: 'on_publish', client_id: 'c105', app: 'live', stream: 'x', param: '' })).status).toBe(401);
      expect((await srsHook(url, { action: 'on_play', client_id: 'c106', app: 'live', stream: 'x', param: '' })).allowed).toBe(true);
    });
  });

  describe('OvenMediaEngine (AdmissionWebhooks)', () => {
    it('a signed opening with the key as the stream is allowed, renamed by new_url and given a lifetime; a suspension deletes the stream through the REST API; closing ends it', async () => {
      const key = await verifiedAccount(gw, 'omealice');
      const url = hook('ome');
      const res = await omeAdmission(url, OME_SECRET, {
        direction: 'incoming',
        protocol: 'rtmp',
        status: 'opening',
        url: `rtmp://127.0.0.1:1935/app/${key}`,
        port: 40001,
      });
      expect(res.status).toBe(200);
      expect(res.answer.allowed).toBe(true);
      expect(res.answer.lifetime).toBe(60_000);
      const stream = await waitFor(() => live('omealice'), 10_000, 'omealice to be live');
      expect(stream.server).toBe('ome1');
      expect(res.answer.new_url).toBe(`rtmp://127.0.0.1:1935/app/${stream.id}`);
      connected.ome.add(stream.id);
      expect((await suspend('omealice')).status).toBe(200);
      await waitFor(async () => (connected.ome.has(stream.id) ? null : true), 30_000, 'the OME stream to be deleted');
      expect(ome.calls).toContainEqual({
        method: 'DELETE',
        url: `/v1/vhosts/default/apps/app/streams/${stream.id}`,
        authorization: `Basic ${Buffer.from('ome-access-token:').toString('base64')}`,
      });

      const bob = await verifiedAccount(gw, 'omebob');
      expect(
        (
          await omeAdmission(url, OME_SECRET, {
            direction: 'incoming',
            protocol: 'srt',
            status: 'opening',
            url: `srt://127.0.0.1:9999/app/bob?key=${bob}`,
            port: 40002,
          })
        ).answer,
      ).toMatchObject({ allowed: true });
      expect((await live('omebob'))?.protocol).toBe('srt');
      const closing = await omeAdmission(url, OME_SECRET, {
        direction: 'incoming',
        protocol: 'srt',
        status: 'closing',
        url: `srt://127.0.0.1:9999/app/bob?key=${bob}`,
        port: 40002,
      });
      expect(closing.answer).toEqual({});
      await gone('omebob');
    }, 60_000);

    it('a refusal is allowed:false with the reason; a bad signature is 401; playback is allowed', async () => {
      const url = hook('ome');
      const key = (await issueKey(gw.store.db, { id: 'test' }, 'omealice')).key;
      await gw.gate.refresh();
      const suspended = await omeAdmission(url, OME_SECRET, {
        direction: 'incoming',
        protocol: 'rtmp',
        status: 'opening',
        url: `rtmp://127.0.0.1:1935/app/${key}`,
        port: 40003,
      });
      expect(suspended.status).toBe(200);
      expect(suspended.answer.allowed).toBe(false);
      expect(suspended.answer.reason).toMatch(/^suspended/);
      const forged = await omeAdmission(
        url,
        OME_SECRET,
        { direction: 'incoming', protocol: 'rtmp', status: 'opening', url: 'rtmp://127.0.0.1/app/x', port: 1 },
        { signature: 'AAAA' },
      );
      expect(forged.status).toBe(401);
      expect(
        (
          await omeAdmission(url, 'some-other-secret-1234', {
            direction: 'outgoing',
            protocol: 'llhls',
            status: 'opening',
            url: 'http://127.0.0.1/app/x/llhls.m3u8',
            port: 2,
          })
        ).status,
      ).toBe(401);
      expect(
        (
          await omeAdmission(url, OME_SECRET, {
            direction: 'outgoing',
            protocol: 'llhls',
            status: 'opening',
            url: 'http://127.0.0.1/app/x/llhls.m3u8',
            port: 2,
          })
        ).answer.allowed,
      ).toBe(true);
    });
  });
});
