import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/gateway.ts';
import { seededHash as hex } from '../helpers/hashes.ts';
import { browserSkipReason, launchChromium, signIn, startConsoleFixture, watchPageErrors, type ConsoleFixture } from './fixture.ts';

/**
 * The moderators' working screens in Chromium against a real gateway: the review queue worked by keyboard with
 * the banked picture beside the frame, a stream's timeline kept current by push with watch live and suspend,
 * account search with paging and the account's actions, and a bank's entries paged, disabled, imported and
 * exported. Data is made through the API and by real ffmpeg publishers.
 */

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the console's working-screen tests: ${skip}`);

interface Entry {
  id: string;
  hash: string;
  enabled: boolean;
  picture: string | null;
  source: string | null;
}

describe.skipIf(skip !== null)("the moderators' working screens in Chromium (real gateway, ffmpeg, SQLite)", () => {
  let f: ConsoleFixture;
  let browser: Browser;
  const violated: Record<string, { decisionId: string; streamId: string }> = {};

  beforeAll(async () => {
    f = await startConsoleFixture();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await f?.stop();
  });

  const open = async (token: string) => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await signIn(page, f.base, token);
    return { page, errs };
  };
  const decision = async (id: string) => (await f.api.get<{ streamId: string; review: { status: string; by: string | null } }>(`/api/v1/decisions/${id}`)).body;
  const violate = async (handle: string) => {
    const key = await f.account(handle);
    const { decisionId } = await f.violate(handle, key);
    violated[handle] = { decisionId, streamId: (await decision(decisionId)).streamId };
    return violated[handle];
  };
  const sampledPoints = async (page: Page) => Number(/(\d+) sampled points/.exec((await page.getByTestId('stream-timeline').textContent()) ?? '')?.[1] ?? 0);

  it('the review queue: j/k move through what waits, the banked picture stands beside the frame, c confirms into the confirmed bank', async () => {
    const heron = await violate('heron');
    const egret = await violate('egret');
    const { page, errs } = await open(f.moderatorToken);
    await page.goto(`${f.base}/reviews`);
    await expect.poll(() => page.getByTestId('queue-counter').textContent(), { timeout: 60_000 }).toMatch(/2 decisions waiting · oldest waits/);
    // Oldest first: heron's is selected; j moves down to egret's, k back up.
    await page.locator(`[data-decision="${heron.decisionId}"][aria-selected="true"]`).waitFor();
    await page.keyboard.press('j');
    await page.locator(`[data-decision="${egret.decisionId}"][aria-selected="true"]`).waitFor();
    expect(page.url()).toContain(egret.decisionId);
    await page.keyboard.press('k');
    await page.locator(`[data-decision="${heron.decisionId}"][aria-selected="true"]`).waitFor();

    const detail = page.getByTestId('review-detail');
    const entry = detail.getByTestId('matched-entry').first();
    await expect
      .poll(() => entry.locator('img.entry-picture').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), { timeout: 60_000 })
      .toBeGreaterThan(0);
    await expect
      .poll(() =>
        detail
          .locator('.evidence-frame img.evidence')
          .first()
          .evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBeGreaterThan(0);
    expect(await entry.textContent()).toMatch(/Banked entry.*tve.*critical/);
    expect(await detail.getByText('@heron').count()).toBeGreaterThan(0);

    await page.keyboard.press('c');
    const dialog = page.getByRole('dialog', { name: 'Confirm the violation' });
    await dialog.getByRole('textbox').fill('The banked attack footage, mirrored');
    await dialog.getByRole('button', { name: 'Confirm violation' }).click();
    await page.getByText(/Confirmed; \d+ frames? added to the confirmed bank/).waitFor();
    expect((await decision(heron.decisionId)).review).toMatchObject({ status: 'confirmed', by: 'token:mo' });
    await expect.poll(() => page.getByTestId('queue-counter').textContent(), { timeout: 60_000 }).toMatch(/^1 decision waiting/);
    await page.locator(`[data-decision="${egret.decisionId}"][aria-selected="true"]`).waitFor();
    // The confirmed bank keeps the evidence frame each new entry was hashed from.
    const confirmed = (await f.api.get<{ entries: Entry[] }>('/api/v1/banks/confirmed/entries')).body.entries;
    expect(confirmed.length).toBeGreaterThan(0);
    expect(confirmed.every((e) => e.source === `decision:${heron.decisionId}` && e.picture !== null)).toBe(true);
    expect(errs).toEqual([]);
  }, 300_000);

  it("a stream's page: the timeline grows by push, watch live plays, and suspending with a reason ends the feed", async () => {
    const key = await f.account('kite');
    // A plain colour: testsrc2 is what the banked picture was rendered from.
    const pub = f.publish(key, { durationSec: 180 });
    const live = await waitFor(
      async () => (await f.api.get<{ streams: Array<{ id: string; account: string }> }>('/api/v1/streams')).body.streams.find((s) => s.account === 'kite'),
      30_000,
      'kite live',
    );
    const { page, errs } = await open(f.moderatorToken);
    await page.goto(`${f.base}/streams/${live.id}`);
    await page.getByRole('heading', { name: '@kite' }).waitFor();
    await expect.poll(() => sampledPoints(page), { timeout: 60_000 }).toBeGreaterThan(0);
    const before = await sampledPoints(page);
    await expect.poll(() => sampledPoints(page), { timeout: 60_000 }).toBeGreaterThan(before);
    const video = page.getByTestId('player');
    await expect.poll(() => video.evaluate((v) => (v as unknown as { currentTime: number }).currentTime), { timeout: 60_000 }).toBeGreaterThan(0.5);

    await page.getByRole('button', { name: 'Suspend account…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Suspend @kite' });
    await dialog.getByRole('textbox').fill('Streaming a copyrighted match');
    await dialog.getByRole('button', { name: 'Suspend', exact: true }).click();
    const exit = await pub.done;
    expect(exit.code).not.toBe(0);
    const acc = (await f.api.get<{ activeSuspension: { reason: string } | null }>('/api/v1/accounts/kite')).body;
    expect(acc.activeSuspension?.reason).toBe('Streaming a copyrighted match');

    // An ended stream's page: its stored signals with the bank match, the decision marked on the timeline.
    const egret = violated.egret!;
    await page.goto(`${f.base}/streams/${egret.streamId}`);
    await page.getByTestId('signal-table').waitFor();
    expect(await page.getByTestId('signal-row').filter({ hasText: 'distance' }).count()).toBeGreaterThan(0);
    expect(await page.getByTestId('timeline-decision').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('timeline-match').count()).toBeGreaterThan(0);
    expect(errs).toEqual([]);
  }, 300_000);

  it('accounts: search by handle prefix or identity subject, page through the results, issue a key, lift a suspension, void a strike', async () => {
    for (let i = 0; i < 27; i++)
      expect(
        (await f.api.post('/api/v1/accounts', { handle: `gull-${String(i).padStart(2, '0')}`, verified: true, ...(i < 3 ? { subject: 'person-gull' } : {}) }))
          .status,
      ).toBe(201);
    const { page, errs } = await open(f.operatorToken);
    await page.goto(`${f.base}/accounts`);
    await page.getByLabel('Search accounts').fill('GULL');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const rows = page.getByTestId('account-results').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(25);
    await page.getByRole('button', { name: 'Next →' }).click();
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(2);
    expect(await rows.first().getAttribute('data-account')).toBe('gull-25');
    await page.getByRole('button', { name: '← Previous' }).click();
    await expect.poll(() => rows.first().getAttribute('data-account'), { timeout: 60_000 }).toBe('gull-00');
    await page.getByLabel('Search accounts').fill('person-gull');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(3);

    await f.api.post('/api/v1/accounts/gull-01/suspend', { reason: 'ban evasion', durationSeconds: 86_400 });
    await f.api.post('/api/v1/accounts/gull-01/strikes', { category: 'spam', severity: 'low', reason: 'report' });
    await page.locator('[data-account="gull-01"] a').first().click();
    await page.getByRole('heading', { name: '@gull-01' }).waitFor();
    await page.getByRole('button', { name: 'Issue key' }).click();
    await page.getByText('New stream key').waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(async () => (await f.api.get<{ keys: unknown[] }>('/api/v1/accounts/gull-01')).body.keys.length, { timeout: 60_000 }).toBe(1);

    await page.getByRole('button', { name: 'Lift suspension' }).first().click();
    const lift = page.getByRole('dialog', { name: 'Lift the suspension of @gull-01' });
    await lift.getByRole('textbox').fill('Identity re-checked');
    await lift.getByRole('button', { name: 'Lift suspension' }).click();
    await expect
      .poll(async () => (await f.api.get<{ activeSuspension: unknown }>('/api/v1/accounts/gull-01')).body.activeSuspension, { timeout: 60_000 })
      .toBeNull();

    await page.getByRole('button', { name: 'Void', exact: true }).first().click();
    const voiding = page.getByRole('dialog', { name: 'Void this strike' });
    await voiding.getByRole('textbox').fill('Report was mistaken');
    await voiding.getByRole('button', { name: 'Void strike' }).click();
    await expect
      .poll(async () => (await f.api.get<{ strikes: Array<{ voided: boolean }> }>('/api/v1/accounts/gull-01/strikes')).body.strikes.every((s) => s.voided))
      .toBe(true);
    expect(errs).toEqual([]);
  }, 240_000);

  it("a bank's entries: paged, searched, one disabled from the UI; a file imported with its per-line report; exported", async () => {
    await f.api.post('/api/v1/banks', { name: 'gifct-test', category: 'terrorist-violent-extremism' });
    const hashes = Array.from({ length: 120 }, (_, i) => hex(5000 + i));
    await f.api.post('/api/v1/banks/gifct-test/entries', { entries: hashes.map((hash) => ({ hash, source: 'gifct' })) });
    const { page, errs } = await open(f.operatorToken);
    await page.goto(`${f.base}/banks/gifct-test`);
    const rows = page.getByTestId('entries-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(50);
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByRole('button', { name: 'Next →' }).click();
    await expect.poll(() => page.getByTestId('entries-page').textContent(), { timeout: 60_000 }).toMatch(/page 3 · 20 shown/);

    const target = hashes[42]!;
    await page.getByLabel('Search entries').fill(target.slice(0, 14));
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(1);
    await rows.first().getByRole('button', { name: 'Disable…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable the entry' });
    await dialog.getByRole('textbox').fill('Benign meme, false positive');
    await dialog.getByRole('button', { name: 'Disable entry' }).click();
    await expect.poll(() => rows.first().textContent(), { timeout: 60_000 }).toContain('disabled');
    const listed = (await f.api.get<{ entries: Entry[] }>(`/api/v1/banks/gifct-test/entries?q=${target}`)).body.entries;
    expect(listed).toMatchObject([{ hash: target, enabled: false }]);

    const file = path.join(f.dir, 'upload.csv');
    const good = Array.from({ length: 30 }, (_, i) => `${hex(9000 + i)},terrorist-violent-extremism,item ${i}`);
    writeFileSync(
      file,
      ['hash,category,note', ...good.slice(0, 10), 'not-a-hash,terrorist-violent-extremism,broken', ...good.slice(10), `${hashes[0]},x,dup`].join('\n'),
    );
    await page.getByTestId('import-file').setInputFiles(file);
    await page.getByTestId('import-report').waitFor();
    await page.getByRole('button', { name: 'Import 31 entries' }).click();
    const result = page.getByTestId('import-result');
    await result.waitFor();
    expect(await result.textContent()).toMatch(/30 new entries, 1 duplicate already in the bank, 1 invalid line not imported/);
    expect(await result.getByTestId('line-errors').locator('tbody tr').first().textContent()).toMatch(/^12/);
    const bank = (await f.api.get<{ banks: Array<{ name: string; entries: number }> }>('/api/v1/banks')).body.banks.find((b) => b.name === 'gifct-test');
    expect(bank?.entries).toBe(150);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const exported = readFileSync(await (await download).path(), 'utf8');
    expect(exported).toContain(hashes[0]);
    expect(exported).not.toContain(target);
    expect(errs).toEqual([]);
  }, 240_000);
});
