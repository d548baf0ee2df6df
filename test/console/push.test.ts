import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { DEFAULT_POLICY_FILE } from '../../gateway/enforcement/policy-store.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/gateway.ts';
import { makeFile } from '../helpers/ffmpeg-publisher.ts';
import { wsPublish } from '../helpers/ws-publisher.ts';
import { browserSkipReason, launchChromium, signIn, startConsoleFixture, watchPageErrors, type ConsoleFixture } from './fixture.ts';

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the console's push tests: ${skip}`);

/** The Live grid and the review queue of an open console follow the gateway by push (GET /api/v1/events), never by reloading. */
describe.skipIf(skip !== null)('the console updated by push, in Chromium', () => {
  let f: ConsoleFixture;
  let browser: Browser;
  beforeAll(async () => {
    [f, browser] = await Promise.all([startConsoleFixture(), launchChromium()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await f?.stop();
  });

  const open = async (to: string): Promise<{ page: Page; errs: string[]; requests: string[] }> => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await signIn(page, f.base, f.moderatorToken);
    await page.goto(`${f.base}${to}`);
    await page.locator('.push-note').waitFor({ state: 'detached' }); // push connected
    const requests: string[] = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    return { page, errs, requests };
  };

  it('a stream that goes live appears in the open Live grid with its latest frame and sampling, and leaves when it ends', async () => {
    const { page, errs, requests } = await open('/live');
    await page.getByText('Nobody is live').waitFor();
    const key = await f.account('pushcam');
    const pub = f.publish(key, { durationSec: 120 }); // a plain colour: testsrc2 is what the bank holds
    const card = page.locator('.stream-card', { hasText: '@pushcam' });
    await card.waitFor();
    const img = card.getByTestId('thumbnail');
    await expect
      .poll(() => img.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth).catch(() => 0), { timeout: 60_000 })
      .toBeGreaterThan(0);
    expect(await card.textContent()).not.toContain('not sampled');
    await expect.poll(() => card.getByTestId('stream-scores').textContent(), { timeout: 30_000 }).toContain('bank');
    // Updated by push: the list itself was never fetched again, only frames.
    expect(requests.filter((p) => p === '/api/v1/streams')).toEqual([]);
    expect(requests.some((p) => p.endsWith('/frame'))).toBe(true);

    await pub.stop();
    await card.waitFor({ state: 'detached', timeout: 60_000 });
    expect(errs).toEqual([]);
  }, 240_000);

  it('a decision appears in the open review queue without a reload, and the counter follows', async () => {
    const { page, errs, requests } = await open('/reviews');
    const before = (await f.api.get<{ decisions: unknown[] }>('/api/v1/reviews')).body.decisions.length;
    const key = await f.account('pushqueue');
    const { decisionId } = await f.violate('pushqueue', key);
    const item = page.locator(`[data-decision="${decisionId}"]`);
    await item.waitFor({ timeout: 30_000 });
    await expect.poll(() => item.textContent(), { timeout: 30_000 }).toContain('@pushqueue');
    await expect.poll(() => page.getByTestId('queue-counter').textContent()).toMatch(new RegExp(`${before + 1} decisions? waiting`));
    expect(requests.filter((p) => p === '/api/v1/reviews').length).toBeLessThanOrEqual(1); // the nav counter's read, not the queue's
    // Reviewed elsewhere (the API, another moderator): it leaves this queue.
    expect((await f.api.post(`/api/v1/decisions/${decisionId}/confirm`, { reason: 'seen', addToBank: false })).status).toBe(200);
    await item.waitFor({ state: 'detached', timeout: 30_000 });
    expect(errs).toEqual([]);
  }, 240_000);

  /** Waits until the stream page's <video> really plays: decoded frames, current data, and its clock advancing. */
  const expectPlaying = async (page: Page) => {
    const video = page.getByTestId('player');
    const playback = () =>
      video.evaluate((v) => {
        const el = v as unknown as { currentTime: number; readyState: number; getVideoPlaybackQuality(): { totalVideoFrames: number } };
        return { t: el.currentTime, ready: el.readyState, frames: el.getVideoPlaybackQuality().totalVideoFrames };
      });
    await expect.poll(async () => (await playback()).frames, { timeout: 90_000 }).toBeGreaterThan(10);
    const first = await playback();
    expect(first.ready).toBeGreaterThanOrEqual(2); // HAVE_CURRENT_DATA: a picture is there to show
    await expect.poll(async () => (await playback()).t, { timeout: 60_000 }).toBeGreaterThan(first.t + 0.5);
    expect(await video.getAttribute('data-state')).toBe('playing');
  };

  /** Opens the stream page of `account`'s live stream and records the player's HTTP-FLV requests. */
  const watch = async (account: string) => {
    const live = await waitFor(
      async () =>
        (await f.api.get<{ streams: Array<{ id: string; account: string; watch: { flv: string | null } }> }>('/api/v1/streams')).body.streams.find(
          (s) => s.account === account,
        ),
      60_000,
      `${account} live`,
    );
    expect(live.watch.flv).toBe(`/api/v1/streams/${live.id}/live.flv`);
    const opened = await open(`/streams/${live.id}`);
    const flvRequests: Array<{ url: string; auth: string | undefined }> = [];
    opened.page.on('request', (r) => {
      if (r.url().includes('live.flv')) flvRequests.push({ url: r.url(), auth: r.headers().authorization });
    });
    await opened.page.reload();
    return { ...opened, flvRequests };
  };

  it("a stream's page plays an RTMP stream live (HTTP-FLV relayed, in mpegts.js, token in the header, not the URL)", async () => {
    const key = await f.account('watchme');
    const pub = f.publish(key, { durationSec: 120 });
    const { page, errs, flvRequests } = await watch('watchme');
    await expectPlaying(page);
    expect(flvRequests[0]?.auth).toBe(`Bearer ${f.moderatorToken}`);
    expect(flvRequests[0]?.url).not.toContain(f.moderatorToken);
    await pub.stop();
    expect(errs).toEqual([]);
  }, 240_000);

  it("a stream's page plays a WebSocket-ingested (WebM VP8 + Opus) stream live: the gateway transcodes it to HTTP-FLV for mpegts.js", async () => {
    // A browser's MediaRecorder stream as the WebSocket ingest takes it; a plain colour (testsrc2 is what the bank holds).
    const webm = await makeFile({
      file: path.join(f.dir, 'browser.webm'),
      ffmpegPath: f.ffmpeg.path,
      width: 320,
      height: 180,
      rate: 15,
      durationSec: 90,
      gopSec: 1,
      pattern: { color: 'seagreen' },
      audio: true,
    });
    const key = await f.account('wswatch');
    const pub = wsPublish({ url: `ws://127.0.0.1:${f.gw.httpPort}/ingest`, streamKey: key, file: webm, fileDurationSec: 90 });
    try {
      expect(await pub.accepted).toMatch(/^str_/);
      const { page, errs, flvRequests } = await watch('wswatch');
      await expectPlaying(page);
      expect(flvRequests[0]?.auth).toBe(`Bearer ${f.moderatorToken}`);
      expect(await page.getByText('browser (WebSocket)').count()).toBe(1);
      expect(errs).toEqual([]);
    } finally {
      await pub.close();
    }
  }, 240_000);

  it('an operator rolls the policy back to the shipped default from the versions list', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    const shipped = (await f.api.get<{ text: string; versionId: number }>('/api/v1/policy')).body;
    const put = await f.api.request<{ versionId: number }>('PUT', '/api/v1/policy', {
      text: shipped.text.replace('suspend: 30d', 'suspend: 14d'),
      format: 'yaml',
      comment: 'to be rolled back',
    });
    expect(put.status).toBe(200);
    await signIn(page, f.base, f.operatorToken);
    await page.goto(`${f.base}/policy`);
    await page.getByRole('tab', { name: /Versions/ }).click();
    await page.getByRole('button', { name: 'Roll back to the shipped default' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back to the shipped default' });
    await dialog.getByRole('textbox').fill('Back to what ships');
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await page.getByText(/The shipped default is active/).waitFor();
    const active = (await f.api.get<{ text: string; versionId: number }>('/api/v1/policy')).body;
    expect(active.versionId).toBeGreaterThan(put.body.versionId);
    expect(active.text).toBe(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
    expect(errs).toEqual([]);
  }, 180_000);
});
