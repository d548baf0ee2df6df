import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/gateway.ts';

/**
 * `modgate model eval` refuses what a user got wrong with a line `modgate: <code>: …` and a non-zero exit,
 * the code stable for scripts (classifiers/onnx/eval-head.ts EvalHeadErrorCode). The deployed nsfw model
 * stands for a head where one is needed (only a garbage model file and a corrupt frame get that far).
 */

const NSFW = path.join(REPO_ROOT, 'models/nsfw/manifest.json');
let dir: string;
let pos: string;
let neg: string;

const ppm = (w: number, h: number) => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.alloc(w * h * 3, 128)]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modgate-eval-cli-'));
  pos = path.join(dir, 'pos');
  neg = path.join(dir, 'neg');
  await mkdir(pos);
  await mkdir(neg);
  await writeFile(path.join(pos, 'a.ppm'), ppm(32, 24));
  await writeFile(path.join(neg, 'b.ppm'), ppm(32, 24));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const evalCli = (...args: string[]) => runCli(['model', 'eval', ...args], { env: { MODGATE_FROM_SOURCE: '1' }, timeoutMs: 120_000 });

/** The code of a CLI error: one line, and the details of a manifest's issues indented under it. */
function errorCode(r: { code: number | null; stdout: string; stderr: string }): string {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(
    lines.slice(1).every((l) => l.startsWith('  ')),
    r.stderr,
  ).toBe(true);
  return /^modgate: ([a-z_]+): /.exec(lines[0]!)?.[1] ?? `(no code) ${lines[0]}`;
}

describe('modgate model eval errors', { timeout: 240_000 }, () => {
  it('a manifest that is missing, or not a manifest: manifest_invalid', async () => {
    const notManifest = path.join(dir, 'manifest.json');
    await writeFile(notManifest, '{"name": 3}');
    const [missing, invalid] = await Promise.all([
      evalCli(path.join(dir, 'nope', 'manifest.json'), '--positive', pos, '--negative', neg),
      evalCli(notManifest, '--positive', pos, '--negative', neg),
    ]);
    expect(errorCode(missing)).toBe('manifest_invalid');
    expect(errorCode(invalid)).toBe('manifest_invalid');
  });

  it('a threshold outside [0, 1], a signal the model lacks, a folder that is not there, a class with no frames', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    const [threshold, signal, folder, labels] = await Promise.all([
      evalCli(NSFW, '--positive', pos, '--negative', neg, '--threshold', '1.5'),
      evalCli(NSFW, '--positive', pos, '--negative', neg, '--signal', 'violence/violence'),
      evalCli(NSFW, '--positive', path.join(dir, 'no-such-folder'), '--negative', neg),
      evalCli(NSFW, '--positive', pos, '--negative', empty),
    ]);
    expect(errorCode(threshold)).toBe('invalid_threshold');
    expect(errorCode(signal)).toBe('unknown_signal');
    expect(errorCode(folder)).toBe('folder_unreadable');
    expect(errorCode(labels)).toBe('missing_class');
  });

  it('a model file that does not load (model_unreadable), a frame that does not decode (frame_unreadable)', async () => {
    const broken = path.join(dir, 'broken');
    await mkdir(broken);
    await copyFile(NSFW, path.join(broken, 'manifest.json'));
    await writeFile(path.join(broken, 'nsfw-mobilenet-v2.onnx'), 'not an onnx model');
    const corrupt = path.join(dir, 'corrupt');
    await mkdir(corrupt);
    await writeFile(path.join(corrupt, 'c.ppm'), 'P6\n32 24\n255\nshort');
    const model = await evalCli(path.join(broken, 'manifest.json'), '--positive', pos, '--negative', neg);
    expect(errorCode(model)).toBe('model_unreadable');
    const frame = await evalCli(NSFW, '--positive', corrupt, '--negative', neg);
    expect(errorCode(frame)).toBe('frame_unreadable');
  });
});
