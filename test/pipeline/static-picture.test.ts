import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_FILE } from '../../gateway/enforcement/policy-store.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping static-picture end-to-end test: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

/** The sampler stall entry, shortened from the default 30 s so the test takes seconds, not minutes. */
const STALL_SECONDS = 6;

/**
 * A solid-colour RTMP stream on a hash-only gateway (no ONNX model): its frames give the classifiers
 * nothing to say (PDQ skips them as low quality, nothing matches). It used to get a `sampler-stall` review
 * after the stall window with frames flowing; the sampler's sign of life (gateway/sampler/liveness.ts)
 * keeps it watched. The fake-clock version over minutes is test/sampler/unit/static-picture.unit.test.ts.
 */
describe.skipIf(!ffmpeg)('a static picture end to end (real ffmpeg over RTMP, real SQLite)', () => {
  let dir: string;
  let gw: Gateway;
  let pub: Publisher | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-static-'));
    gw = await startPipelineGateway(dir, { classifiers: { models: [] } });
  }, 120_000);

  afterAll(async () => {
    await pub?.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const stallDecisions = () => gw.store.db.selectFrom('decisions').select(['rule_id', 'reason']).where('rule_id', '=', 'sampler-stall').execute();

  it('frames of an unchanging picture keep the stream watched past the stall window; frames that stop do not', async () => {
    const key = await verifiedAccount(gw, 'still');
    pub = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
      width: 320,
      height: 240,
      durationSec: 120,
      pattern: { color: 'teal' },
    });
    const stream = await waitFor(async () => gw.registry.list().find((s) => s.handle === 'still'), 30_000, 'the stream to go live');
    const frames = () => gw.watcher?.stats(stream.id)?.framesEmitted ?? 0;
    // A slow sampler start on a loaded host is a legitimate stall: shorten the window only once frames flow.
    await waitFor(async () => frames() >= 2, 60_000, 'the first sampled frames');
    const text = readFileSync(DEFAULT_POLICY_FILE, 'utf8').replace('afterSeconds: 30', `afterSeconds: ${STALL_SECONDS}`);
    expect(text).toContain(`afterSeconds: ${STALL_SECONDS}`);
    await gw.policies.submit(text, 'yaml', 'token:operator', 'short stall window for the test');
    const from = frames();
    // Three stall windows of media (2 frames a second) sampled, with the short window in force.
    await waitFor(async () => frames() >= from + 3 * STALL_SECONDS * 2, 90_000, `${3 * STALL_SECONDS} s more of sampled frames`);
    expect(await stallDecisions()).toEqual([]);
    expect(gw.registry.list().map((s) => s.handle)).toContain('still');

    // The publisher freezes with its connection open (SIGSTOP): no more media, so no frames: a stall review.
    pub.proc.kill('SIGSTOP');
    const [decision] = await waitFor(
      async () => {
        const d = await stallDecisions();
        return d.length > 0 ? d : null;
      },
      60_000,
      'the sampler-stall decision',
    );
    expect(decision!.reason).toMatch(/no frames sampled/);
    await pub.stop('SIGKILL');
  }, 240_000);
});
