import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { findFfmpeg, type FfmpegInfo } from '../../gateway/media/ffmpeg-path.ts';
import type { Gateway } from '../../gateway/server.ts';
import { CONSOLE_DIST } from '../../console/serve.ts';
import { ApiClient, REPO_ROOT } from '../helpers/gateway.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { bankPictureFile } from '../../gateway/banks/derive.ts';
import { createBank } from '../../gateway/banks/manage.ts';
import { renderKnownImage, startPipelineGateway, verifiedAccount, waitFor } from '../pipeline/setup.ts';

/**
 * A real gateway with the pipeline on (sampler + PDQ hash matching; no ONNX model, to keep CPU for the
 * browser), its built console, real ffmpeg publishers, and Chromium driven by playwright-core. Shared by
 * the console tests and scripts/screenshots.ts.
 */

export const CHROMIUM = process.env.MODGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update'];
export const FAKE_MEDIA_ARGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

/** Why the browser tests cannot run here, or null. */
export async function browserSkipReason(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (install Debian's chromium, or set MODGATE_TEST_CHROMIUM)`;
  if (!(await findFfmpeg())) return 'no ffmpeg found (set FFMPEG_PATH or install ffmpeg)';
  return null;
}

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Builds the console when console/dist is missing or older than its sources (a checkout that skipped npm install). */
export async function ensureConsoleBuilt(): Promise<void> {
  const index = path.join(CONSOLE_DIST, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource(path.join(REPO_ROOT, 'console'))) return;
  await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'console/vite.config.ts'], {
    cwd: REPO_ROOT,
  });
}

function newestSource(dir: string): number {
  let newest = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === 'dist' || name === 'node_modules') continue;
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else newest = Math.max(newest, st.mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

export interface ConsoleFixture {
  gw: Gateway;
  dir: string;
  base: string;
  ffmpeg: FfmpegInfo;
  operatorToken: string;
  moderatorToken: string;
  /** Operator API client (for setting up and checking what the UI did). */
  api: ApiClient;
  image: string;
  bankedHash: string;
  publishers: Publisher[];
  /** A verified account with a stream key. */
  account(handle: string): Promise<string>;
  /** Publishes a plain stream (no violation) for `durationSec`. */
  publish(streamKey: string, opts?: { durationSec?: number; imageAfterSec?: number; pattern?: 'testsrc2' | { color: string } }): Publisher;
  /** Publishes the banked image on `handle`'s stream and waits for the pending decision it causes. */
  violate(handle: string, streamKey: string): Promise<{ decisionId: string }>;
  stop(): Promise<void>;
}

/** `defaultModel`: run the shipped nsfw model (the screenshots' stream pages show scores); tests leave it off for speed. */
export async function startConsoleFixture(opts: { defaultModel?: boolean } = {}): Promise<ConsoleFixture> {
  await ensureConsoleBuilt();
  const ffmpeg = (await findFfmpeg())!;
  const dir = mkdtempSync(path.join(tmpdir(), 'modgate-console-'));
  const image = await renderKnownImage(ffmpeg.path, path.join(dir, 'known.png'));
  const gw = await startPipelineGateway(dir, opts.defaultModel ? {} : { classifiers: { models: [] } });
  const operatorToken = (await issueToken(gw.store.db, 'test', 'olivia', 'operator')).token;
  const moderatorToken = (await issueToken(gw.store.db, 'test', 'mo', 'moderator')).token;
  const base = `http://127.0.0.1:${gw.httpPort}`;
  const api = new ApiClient(base, operatorToken);
  // Banked as a curator would with `modgate bank add-picture`: the entry keeps a small copy of the picture,
  // which the review screen shows beside the matched frame.
  await createBank(gw.store.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
  const bankedHash = (await bankPictureFile(gw.store.db, 'test', 'tve', image)).hash;
  await gw.banks.refresh();
  const publishers: Publisher[] = [];

  const f: ConsoleFixture = {
    gw,
    dir,
    base,
    ffmpeg,
    operatorToken,
    moderatorToken,
    api,
    image,
    bankedHash,
    publishers,
    account: (handle) => verifiedAccount(gw, handle),
    publish(streamKey, opts = {}) {
      const p = startPublisher({
        ffmpegPath: ffmpeg.path,
        url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${streamKey}`,
        width: 640,
        height: 360,
        durationSec: opts.durationSec ?? 60,
        pattern: opts.pattern ?? { color: 'darkslateblue' },
        ...(opts.imageAfterSec !== undefined ? { image: { path: image, afterSec: opts.imageAfterSec, transform: 'hflip' as const } } : {}),
      });
      publishers.push(p);
      return p;
    },
    async violate(handle, streamKey) {
      const before = new Set(((await api.get<{ decisions: Array<{ id: string }> }>('/api/v1/reviews')).body.decisions ?? []).map((d) => d.id));
      const p = f.publish(streamKey, { imageAfterSec: 2, durationSec: 40 });
      const decision = await waitFor(
        async () => {
          const res = await api.get<{ decisions: Array<{ id: string; evidence: unknown[] }> }>('/api/v1/reviews');
          return res.body.decisions.find((d) => !before.has(d.id) && d.evidence.length > 0);
        },
        90_000,
        `a decision on ${handle}'s stream`,
      );
      await p.done;
      return { decisionId: decision.id };
    },
    async stop() {
      for (const p of publishers) await p.stop();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return f;
}

/** Signs in on the console's sign-in page as a person would: types the token and presses Sign in. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.shell').waitFor();
}

/** Fails a test on any uncaught page error or console error (CSP violations included). */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404)/.test(m.text()))
      errors.push(`console: ${m.text()}`);
  });
  return errors;
}
