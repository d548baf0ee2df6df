import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import { BUILTIN_WHITENING } from '../../gateway/pipeline/copy-descriptor.ts';
import type { Gateway } from '../../gateway/server.ts';
import { packagePath } from '../../package/root.ts';
import { bankedPictures, benignPictures, type TransformId } from '../fixtures/evasion/transforms.ts';
import { bankPictures, publishFile, renderStream, watchOutcomes, type StreamOutcome } from './evasion-harness.ts';
import { startPipelineGateway, verifiedAccount } from './setup.ts';

/**
 * The learned copy descriptor end to end (issue 12 item 3): a banked picture re-streamed over RTMP with an
 * edit no PDQ hash survives — 20 % cropped off each side (past the banked centre crops) — is cut by the
 * shipped policy's `copy-known-content` rule on `copy_match` signals, with no hash match at all; a benign
 * real photo streamed the same way is not. The gateway runs as shipped: the nsfw model, whose embedding
 * feeds the descriptor (`classifiers.copy` on by default), and the default policy.
 */
const ffmpeg = await findFfmpeg();
const MODEL_DIR = packagePath('models', 'nsfw');
const haveModel = existsSync(path.join(MODEL_DIR, 'nsfw-mobilenet-v2.onnx')) && existsSync(BUILTIN_WHITENING);
if (!ffmpeg) console.warn('skipping the copy_match end-to-end test: no ffmpeg found (set FFMPEG_PATH or install ffmpeg)');
if (!haveModel) console.warn('skipping the copy_match end-to-end test: the nsfw model (npm install) or models/copy/whitening.json is missing');

const EVASION: TransformId = 'crop20';

describe.skipIf(!ffmpeg || !haveModel)('copy_match: an edit no hash survives is cut by the copy descriptor (real ffmpeg over RTMP)', () => {
  let dir: string;
  let gw: Gateway;
  let watch: ReturnType<typeof watchOutcomes>;
  let banked: Map<string, string>;
  const outcomes = new Map<string, StreamOutcome>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-copy-match-'));
    gw = await startPipelineGateway(dir, { classifiers: { models: [MODEL_DIR] } });
    expect(gw.copy, 'the gateway runs the copy descriptor').not.toBeNull();
    watch = watchOutcomes(gw);
    // baboon: PDQ 98 bits from its nearest banked crop under this edit, copy similarity 0.91 on a still (scripts/bench/copy.ts).
    const picture = bankedPictures()[1]!;
    banked = await bankPictures(gw, [picture]);
    expect(gw.copy!.index.size, 'the picture was banked with its copy views').toBeGreaterThan(0);
    const benign = benignPictures();
    const jobs = [
      {
        handle: 'evade-copy',
        file: () =>
          renderStream(ffmpeg!.path, EVASION, {
            picture,
            background: benign[0]!,
            file: path.join(dir, 'evade.flv'),
            appearSec: 1,
            durationSec: 12,
            fontFile: null,
          }),
      },
      {
        handle: 'benign-copy',
        file: () =>
          renderStream(ffmpeg!.path, 'reencode', {
            picture: benign[1]!,
            background: benign[1]!,
            file: path.join(dir, 'benign.flv'),
            appearSec: 0,
            durationSec: 10,
            fontFile: null,
          }),
      },
    ];
    // One at a time: each stream costs a 720p decode and the model at 2 fps.
    for (const j of jobs) {
      const file = await j.file();
      const key = await verifiedAccount(gw, j.handle);
      outcomes.set(j.handle, await publishFile(gw, ffmpeg!.path, key, j.handle, file, watch, 90_000));
    }
  }, 300_000);

  afterAll(async () => {
    watch?.close();
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`a banked picture re-streamed with the ${EVASION} edit is cut by copy-known-content, with no hash match`, () => {
    const o = outcomes.get('evade-copy')!;
    expect(o.streamId, 'the stream went live').not.toBeNull();
    expect(o.matches, 'PDQ (whole, trimmed, tiles, derived crops) matched nothing').toEqual([]);
    expect(o.cutAt, `cut (copy matches seen: ${JSON.stringify(o.copyMatches.slice(0, 4))})`).not.toBeNull();
    expect(o.ruleId).toBe('copy-known-content');
    expect(o.exit.code, 'the publisher was disconnected').not.toBe(0);
    const strong = o.copyMatches.filter((m) => m.similarity >= 0.7);
    expect(strong.length, 'two of three model frames agreed').toBeGreaterThanOrEqual(2);
    expect(
      strong.every((m) => banked.has(m.entryId)),
      'the matches name the banked picture',
    ).toBe(true);
  });

  it('a benign real photo streamed the same way is not cut and reaches no copy match at the threshold', () => {
    const o = outcomes.get('benign-copy')!;
    expect(o.streamId, 'the stream went live').not.toBeNull();
    expect(o.cutAt).toBeNull();
    expect(o.copyMatches.filter((m) => m.similarity >= 0.7)).toEqual([]);
    expect(o.exit.code, 'published to its end').toBe(0);
  });
});
