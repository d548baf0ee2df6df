import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_FILE } from '../../gateway/enforcement/policy-store.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { bankImage, renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from './setup.ts';

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping shadow-mode end-to-end test: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');

describe.skipIf(!ffmpeg)('shadow rules end to end (operator dry run on live traffic)', () => {
  let dir: string;
  let gw: Gateway;
  let pub: Publisher | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-shadow-'));
    gw = await startPipelineGateway(dir, { classifiers: { models: [] } });
    const image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    await bankImage(gw.store.db, image);
    await gw.banks.refresh();
    // The operator submits the default policy with the bank-match rule in shadow mode, through the versioned store.
    const text = readFileSync(DEFAULT_POLICY_FILE, 'utf8').replace('  - id: tve-known-content\n', '  - id: tve-known-content\n    shadow: true\n');
    expect(text).toContain('shadow: true');
    await gw.policies.submit(text, 'yaml', 'token:operator', 'dry-run the bank rule before enforcing');
    const key = await verifiedAccount(gw, 'shadowed');
    pub = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
      width: 640,
      height: 360,
      durationSec: 40,
      pattern: { color: 'olive' },
      image: { path: image, afterSec: 3, transform: 'hflip' },
    });
  }, 120_000);

  afterAll(async () => {
    await pub?.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a matching shadow rule records "would have cut" and the stream stays up; nothing is enforced', async () => {
    const decision = await waitFor(
      async () => gw.store.db.selectFrom('decisions').selectAll().where('rule_id', '=', 'tve-known-content').executeTakeFirst(),
      40_000,
      'the shadow decision',
    );
    expect(decision.shadow).toBe(1);
    expect(JSON.parse(decision.actions)).toMatchObject({ cut: true, suspend: expect.anything() });
    expect(decision.review_status).toBe('none');
    // Nothing is enforced later either: the stream goes on being sampled (4 more frames, each matching the
    // shadow rule, ~2 s at 2 fps) and is still live afterwards. Counted in frames, not seconds.
    const live = gw.registry.list().find((s) => s.handle === 'shadowed');
    expect(live, 'the stream is still live').toBeDefined();
    const framesAtDecision = gw.watcher?.stats(live!.id)?.framesEmitted ?? 0;
    await waitFor(
      async () => (gw.watcher?.stats(live!.id)?.framesEmitted ?? 0) >= framesAtDecision + 4,
      30_000,
      '4 more sampled frames after the shadow decision',
    );
    expect(
      gw.registry.list().map((s) => s.handle),
      'the stream is still live',
    ).toContain('shadowed');
    expect(pub!.proc.exitCode).toBeNull();
    expect(await gw.store.db.selectFrom('suspensions').selectAll().execute()).toEqual([]);
    expect(await gw.store.db.selectFrom('strikes').selectAll().execute()).toEqual([]);
    const audit = await gw.store.db.selectFrom('audit_log').select(['action', 'target_id']).where('action', '=', 'decision.shadow').execute();
    expect(audit).toHaveLength(1);
  }, 60_000);
});
