import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/gateway.ts';
import { browserSkipReason, launchChromium, signIn, startConsoleFixture, watchPageErrors, type ConsoleFixture } from './fixture.ts';

/**
 * The dashboard, the viewer reports queue, the transparency page and the policy version history in
 * Chromium, against a real gateway: streams are real ffmpeg RTMP publishers, decisions come from a banked
 * picture shown on a stream, reports are POSTed by viewers from distinct loopback addresses.
 */

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the console's dashboard/reports/transparency browser tests: ${skip}`);

/** A viewer's report, sent from `address` (127.0.0.x: each one a different source to the rate limit and the count). */
function report(base: string, address: string, body: Record<string, unknown>): Promise<{ status: number; body: string }> {
  const url = new URL('/api/v1/reports', base);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: address, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

interface StreamRow {
  id: string;
  account: string;
}

describe.skipIf(skip !== null)('dashboard, viewer reports, transparency and policy versions in Chromium against a real gateway', () => {
  let f: ConsoleFixture;
  let browser: Browser;

  beforeAll(async () => {
    f = await startConsoleFixture();
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await f?.stop();
  });

  const open = async (token: string, path: string, viewport = { width: 1280, height: 800 }) => {
    const page = await (await browser.newContext({ viewport, acceptDownloads: true })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await signIn(page, f.base, token);
    await page.goto(`${f.base}${path}`);
    return { page, errs };
  };
  const liveOf = async (handle: string) => (await f.api.get<{ streams: StreamRow[] }>('/api/v1/streams')).body.streams.find((s) => s.account === handle);
  const text = (page: Page, testid: string) => page.getByTestId(testid).textContent();

  it('the dashboard follows a stream going live and a banked-image decision by push, and shows the same figures as GET /api/v1/stats', async () => {
    const { page, errs } = await open(f.moderatorToken, '/');
    await page.getByTestId('dashboard-stats').waitFor();
    const before = (await f.api.get<{ live: { streams: number }; backlog: { pending: number }; today: { decisions: number } }>('/api/v1/stats')).body;
    expect(await text(page, 'stat-live')).toBe(String(before.live.streams));

    const key = await f.account('dash-plain');
    const plain = f.publish(key, { durationSec: 120 });
    await waitFor(() => liveOf('dash-plain'), 60_000, 'dash-plain live');
    // No reload: the stream.started push re-reads the figures.
    await expect.poll(() => text(page, 'stat-live'), { timeout: 60_000 }).toBe(String(before.live.streams + 1));

    const violator = await f.account('dash-banked');
    await f.violate('dash-banked', violator);
    await expect.poll(() => text(page, 'stat-backlog'), { timeout: 60_000 }).toBe(String(before.backlog.pending + 1));
    const after = (
      await f.api.get<{ live: { streams: number }; backlog: { pending: number }; today: { decisions: number }; timeToCut: { cuts: number; medianMs: number } }>(
        `/api/v1/stats?dayStart=${encodeURIComponent(new Date(new Date().setHours(0, 0, 0, 0)).toISOString())}`,
      )
    ).body;
    expect(after.today.decisions).toBeGreaterThanOrEqual(before.today.decisions + 1);
    await expect.poll(() => text(page, 'stat-decisions'), { timeout: 30_000 }).toBe(String(after.today.decisions));
    expect(after.timeToCut.cuts).toBeGreaterThanOrEqual(1);
    expect(await text(page, 'stat-time-to-cut')).not.toBe('—');
    // The hourly chart has a bar for the cut.
    expect(await page.locator('svg[aria-label="Decisions per hour"] rect.chart-bad').count()).toBeGreaterThan(0);

    await plain.stop();
    await expect.poll(() => text(page, 'stat-live'), { timeout: 60_000 }).toBe(String(before.live.streams));
    expect(errs).toEqual([]);
  }, 300_000);

  it('viewer reports reach the queue by push with the live frame and the independent count; a moderator cuts one stream by keyboard (j/k, c) and suspends another', async () => {
    const { page, errs } = await open(f.moderatorToken, '/reports');
    await page
      .getByText(/No open viewer reports|reported stream/)
      .first()
      .waitFor();
    const k1 = await f.account('reported-one');
    const k2 = await f.account('reported-two');
    // Not testsrc2: the fixture's banked picture is a testsrc2 frame, and region matching rightly cuts a stream showing it.
    const p1 = f.publish(k1, { durationSec: 180, pattern: { color: 'darkolivegreen' } });
    const p2 = f.publish(k2, { durationSec: 180 });
    const s1 = await waitFor(() => liveOf('reported-one'), 60_000, 'reported-one live');
    const s2 = await waitFor(() => liveOf('reported-two'), 60_000, 'reported-two live');

    // Two viewers report stream 1 (one of them twice), one viewer reports stream 2.
    expect((await report(f.base, '127.0.0.2', { streamId: s1.id, category: 'imminent_harm', note: 'he is holding a knife to someone' })).status).toBe(202);
    expect((await report(f.base, '127.0.0.3', { streamId: s1.id, category: 'violence' })).status).toBe(202);
    expect((await report(f.base, '127.0.0.2', { streamId: s1.id, category: 'imminent_harm' })).status).toBe(202);
    expect((await report(f.base, '127.0.0.4', { streamId: s2.id, category: 'hate' })).status).toBe(202);

    const card1 = page.locator(`[data-report-stream="${s1.id}"]`);
    const card2 = page.locator(`[data-report-stream="${s2.id}"]`);
    await expect.poll(() => card1.getByTestId('report-count').textContent(), { timeout: 60_000 }).toMatch(/^2 independent reports \(3 in all\)/);
    expect(await card1.getByTestId('report-categories').textContent()).toMatch(/imminent harm ×2.*violence ×1/);
    expect(await card1.textContent()).toContain('he is holding a knife to someone');
    await card2.waitFor();
    // Most independent reports first.
    expect(await page.locator('[data-report-stream]').first().getAttribute('data-report-stream')).toBe(s1.id);
    // The stream's live frame (a report puts it on full-rate sampling).
    await expect
      .poll(() => card1.locator('img[data-testid="thumbnail"]').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), { timeout: 90_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => page.locator('.nav-count[data-count="reports"]').textContent(), { timeout: 30_000 }).toBe('2');

    // By keyboard, as in the review queue: the first stream is selected, j/k move, c cuts the selected one.
    await expect.poll(() => card1.getAttribute('aria-current')).toBe('true');
    await page.keyboard.press('j');
    await expect.poll(() => card2.getAttribute('aria-current')).toBe('true');
    expect(await card1.getAttribute('aria-current')).toBeNull();
    await page.keyboard.press('k');
    await expect.poll(() => card1.getAttribute('aria-current')).toBe('true');
    await page.keyboard.press('c');
    const cut = page.getByRole('dialog', { name: 'Cut @reported-one' });
    await cut.getByRole('textbox').fill('Credible threat to a person on camera');
    await cut.getByRole('button', { name: 'Cut feed' }).click();
    await card1.waitFor({ state: 'detached' });
    const exit = await p1.done;
    expect(exit.code).not.toBeNull();
    await waitFor(async () => !(await liveOf('reported-one')), 30_000, 'reported-one off the live list');

    await card2.getByRole('button', { name: 'Suspend…' }).click();
    const suspend = page.getByRole('dialog', { name: 'Suspend @reported-two' });
    await suspend.getByRole('textbox').fill('Hate speech on stream, reported by a viewer');
    await suspend.getByRole('button', { name: 'Suspend' }).click();
    await card2.waitFor({ state: 'detached' });
    await p2.done;
    await page.getByText('No open viewer reports').waitFor();

    const actioned = (await f.api.get<{ streams: Array<{ streamId: string; reports: number }> }>('/api/v1/reports?status=actioned')).body.streams;
    expect(actioned.find((r) => r.streamId === s1.id)?.reports).toBe(3);
    expect(actioned.find((r) => r.streamId === s2.id)?.reports).toBe(1);
    const audit = (
      await f.api.get<{ records: Array<{ actor: string; targetId: string; detail: { action: string } }> }>('/api/v1/audit?action=reports.resolve&limit=10')
    ).body.records;
    expect(audit.map((a) => [a.targetId, a.detail.action, a.actor]).sort()).toEqual(
      [
        [s1.id, 'cut', 'token:mo'],
        [s2.id, 'suspended', 'token:mo'],
      ].sort(),
    );
    const account = (await f.api.get<{ suspension: unknown }>('/api/v1/accounts/reported-two')).body;
    expect(JSON.stringify(account)).toContain('Hate speech on stream');
    expect(errs).toEqual([]);
  }, 360_000);

  // Reads the viewer reports and actions the test above makes.
  it("an operator reads the transparency report for a period with charts and downloads the API's CSV; a moderator cannot open it", async () => {
    const { page, errs } = await open(f.operatorToken, '/transparency');
    const report = page.getByTestId('transparency-report');
    await report.waitFor();
    // The default period is the last 30 days (UTC), whose report the API gives for the same dates.
    const url = new URL(page.url());
    const from = url.searchParams.get('from') ?? (await page.locator('input[name="from"]').inputValue());
    const to = await page.locator('input[name="to"]').inputValue();
    const toExclusive = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString();
    const api = (
      await f.api.get<{ ownInitiative: { decisions: number }; viewerReports: { received: number; actioned: number }; accuracy: { reviewed: number } }>(
        `/api/v1/transparency?from=${from}T00:00:00Z&to=${encodeURIComponent(toExclusive)}`,
      )
    ).body;
    expect(api.ownInitiative.decisions).toBeGreaterThanOrEqual(1);
    expect(api.viewerReports.received).toBeGreaterThanOrEqual(4);
    const own = await page.getByTestId('own-initiative').textContent();
    expect(own).toContain(`Measures${api.ownInitiative.decisions}`);
    expect(await page.getByTestId('reports').textContent()).toContain(`Received${api.viewerReports.received}`);
    expect(await page.locator('[aria-label="Measures by detection source"] .hbar').count()).toBeGreaterThanOrEqual(4);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8');
    expect(csv.split('\n')[0]).toBe('section,metric,value');
    expect(csv).toContain(`ownInitiative,decisions,${api.ownInitiative.decisions}`);
    expect(download.suggestedFilename()).toBe(`transparency-${from}-${to}.csv`);

    // A period before anything happened: zeros, not an error.
    await page.getByRole('button', { name: 'Last month' }).click();
    await expect.poll(() => page.getByTestId('reports').textContent(), { timeout: 30_000 }).toContain('Received0');

    const mod = await open(f.moderatorToken, '/transparency');
    await mod.page.getByTestId('operators-only').waitFor();
    expect(await mod.page.getByTestId('operators-only').textContent()).toContain('The transparency report is for operators');
    expect(await mod.page.getByTestId('transparency-report').count()).toBe(0);
    expect(await mod.page.locator('nav a[href="/transparency"]').count()).toBe(0);
    expect([...errs, ...mod.errs]).toEqual([]);
  }, 180_000);

  it("the policy version history shows an earlier version's comment, text and diff against the active policy", async () => {
    const active = (await f.api.get<{ text: string }>('/api/v1/policy')).body.text;
    const older = active.replace('suspend: 30d', 'suspend: 14d');
    expect(older).not.toBe(active);
    const v1 = (await f.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: older, comment: 'two weeks for a first strike' })).body.versionId;
    const v2 = (await f.api.request<{ versionId: number }>('PUT', '/api/v1/policy', { text: active, comment: 'back to thirty days' })).body.versionId;
    expect(v2).toBeGreaterThan(v1);

    const { page, errs } = await open(f.operatorToken, '/policy?tab=versions');
    const row = page.getByTestId('policy-versions').locator('tr', { hasText: `#${v1}` });
    await row.getByRole('button', { name: 'Show text' }).click();
    const detail = page.getByTestId('policy-version-text');
    await detail.waitFor();
    expect(await detail.textContent()).toContain('two weeks for a first strike');
    const diff = detail.getByTestId('version-diff');
    expect(await diff.locator('.diff-add').allTextContents()).toEqual([expect.stringContaining('suspend: 14d')]);
    expect(await diff.locator('.diff-del').allTextContents()).toEqual([expect.stringContaining('suspend: 30d')]);
    await detail.getByRole('tab', { name: /Text/ }).click();
    expect(await detail.getByTestId('version-text').textContent()).toBe(older);
    expect(errs).toEqual([]);
  }, 120_000);
});
