import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DETECTION_INTERNALS } from '../../gateway/enforcement/streamer-words.ts';
import { waitFor } from '../helpers/gateway.ts';
import { browserSkipReason, FAKE_MEDIA_ARGS, launchChromium, signIn, startConsoleFixture, watchPageErrors, type ConsoleFixture } from './fixture.ts';

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the console's browser tests: ${skip}`);

interface StreamRow {
  id: string;
  account: string;
  protocol: string;
}

describe.skipIf(skip !== null)('the console in Chromium against a real gateway (ffmpeg over RTMP, PDQ banks, SQLite)', () => {
  let f: ConsoleFixture;
  let browser: Browser;
  const pages: Page[] = [];

  beforeAll(async () => {
    f = await startConsoleFixture();
    browser = await launchChromium(FAKE_MEDIA_ARGS);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await f?.stop();
  });

  const open = async (token: string) => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    pages.push(page);
    await signIn(page, f.base, token);
    return { page, errs };
  };
  const streams = async () => (await f.api.get<{ streams: StreamRow[] }>('/api/v1/streams')).body.streams;
  const liveOf = async (handle: string) => (await streams()).find((s) => s.account === handle);

  it('a moderator overturns a banked-image cut from the review queue by keyboard, and the account can go live again', async () => {
    const key = await f.account('nightowl');
    const { decisionId } = await f.violate('nightowl', key);
    const { page, errs } = await open(f.moderatorToken);

    await page.goto(`${f.base}/reviews`);
    const item = page.locator(`[data-decision="${decisionId}"]`);
    await item.click();
    await expect.poll(() => item.textContent(), { timeout: 30_000 }).toContain('@nightowl');
    const detail = page.getByTestId('review-detail');
    await expect
      .poll(
        () =>
          detail
            .locator('img.evidence')
            .first()
            .evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    const match = detail.getByTestId('bank-match').first();
    await match.waitFor();
    expect(await match.textContent()).toContain('tve');
    // The banked picture stands beside the frame that matched it.
    const entry = detail.getByTestId('matched-entry').first();
    await expect
      .poll(() => entry.locator('img.entry-picture').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect(await entry.textContent()).toContain('tve');
    expect(await page.getByTestId('queue-counter').textContent()).toMatch(/1 decision waiting/);

    await page.keyboard.press('o');
    const dialog = page.getByRole('dialog', { name: 'Overturn the decision' });
    await dialog.getByRole('textbox').fill('Test pattern, not violent content');
    await dialog.getByRole('button', { name: 'Overturn' }).click();
    await page.getByText('Overturned: 1 strike voided, 1 suspension lifted').waitFor();
    const after = (await f.api.get<{ review: { status: string; by: string; reason: string } }>(`/api/v1/decisions/${decisionId}`)).body;
    expect(after.review).toMatchObject({ status: 'overturned', by: 'token:mo', reason: 'Test pattern, not violent content' });

    const again = f.publish(key, { durationSec: 60 });
    await waitFor(() => liveOf('nightowl'), 30_000, 'nightowl live again');
    await again.stop();
    expect(errs).toEqual([]);
  }, 240_000);

  it('a console chunk that does not arrive shows "could not load" with a reload, not a blank page', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(30_000);
    pages.push(page);
    let blocked = 0;
    await page.route(/\/assets\/SignedIn-[^/]*\.js$/, (route) => {
      blocked++;
      return route.abort('failed');
    });
    await page.goto(`${f.base}/sign-in`);
    await page.getByLabel('Admin token').fill(f.moderatorToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('load-failed').waitFor();
    expect(blocked).toBeGreaterThan(0);
    expect(await page.getByTestId('load-failed').getByRole('button', { name: 'Reload' }).count()).toBe(1);
    expect(await page.locator('.shell').count()).toBe(0);

    // Once the chunk arrives again, Reload brings the console up.
    await page.unroute(/\/assets\/SignedIn-[^/]*\.js$/);
    await page.getByRole('button', { name: 'Reload' }).click();
    await page.locator('.shell').waitFor();
  }, 120_000);

  it('a moderator sees no operator actions and cannot reach the policy editor', async () => {
    const { page, errs } = await open(f.moderatorToken);
    expect(await page.locator('.nav').getByRole('link', { name: 'Policy' }).count()).toBe(0);
    await page.goto(`${f.base}/policy`);
    await page.getByTestId('operators-only').waitFor();
    expect(await page.getByLabel('Policy text (YAML or JSON)').count()).toBe(0);
    await page.goto(`${f.base}/accounts/nightowl`);
    await page.getByRole('heading', { name: '@nightowl' }).waitFor();
    for (const operatorAction of ['Issue key', 'Revoke all…', 'Issue streamer token', 'Revoke…'])
      expect(await page.getByRole('button', { name: operatorAction, exact: true }).count(), operatorAction).toBe(0);
    await page.goto(`${f.base}/banks`);
    await page.getByTestId('banks-table').waitFor();
    expect(await page.getByRole('button', { name: 'New bank' }).count()).toBe(0);
    expect(errs).toEqual([]);
  }, 120_000);

  it('a live stream is in the Live grid; cutting it from its page ends the publisher', async () => {
    const key = await f.account('kestrel');
    const pub = f.publish(key, { durationSec: 120 });
    const live = await waitFor(() => liveOf('kestrel'), 30_000, 'kestrel live');
    const { page, errs } = await open(f.moderatorToken);
    await page.goto(`${f.base}/live`);
    await page.locator(`[data-stream="${live.id}"]`).click();
    await page.getByRole('heading', { name: '@kestrel' }).waitFor();
    await page.getByRole('button', { name: 'Cut feed…' }).click();
    const dialog = page.getByRole('dialog', { name: "Cut @kestrel's feed" });
    await dialog.getByRole('textbox').fill('Spam stream');
    await dialog.getByRole('button', { name: 'Cut feed' }).click();
    const exit = await pub.done;
    expect(exit.code).not.toBe(0);
    await waitFor(async () => !(await liveOf('kestrel')), 30_000, 'kestrel off the list');
    await page.getByText('not live', { exact: true }).waitFor();
    expect(errs).toEqual([]);
  }, 120_000);

  it('an operator sees an invalid policy error at its line, backtests a change, and publishes it', async () => {
    const { page, errs } = await open(f.operatorToken);
    await page.goto(`${f.base}/policy`);
    const editor = page.getByLabel('Policy text (YAML or JSON)');
    const text = await editor.inputValue();
    const bad = text.replace('minScore: 0.9', 'minScore: 9');
    await editor.fill(bad);
    const errorBox = page.getByTestId('policy-errors');
    await errorBox.waitFor();
    expect(await errorBox.textContent()).toContain('rules[1].match.minScore');
    const line = bad.slice(0, bad.indexOf('minScore: 9')).split('\n').length;
    expect(await errorBox.locator('[data-error-line]').first().getAttribute('data-error-line')).toBe(String(line));
    expect(await page.locator(`.gutter-bad[data-line="${line}"]`).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Publish…' }).isDisabled()).toBe(true);

    // The gateway refuses what the browser refuses: its answer is mapped to the same line.
    const refused = await f.api.request<{ errors: Array<{ path: string }> }>('PUT', '/api/v1/policy', { text: bad });
    expect(refused.body.errors[0]!.path).toBe('rules[1].match.minScore');

    const candidate = text.replace('suspend: 30d', 'suspend: 7d');
    await editor.fill(candidate);
    await page.getByTestId('policy-valid').waitFor();
    await page.getByRole('tab', { name: /Changes/ }).click();
    expect(await page.getByTestId('policy-diff').locator('.diff-add').count()).toBe(1);
    await page.getByRole('tab', { name: /Backtest/ }).click();
    await page.getByRole('button', { name: 'Run backtest' }).click();
    const rules = page.getByTestId('backtest-rules');
    await rules.waitFor();
    // Exactly the rule's row (tve-known-content-retro, crisis mode's rule, has the same prefix).
    const row = rules.locator('tr').filter({ has: page.getByRole('cell', { name: 'tve-known-content', exact: true }) });
    expect(await row.getAttribute('class')).toContain('row-changed');
    await page.getByText('suspend 30d → 1w').first().waitFor();

    await page.getByRole('button', { name: 'Publish…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Publish this policy' });
    await dialog.getByRole('textbox').fill('Shorter first suspension (backtested)');
    await dialog.getByRole('button', { name: 'Publish' }).click();
    await page.getByText(/Published version \d+/).waitFor();
    const versions = (await f.api.get<{ versions: Array<{ comment: string; active: boolean }> }>('/api/v1/policy/versions')).body.versions;
    expect(versions[0]).toMatchObject({ comment: 'Shorter first suspension (backtested)', active: true });
    expect((await f.api.get<{ text: string }>('/api/v1/policy')).body.text).toBe(candidate);
    expect(errs).toEqual([]);
  }, 180_000);

  it('accounts, banks (with a per-line import report) and the audit log show real data', async () => {
    const { page, errs } = await open(f.operatorToken);
    await page.goto(`${f.base}/accounts`);
    await page.getByLabel('Search accounts').fill('nightowl');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('account-results').getByRole('link', { name: '@nightowl' }).click();
    await page.getByRole('heading', { name: '@nightowl' }).waitFor();
    await page.getByText('Strikes (0 active)').waitFor();
    await page.getByText('lifted by mo').waitFor();

    await page.goto(`${f.base}/banks`);
    const table = page.getByTestId('banks-table');
    await table.locator('tr', { hasText: 'tve' }).waitFor();
    await table.locator('tr', { hasText: 'tve' }).click();
    const list = path.join(f.dir, 'import.txt');
    writeFileSync(list, `${'c'.repeat(64)}\n# comment\nnot-a-hash\n${'d'.repeat(64)}\n`);
    await page.getByTestId('import-file').setInputFiles(list);
    const report = page.getByTestId('import-report');
    await report.waitFor();
    expect(await report.textContent()).toMatch(/2 valid entries.*1 invalid line/);
    expect(await report.locator('td.num').first().textContent()).toBe('3');
    await page.getByRole('button', { name: 'Import 2 entries' }).click();
    // The gateway's own report of what the import did (the streamed import route).
    const result = page.getByTestId('import-result');
    await result.waitFor();
    expect(await result.textContent()).toMatch(/2 new entries.*0 duplicates already in the bank/);
    const bank = (await f.api.get<{ banks: Array<{ name: string; entries: number }> }>('/api/v1/banks')).body.banks.find((b) => b.name === 'tve');
    expect(bank?.entries).toBe(3);

    await page.goto(`${f.base}/audit?action=decision.overturn`);
    const audit = page.getByTestId('audit-table');
    await audit.waitFor();
    const rows = audit.locator('tbody tr[data-action]');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('Test pattern, not violent content');
    expect(errs).toEqual([]);
  }, 120_000);

  it('/broadcast goes live from the fake camera; a suspension shows in plain words with its end and its statement of reasons, without detection internals', async () => {
    const key = await f.account('wren');
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await page.goto(`${f.base}/broadcast`);
    await page.getByRole('button', { name: 'Turn on camera and microphone' }).click();
    await page.getByLabel('Stream key').fill(key);
    expect(page.url()).not.toContain(key);
    await page.getByRole('button', { name: 'Go live' }).click();
    await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 30_000 }).toMatch(/^LIVE /);
    const live = await waitFor(() => liveOf('wren'), 30_000, 'wren live over WebSocket');
    expect(live.protocol).toBe('websocket');

    const suspended = await f.api.post<{ suspension: { endsAt: string } }>('/api/v1/accounts/wren/suspend', {
      reason: 'Repeated spam after warnings',
      durationSeconds: 7 * 86_400,
      category: 'spam',
    });
    expect(suspended.status).toBe(200);
    const end = page.getByTestId('end-explanation');
    await end.waitFor();
    expect(await end.textContent()).toContain('live streaming is suspended');
    const endText = await page.getByTestId('suspension-end').textContent();
    expect(endText).toMatch(/^The suspension ends /);
    expect(await page.getByTestId('live-status').textContent()).toBe('OFFLINE');

    // The suspension's statement of reasons is made (as the outbox's next pass would) before the streamer looks.
    expect((await f.api.post('/api/v1/statements/flush')).status).toBe(200);
    const token = (await f.api.post<{ accountToken: string }>('/api/v1/accounts/wren/token')).body.accountToken;
    await page.getByLabel('Streamer token').fill(token);
    await page.getByRole('button', { name: 'Show my status' }).click();
    await page.getByTestId('me-suspension').waitFor();
    expect(await page.getByTestId('me-suspension').textContent()).toMatch(/suspended until .*decided by a moderator/s);
    const statement = (await page.getByTestId('me-statements').textContent()) ?? '';
    expect(statement).toContain('you cannot go live until');
    expect(statement).toContain('Repeated spam after warnings');
    expect(statement).toContain('This was decided by a moderator.');
    expect(statement).not.toMatch(DETECTION_INTERNALS);
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).not.toMatch(/distance|hash_match|bke_/);
    expect(errs).toEqual([]);
    await ctx.close();
  }, 180_000);

  it('/broadcast tells a streamer banned by court order why, with the statement of reasons for their account', async () => {
    await f.account('heron');
    const ban = await f.api.post('/api/v1/bans', {
      handle: 'heron',
      kind: 'court_order',
      legalReference: 'TJ Paris, 12 nov. 2026, n° 26/01234 (loi SREN art. 5)',
      authority: 'Tribunal judiciaire de Paris',
      reason: 'bannissement: six months',
      endsAt: new Date(Date.now() + 180 * 86_400_000).toISOString(),
    });
    expect(ban.status).toBe(201);
    expect((await f.api.post('/api/v1/statements/flush')).status).toBe(200);
    const token = (await f.api.post<{ accountToken: string }>('/api/v1/accounts/heron/token')).body.accountToken;
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await page.goto(`${f.base}/broadcast`);
    await page.getByLabel('Streamer token').fill(token);
    await page.getByRole('button', { name: 'Show my status' }).click();
    await page.getByTestId('me-suspension').waitFor();
    expect(await page.getByTestId('me-suspension').textContent()).toMatch(/banned from live streaming by court order \(TJ Paris.*\) until /);
    const statement = (await page.getByTestId('me-statements').textContent()) ?? '';
    expect(statement).toContain('you are banned from live streaming until');
    expect(statement).toContain('TJ Paris, 12 nov. 2026');
    expect(statement).toContain('challenged before the courts');
    expect(errs).toEqual([]);
    await ctx.close();
  }, 120_000);
});
