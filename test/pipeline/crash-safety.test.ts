import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { startPublisher } from '../helpers/ffmpeg-publisher.ts';
import { bankImage, renderKnownImage, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping crash-safety tests: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');
const BIN = fileURLToPath(new URL('../../bin/modgate.js', import.meta.url));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The real `modgate serve` as a child process, so the test can kill -9 it. */
async function serve(configFile: string): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(async () => out.includes('modgate is running') || proc.exitCode !== null, 60_000, 'the gateway to start');
  if (proc.exitCode !== null) throw new Error(`gateway exited at start:\n${out}`);
  return { proc, output: () => out };
}

describe.skipIf(!ffmpeg)('crash safety: a decision survives kill -9 of the gateway', () => {
  let dir: string;
  let configFile: string;
  let rtmpPort: number;
  let key: string;
  let store: Store;
  let image: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-crash-'));
    rtmpPort = await freePort();
    const httpPort = await freePort();
    configFile = path.join(dir, 'modgate.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        dataDir: dir,
        rtmp: { host: '127.0.0.1', port: rtmpPort },
        http: { host: '127.0.0.1', port: httpPort },
        demo: false,
        classifiers: { models: [] },
        log: { level: 'warn' },
      }),
    );
    store = await openStore(`sqlite:${path.join(dir, 'modgate.sqlite')}`);
    await addAccount(store.db, { id: 'test' }, { handle: 'crasher', verified: true, subject: 'person-crash' });
    key = (await issueKey(store.db, { id: 'test' }, 'crasher')).key;
    image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    await bankImage(store.db, image);
  }, 60_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('killed right after the decision is committed, the restarted gateway still holds the suspension and refuses the reconnect', async () => {
    const first = await serve(configFile);
    children.push(first.proc);
    const pub = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
      width: 640,
      height: 360,
      durationSec: 40,
      pattern: { color: 'indigo' },
      image: { path: image, afterSec: 3, transform: 'hflip' },
    });
    // The moment the decision row is visible in the database, the gateway dies without any chance to clean up.
    const decision = await waitFor(
      async () => store.db.selectFrom('decisions').select(['id', 'rule_id']).executeTakeFirst(),
      40_000,
      'a decision to be committed',
    );
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    await pub.stop();
    expect(decision.rule_id).toBe('tve-known-content');

    const suspension = await store.db.selectFrom('suspensions').selectAll().where('decision_id', '=', decision.id).executeTakeFirst();
    expect(suspension, 'the suspension was committed with the decision').toBeTruthy();
    expect(suspension!.lifted_at).toBeNull();
    const strike = await store.db.selectFrom('strikes').selectAll().where('decision_id', '=', decision.id).executeTakeFirst();
    expect(strike?.category).toBe('violent-extremism');

    const second = await serve(configFile);
    children.push(second.proc);
    const retry = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
      width: 320,
      height: 240,
      durationSec: 5,
      pattern: 'testsrc2',
    });
    const exit = await retry.done;
    expect(exit.code, 'the reconnect was refused').not.toBe(0);
    const refusal = await waitFor(
      async () => store.db.selectFrom('publish_refusals').selectAll().where('reason', '=', 'suspended').executeTakeFirst(),
      10_000,
      'the refusal to be recorded',
    );
    expect(refusal.detail).toMatch(/suspended until/);
    // The stream the crashed process left open was closed at restart.
    const open = await store.db.selectFrom('streams').select('id').where('ended_at', 'is', null).execute();
    expect(open).toEqual([]);
    second.proc.kill('SIGTERM');
    await new Promise((r) => second.proc.once('exit', r));
  }, 150_000);
});
