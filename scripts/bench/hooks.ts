import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addEntries, createBank } from '../../gateway/banks/manage.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { resolveFfmpeg, type FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../../test/helpers/ffmpeg-publisher.ts';
import { freePort, nginxRtmpMissing, startNginxRtmp, type NginxRtmp } from '../../test/helpers/nginx-rtmp.ts';
import { rawPublish } from '../../test/helpers/rtmp-client.ts';
import { CLK_TCK, cpuTicks, load, percentile, progressFor, round, sleep, waitUntil } from './kit.ts';
import { backgroundFile, bankedFile, CONTENT_AT_SEC, FILE_SEC, knownPicture, publishWithProgress } from './media-inputs.ts';
import type { BenchResult } from './types.ts';

/**
 * modgate moderating an nginx-rtmp (Debian nginx + libnginx-mod-rtmp, started here on loopback) against
 * its own native ingest, in the same run, same gateway, same banked picture, same files:
 *
 *  - Time to cut: a 720p30 file whose banked picture starts at a known pts (3.5 s, mid-GOP) is published
 *    with `-re -c copy -progress`; from the wall time the muxer wrote that pts to the publisher's ffmpeg
 *    exiting (nginx's publisher disconnected by the control module's drop; natively, modgate's socket
 *    closed). Runs alternate between the two so load drift hits both alike. Target: nginx p50/p95 within
 *    1.5× of native.
 *  - Publish authorization latency added by the hook: a raw RTMP client's publish → NetStream.Publish.Start,
 *    on an nginx application with on_publish pointing at modgate vs an application without it (same
 *    nginx), and on modgate's own listener (its in-process gate).
 *  - CPU per stream: the gateway process plus its sampler ffmpeg children over a window, with streams
 *    pulled from nginx vs published to modgate natively (the same background file looped); nginx's own
 *    CPU reported beside (the media server's cost, which the platform pays anyway).
 */

const SECRET = 'bench-nginx-secret-0123456789';
const progress = progressFor('hooks');
const ticks = (pid: number | null | undefined): number => cpuTicks(pid) ?? 0;

/** The same cached inputs as the pipeline benchmark (same names, same encodes). */
async function inputs(ff: FfmpegInfo): Promise<{ banked: string; background: string }> {
  const image = await knownPicture(ff);
  return { background: await backgroundFile(ff), banked: await bankedFile(ff, image, 2) };
}

interface Setup {
  gw: Gateway;
  nginx: NginxRtmp;
  dir: string;
  account(prefix: string): Promise<{ key: string; handle: string }>;
  idOf(handle: string): string | undefined;
  stop(): Promise<void>;
}

let seq = 0;

async function setup(ff: FfmpegInfo, image: string): Promise<Setup> {
  const dir = mkdtempSync(join(os.tmpdir(), 'modgate-bench-hooks-'));
  const controlPort = await freePort();
  const config = ConfigSchema.parse({
    dataDir: join(dir, 'gw'),
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 500,
    sampling: { mode: 'full' },
    classifiers: { models: [] },
    servers: [
      { name: 'nginx', kind: 'nginx-rtmp', secret: SECRET, control: `http://127.0.0.1:${controlPort}/control`, pull: 'rtmp://127.0.0.1:1/{app}/{name}' },
    ],
  });
  const gw = await startGateway(config, { log: createLogger('silent') });
  const nginx = await startNginxRtmp({
    dir: join(dir, 'nginx'),
    hookUrl: `http://127.0.0.1:${gw.httpPort}/api/v1/hooks/nginx-rtmp?secret=${SECRET}`,
    updateTimeout: '10s',
    controlPort,
    extraApps: ['plain'],
  });
  gw.config.servers[0]!.pull = `rtmp://127.0.0.1:${nginx.rtmpPort}/{app}/{name}`;
  await issueToken(gw.store.db, 'bench', 'bench-op', 'operator');
  const [h] = await hashFile(image);
  await createBank(gw.store.db, 'bench', { name: 'tve', category: 'terrorist-violent-extremism' });
  await addEntries(gw.store.db, 'bench', 'tve', [{ hash: h!.hash }]);
  await gw.banks.refresh();
  return {
    gw,
    nginx,
    dir,
    async account(prefix) {
      const handle = `${prefix}${seq++}`;
      await addAccount(gw.store.db, { id: 'bench' }, { handle, verified: true, subject: `person-${handle}` });
      const key = (await issueKey(gw.store.db, { id: 'bench' }, handle)).key;
      await gw.gate.refresh();
      return { key, handle };
    },
    idOf: (handle) => gw.registry.list().find((s) => s.handle === handle)?.id,
    async stop() {
      await gw.stop();
      await nginx.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function cutRun(s: Setup, ff: FfmpegInfo, file: string, via: 'native' | 'nginx'): Promise<number | null> {
  const { key, handle } = await s.account(via === 'native' ? 'n' : 'x');
  const url = via === 'native' ? `rtmp://127.0.0.1:${s.gw.rtmpPort}/live/${key}` : `rtmp://127.0.0.1:${s.nginx.rtmpPort}/live/${key}`;
  let reason: string | null = null;
  const onEnded = (st: { handle: string }, r: string) => {
    if (st.handle === handle) reason = r;
  };
  s.gw.registry.on('ended', onEnded);
  const pub = publishWithProgress(ff, url, file);
  await waitUntil(() => s.idOf(handle) !== undefined, 15_000);
  const exitAt = await Promise.race([pub.done, sleep((FILE_SEC + 10) * 1000).then(() => null)]);
  pub.stop();
  s.gw.registry.off('ended', onEnded);
  const sent = pub.sentAt(CONTENT_AT_SEC);
  await sleep(300);
  // Counted only when the one-strike rule cut it (suspension), not when the file simply ended.
  return exitAt !== null && sent !== null && reason === 'suspended' ? exitAt - sent : null;
}

async function publishStart(port: number, name: string, app: string): Promise<number | null> {
  const t0 = performance.now();
  const { client, started } = await rawPublish(port, name, { app, tcUrl: `rtmp://127.0.0.1:${port}/${app}` });
  const ms = performance.now() - t0;
  client.destroy();
  return started ? ms : null;
}

async function cpuWindow(
  s: Setup,
  ff: FfmpegInfo,
  file: string,
  via: 'native' | 'nginx',
  n: number,
  windowMs: number,
): Promise<{ gateway: number; nginx: number }> {
  const pubs: Publisher[] = [];
  const handles: string[] = [];
  for (let i = 0; i < n; i++) {
    const { key, handle } = await s.account(via === 'native' ? 'cn' : 'cx');
    handles.push(handle);
    const url = via === 'native' ? `rtmp://127.0.0.1:${s.gw.rtmpPort}/live/${key}` : `rtmp://127.0.0.1:${s.nginx.rtmpPort}/live/${key}`;
    pubs.push(startPublisher({ url, ffmpegPath: ff.path, source: { file, loop: true } }));
  }
  await waitUntil(() => handles.every((h) => (s.gw.watcher?.stats(s.idOf(h) ?? '')?.framesEmitted ?? 0) > 2), 60_000);
  await sleep(1_000);
  const pids = () => handles.map((h) => s.gw.watcher?.stats(s.idOf(h) ?? '')?.pid ?? null);
  const p0 = pids();
  const c0 = ticks(process.pid) + p0.reduce<number>((a, p) => a + ticks(p), 0);
  const n0 = ticks(s.nginx.proc.pid);
  const t0 = Date.now();
  await sleep(windowMs);
  const c1 = ticks(process.pid) + p0.reduce<number>((a, p) => a + ticks(p), 0);
  const n1 = ticks(s.nginx.proc.pid);
  const secs = (Date.now() - t0) / 1000;
  for (const p of pubs) await p.stop('SIGKILL');
  await waitUntil(() => handles.every((h) => s.idOf(h) === undefined), 30_000);
  // % of one core per stream.
  return { gateway: ((c1 - c0) / CLK_TCK / secs / n) * 100, nginx: ((n1 - n0) / CLK_TCK / secs / n) * 100 };
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  const missing = nginxRtmpMissing();
  if (missing) return [{ name: 'nginx-rtmp hooks', unit: '', value: NaN, note: `skipped: ${missing}` }];
  const ff = await resolveFfmpeg();
  const files = await inputs(ff);
  const s = await setup(ff, resolve('.bench/pipeline-known.png'));
  const out: BenchResult[] = [];
  try {
    // Time to cut, alternating.
    const runs = opts.quick ? 3 : 8;
    const native: number[] = [];
    const viaNginx: number[] = [];
    let failed = 0;
    for (let i = 0; i < runs; i++) {
      for (const via of ['native', 'nginx'] as const) {
        const ms = await cutRun(s, ff, files.banked, via);
        progress(`cut ${via} run ${i + 1}/${runs}: ${ms ?? 'not cut'} ms`);
        if (ms === null) failed++;
        else (via === 'native' ? native : viaNginx).push(ms);
      }
    }
    const note = `${viaNginx.length}/${runs} nginx and ${native.length}/${runs} native runs cut and suspended${failed ? ` (${failed} not)` : ''}; banked picture at pts ${CONTENT_AT_SEC} s of a 720p30 2.5 Mbit/s file, full sampling at 2 fps; target ≤ 1.5× native; load avg ${load()}`;
    out.push(
      {
        name: 'banked picture → nginx publisher disconnected, p50',
        unit: 'ms',
        value: round(percentile(viaNginx, 50)),
        baseline: { name: 'native ingest time to cut p50', value: round(percentile(native, 50)) },
        note,
      },
      {
        name: 'banked picture → nginx publisher disconnected, p95',
        unit: 'ms',
        value: round(percentile(viaNginx, 95)),
        baseline: { name: 'native ingest time to cut p95', value: round(percentile(native, 95)) },
      },
    );

    // Publish authorization latency.
    const samples = opts.quick ? 20 : 60;
    const hooked: number[] = [];
    const plain: number[] = [];
    const own: number[] = [];
    const { key, handle } = await s.account('auth');
    for (let i = 0; i < samples; i++) {
      const a = await publishStart(s.nginx.rtmpPort, key, 'live');
      if (a !== null) hooked.push(a);
      await waitUntil(() => s.idOf(handle) === undefined, 10_000);
      const b = await publishStart(s.nginx.rtmpPort, `plain${i}`, 'plain');
      if (b !== null) plain.push(b);
      const c = await publishStart(s.gw.rtmpPort, key, 'live');
      if (c !== null) own.push(c);
      await waitUntil(() => s.idOf(handle) === undefined, 10_000);
    }
    const authNote = `${hooked.length}/${samples} hooked publishes started; raw RTMP client, connect+createStream+publish written at once, timed to NetStream.Publish.Start; modgate's own listener p50 ${round(percentile(own, 50), 1)} ms; load avg ${load()}`;
    out.push(
      {
        name: 'nginx publish → Publish.Start with the modgate hook, p50',
        unit: 'ms',
        value: round(percentile(hooked, 50), 1),
        baseline: { name: 'same nginx, application without on_publish, p50', value: round(percentile(plain, 50), 1) },
        note: authNote,
      },
      {
        name: 'nginx publish → Publish.Start with the modgate hook, p95',
        unit: 'ms',
        value: round(percentile(hooked, 95), 1),
        baseline: { name: 'without on_publish, p95', value: round(percentile(plain, 95), 1) },
      },
      { name: 'publish authorization added by the hook (p50 difference)', unit: 'ms', value: round(percentile(hooked, 50) - percentile(plain, 50), 1) },
    );

    // CPU per stream.
    const n = opts.quick ? 2 : 4;
    const windowMs = opts.quick ? 8_000 : 20_000;
    const cpuNative = await cpuWindow(s, ff, files.background, 'native', n, windowMs);
    const cpuNginx = await cpuWindow(s, ff, files.background, 'nginx', n, windowMs);
    out.push({
      name: `modgate CPU per stream pulled from nginx (${n} streams, 720p30 2.5 Mbit/s, full sampling)`,
      unit: '% of a core',
      value: round(cpuNginx.gateway, 1),
      baseline: { name: 'per native-ingest stream (relay + sampler)', value: round(cpuNative.gateway, 1) },
      note: `gateway process + its sampler ffmpeg children over ${windowMs / 1000} s; nginx's own CPU per stream with modgate's pull as one player: ${round(cpuNginx.nginx, 1)}%; load avg ${load()}`,
    });
  } finally {
    await s.stop();
  }
  return out;
}
