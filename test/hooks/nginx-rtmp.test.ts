import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { controlProxy, freePort, nginxRtmpMissing, startNginxRtmp, type NginxRtmp } from '../helpers/nginx-rtmp.ts';
import pino from 'pino';
import { ConfigSchema } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/server.ts';
import { bankImage, renderKnownImage, verifiedAccount as verifiedAccountOf, waitFor } from '../pipeline/setup.ts';
import { DEADLINE_MS, within } from '../helpers/wait.ts';

const ffmpeg = await findFfmpeg();
const missing = !ffmpeg ? 'no ffmpeg found (set FFMPEG_PATH or install ffmpeg)' : nginxRtmpMissing();
if (missing) console.warn(`skipping nginx-rtmp hook tests: ${missing}`);

const SECRET = 'nginx-edge-secret-0123456789';

describe.skipIf(missing !== null)('modgate as the publish gate, sampler and kill switch of a real nginx-rtmp', () => {
  let dir: string;
  let gw: Gateway;
  let nginx: NginxRtmp;
  let proxy: Awaited<ReturnType<typeof controlProxy>>;
  let image: string;
  let api: (method: string, url: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;
  const publishers: Publisher[] = [];
  /** Every log line the gateway writes (debug level), and every key the tests issue: no line may hold one. */
  const logLines: string[] = [];
  const issuedKeys: string[] = [];
  const verifiedAccount = async (g: Gateway, handle: string) => {
    const key = await verifiedAccountOf(g, handle);
    issuedKeys.push(key);
    return key;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-nginx-'));
    image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    // The control calls go through a forwarder the last test switches off ("the control call is lost").
    proxy = await controlProxy(() => nginx.controlPort);
    const config = ConfigSchema.parse({
      dataDir: path.join(dir, 'gw'),
      rtmp: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0, checkResponses: true },
      log: { level: 'debug' },
      demo: false,
      syncIntervalMs: 200,
      classifiers: { models: [] },
      servers: [
        {
          name: 'edge',
          kind: 'nginx-rtmp',
          secret: SECRET,
          allow: ['127.0.0.1/32'],
          control: `http://127.0.0.1:${proxy.port}/control`,
          // Filled in once nginx has its port: the template is read per stream.
          pull: 'rtmp://127.0.0.1:1/{app}/{name}',
          controlTimeoutMs: 1_000,
        },
      ],
    });
    gw = await startGateway(config, { log: pino({ level: 'debug', base: undefined }, { write: (line: string) => void logLines.push(line) }) });
    nginx = await startNginxRtmp({
      dir: path.join(dir, 'nginx'),
      hookUrl: `http://127.0.0.1:${gw.httpPort}/api/v1/hooks/nginx-rtmp?secret=${SECRET}`,
      updateTimeout: '2s',
    });
    gw.config.servers[0]!.pull = `rtmp://127.0.0.1:${nginx.rtmpPort}/{app}/{name}`;

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
  }, 60_000);

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await gw?.stop();
    await nginx?.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = (key: string, opts: { imageAfter?: number; durationSec?: number } = {}) => {
    const p = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${nginx.rtmpPort}/live/${key}`,
      width: 640,
      height: 360,
      durationSec: opts.durationSec ?? 60,
      pattern: { color: 'darkslateblue' },
      ...(opts.imageAfter !== undefined ? { image: { path: image, afterSec: opts.imageAfter, transform: 'hflip' as const } } : {}),
    });
    publishers.push(p);
    return p;
  };
  type StreamRow = { id: string; account: string; server: string | null; protocol: string };
  const live = async (handle: string) => ((await api('GET', '/api/v1/streams')).body.streams as StreamRow[]).find((s) => s.account === handle);
  const refusals = (reason: string) =>
    gw.store.db.selectFrom('publish_refusals').selectAll().where('server', '=', 'edge').where('reason', '=', reason).execute();
  // The publisher's exit, awaited as a condition: the deadline (never under DEADLINE_MS) is for broken runs only.
  const exited = (p: Publisher, ms: number) => within(p.done, 'the publisher to exit', Math.max(ms, DEADLINE_MS));

  it('a verified key publishes through nginx, is listed with its server under a public name, and is sampled from nginx', async () => {
    const key = await verifiedAccount(gw, 'alice');
    const p = publish(key);
    const stream = await waitFor(() => live('alice'), 30_000, 'alice to be live through nginx');
    expect(stream.server).toBe('edge');
    expect(stream.protocol).toBe('rtmp');
    const sampled = await waitFor(async () => ((gw.watcher?.stats(stream.id)?.framesEmitted ?? 0) > 3 ? true : null), 40_000, 'frames sampled from nginx');
    expect(sampled).toBe(true);
    // nginx renamed the publish (3xx Location): the sampler reads the public id, never the key.
    expect(gw.registry.get(stream.id)!.pullUrl).toBe(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/${stream.id}`);
    expect(gw.registry.get(stream.id)!.pullUrl).not.toContain(key);
    expect(p.proc.exitCode).toBeNull();

    await p.stop('SIGINT');
    const row = await waitFor(
      () => gw.store.db.selectFrom('streams').selectAll().where('id', '=', stream.id).where('ended_at', 'is not', null).executeTakeFirst(),
      30_000,
      "nginx's publish_done to end the stream",
    );
    expect(row.end_reason).toBe('publisher_disconnected');
    expect(row.server).toBe('edge');
  }, 120_000);

  it('a key passed as the query (live/channel?key=…) keeps the public name: no rename, sampled under it', async () => {
    const key = await verifiedAccount(gw, 'querykey');
    const p = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${nginx.rtmpPort}/live/querykey-channel?key=${key}`,
      width: 320,
      height: 180,
      durationSec: 60,
      pattern: { color: 'teal' },
    });
    publishers.push(p);
    const stream = await waitFor(() => live('querykey'), 30_000, 'querykey to be live');
    expect(gw.registry.get(stream.id)!.pullUrl).toBe(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/querykey-channel`);
    await waitFor(async () => ((gw.watcher?.stats(stream.id)?.framesEmitted ?? 0) > 2 ? true : null), 40_000, 'frames sampled under the kept name');
    await p.stop('SIGINT');
    await waitFor(async () => ((await live('querykey')) ? null : true), 30_000, 'publish_done');
  }, 90_000);

  it('an unknown key, an unverified account and a suspended account are refused by nginx, each recorded with its reason', async () => {
    await addAccount(gw.store.db, { id: 'test' }, { handle: 'unverified', verified: false });
    const unverifiedKey = (await issueKey(gw.store.db, { id: 'test' }, 'unverified')).key;
    const suspendedKey = await verifiedAccount(gw, 'banned');
    expect((await api('POST', '/api/v1/accounts/banned/suspend', { reason: 'prior violation' })).status).toBe(200);
    await gw.gate.refresh();

    const cases: Array<[string, string]> = [
      ['sk_' + 'x'.repeat(32), 'unknown_key'],
      [unverifiedKey, 'not_verified'],
      [suspendedKey, 'suspended'],
    ];
    for (const [key, reason] of cases) {
      const p = publish(key, { durationSec: 20 });
      const exit = await exited(p, 30_000);
      expect(exit, `${reason}: nginx refused the publish`).not.toBeNull();
      expect(exit!.code, reason).not.toBe(0);
      expect((await refusals(reason)).length, reason).toBeGreaterThan(0);
    }
    expect(await live('unverified')).toBeUndefined();
    expect(await live('banned')).toBeUndefined();
    const rows = await gw.store.db.selectFrom('publish_refusals').select('detail').where('server', '=', 'edge').execute();
    for (const [key] of cases) for (const r of rows) expect(r.detail ?? '').not.toContain(key);
    // The moderator's account view names the server a refusal came through.
    const account = (await api('GET', '/api/v1/accounts/banned')).body as { refusals: Array<{ reason: string; server: string | null }> };
    expect(account.refusals).toContainEqual(expect.objectContaining({ reason: 'suspended', server: 'edge' }));
  }, 120_000);

  it("a banked picture on a stream through nginx is cut (nginx's publisher disconnected) and the account suspended", async () => {
    const key = await verifiedAccount(gw, 'violator');
    const p = publish(key, { imageAfter: 4 });
    const stream = await waitFor(() => live('violator'), 30_000, 'the violator to be live');
    const exit = await exited(p, 60_000);
    expect(exit, 'the nginx publisher was disconnected').not.toBeNull();
    expect(exit!.code).not.toBe(0);
    type AccountView = { activeSuspension: { reason: string } | null; streams: Array<{ id: string; endReason: string | null }> };
    // nginx's publisher is disconnected first; the stream's end is on record right after.
    const account = await waitFor(
      async () => {
        const view = (await api('GET', '/api/v1/accounts/violator')).body as AccountView;
        return view.streams.find((s) => s.id === stream.id)?.endReason ? view : null;
      },
      15_000,
      "the stream's end on record",
    );
    expect(account.activeSuspension?.reason).toMatch(/^automated moderation found .+ in your stream$/); // streamer-facing words (streamer-words.ts)
    expect(account.streams.find((s) => s.id === stream.id)?.endReason).toBe('suspended');
    expect(gw.hooks.serverStats('edge').controlFailures).toBe(0);
    // The reconnect is refused at nginx's on_publish.
    const retry = publish(key, { durationSec: 20 });
    expect((await exited(retry, 30_000))?.code).not.toBe(0);
  }, 120_000);

  it('a suspension through the API drops the nginx publisher', async () => {
    const key = await verifiedAccount(gw, 'suspendme');
    const p = publish(key);
    await waitFor(() => live('suspendme'), 30_000, 'suspendme to be live');
    const calls = gw.hooks.serverStats('edge').controlCalls;
    expect((await api('POST', '/api/v1/accounts/suspendme/suspend', { reason: 'harassment', durationSeconds: 3600 })).status).toBe(200);
    const exit = await exited(p, 30_000);
    expect(exit, 'the publisher was dropped').not.toBeNull();
    expect(gw.hooks.serverStats('edge').controlCalls).toBeGreaterThan(calls);
    expect(gw.hooks.serverStats('edge').controlFailures).toBe(0);
    const token = (await issueToken(gw.store.db, 'test', 'metrics', 'moderator')).token;
    const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/modgate_hook_control_calls\{server="edge",node="[^"]+"\} [1-9]/);
    expect(metrics).toMatch(/modgate_hook_publishes_refused\{server="edge",node="[^"]+"\} [1-9]/);
    expect(metrics).toMatch(/modgate_hook_live_streams\{server="edge",node="[^"]+"\}/);
  }, 90_000);

  it("with the control call blocked, nginx's on_update ends the suspended account's stream", async () => {
    const key = await verifiedAccount(gw, 'lostcut');
    const p = publish(key);
    await waitFor(() => live('lostcut'), 30_000, 'lostcut to be live');
    proxy.block(true);
    try {
      const failures = gw.hooks.serverStats('edge').controlFailures;
      const refusedBefore = gw.hooks.serverStats('edge').rechecksRefused;
      expect((await api('POST', '/api/v1/accounts/lostcut/suspend', { reason: 'harassment', durationSeconds: 3600 })).status).toBe(200);
      const exit = await exited(p, 60_000);
      expect(exit, 'on_update ended the stream').not.toBeNull();
      await waitFor(async () => gw.hooks.serverStats('edge').controlFailures > failures, 30_000, 'the control call to be counted as failed');
      expect(gw.hooks.serverStats('edge').rechecksRefused).toBeGreaterThan(refusedBefore);
    } finally {
      proxy.block(false);
    }
  }, 120_000);

  it('fails closed: an nginx whose modgate is unreachable refuses the publish of a verified key', async () => {
    const key = await verifiedAccount(gw, 'nomodgate');
    const dead = await freePort();
    const orphan = await startNginxRtmp({ dir: path.join(dir, 'nginx-orphan'), hookUrl: `http://127.0.0.1:${dead}/api/v1/hooks/nginx-rtmp?secret=${SECRET}` });
    try {
      const p = startPublisher({
        ffmpegPath: ffmpeg!.path,
        url: `rtmp://127.0.0.1:${orphan.rtmpPort}/live/${key}`,
        width: 320,
        height: 180,
        durationSec: 20,
        pattern: { color: 'black' },
      });
      publishers.push(p);
      const exit = await exited(p, 30_000);
      expect(exit, 'nginx refused the publish').not.toBeNull();
      expect(exit!.code).not.toBe(0);
      expect(await live('nomodgate')).toBeUndefined();
    } finally {
      await orphan.stop();
    }
  }, 60_000);

  it('a hook call without the secret, or with the wrong one, is refused before its body is read', async () => {
    const form = 'app=live&name=x&clientid=1&call=publish&addr=127.0.0.1';
    const base = `http://127.0.0.1:${gw.httpPort}/api/v1/hooks/nginx-rtmp`;
    for (const url of [base, `${base}?secret=wrong-secret-0000000000`]) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('unauthorized');
    }
    const bad = await fetch(`${base}?secret=${SECRET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'call=publish&app=live',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe('body.clientid');
  });

  it('no log line of the gateway (debug level) holds a stream key', () => {
    expect(logLines.length).toBeGreaterThan(10);
    expect(issuedKeys.length).toBeGreaterThan(3);
    for (const key of issuedKeys) expect(logLines.filter((l) => l.includes(key))).toEqual([]);
    expect(logLines.filter((l) => /sk_[A-Za-z0-9_-]{32}/.test(l))).toEqual([]);
  });
});
