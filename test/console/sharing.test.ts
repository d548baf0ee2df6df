import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/gateway.ts';
import { browserSkipReason, launchChromium, signIn, startConsoleFixture, watchPageErrors, type ConsoleFixture } from './fixture.ts';

/**
 * The hash-sharing and crisis screens (issue 13 "console when it exists") in Chromium against a real
 * gateway: an exchange fed from a real hash-list file, a real partner's deconfirmation through
 * POST /api/v1/exchange/opinions, and an incident declared and ended from the console.
 */

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the console's exchange/quarantine/incident browser tests: ${skip}`);

const hex = (seed: number) => Array.from({ length: 64 }, (_, i) => '0123456789abcdef'[(seed * 7 + i * 13 + ((seed * i) % 5)) % 16]).join('');

interface ExchangeRow {
  name: string;
  enabled: boolean;
  upserts: number;
  quarantined: number;
  checkpoint: string | null;
}

describe.skipIf(skip !== null)('exchanges, quarantined entries, opinions and incidents in Chromium against a real gateway', () => {
  let f: ConsoleFixture;
  let browser: Browser;
  beforeAll(async () => {
    [f, browser] = await Promise.all([startConsoleFixture(), launchChromium()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await f?.stop();
  });

  const open = async (token: string, to: string): Promise<{ page: Page; errs: string[] }> => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(30_000);
    const errs = watchPageErrors(page);
    await signIn(page, f.base, token);
    await page.goto(`${f.base}${to}`);
    return { page, errs };
  };
  const exchange = async (name: string) => (await f.api.get<{ exchanges: ExchangeRow[] }>('/api/v1/exchanges')).body.exchanges.find((x) => x.name === name);

  it('an operator adds a hash-list exchange, fetches it and reads its status and what it set aside; a moderator deconfirms a shared entry and finds the opinion', async () => {
    const list = path.join(f.dir, 'shared-list.txt');
    // python-threatexchange's local file format; the third line is malformed and must be set aside, not applied.
    writeFileSync(list, `pdq ${hex(1)}\npdq ${hex(2)}\npdq not-a-hash\n`);

    const { page, errs } = await open(f.operatorToken, '/exchanges');
    await page.getByText('No exchanges.').waitFor();
    await page.getByRole('button', { name: 'Add exchange' }).click();
    const form = page.getByTestId('add-exchange');
    await form.getByLabel('Name', { exact: true }).fill('shared-list');
    await form.getByLabel('Kind').selectOption('hashlist');
    await form.getByLabel('URL or file path of the list').fill(list);
    await form.getByLabel('Seconds between fetches').fill('3600');
    await form.getByRole('button', { name: 'Add exchange' }).click();
    const row = page.locator('[data-exchange="shared-list"]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Fetch now' }).click();
    // The two hashes are in its bank, the bad line was set aside, and the checkpoint moved past the page.
    await expect.poll(() => row.getByTestId('exchange-upserts').textContent(), { timeout: 60_000 }).toBe('2');
    const stored = (await exchange('shared-list'))!;
    expect(stored.upserts).toBe(2);
    expect(stored.quarantined).toBe(1);
    expect(stored.checkpoint).not.toBeNull();
    expect(await row.textContent()).toContain(stored.checkpoint!.slice(0, 24));
    expect(await row.getByTestId('exchange-state').textContent()).toBe('fetching');
    await row.getByRole('button', { name: '1', exact: true }).click();
    await expect.poll(() => page.getByTestId('exchange-set-aside').textContent()).toContain('not-a-hash');

    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.getByTestId('exchange-state').textContent()).toBe('disabled');
    expect((await exchange('shared-list'))!.enabled).toBe(false);
    expect(errs).toEqual([]);

    // A moderator reads the same status, without the operator's actions.
    const mod = await open(f.moderatorToken, '/exchanges');
    const modRow = mod.page.locator('[data-exchange="shared-list"]');
    await modRow.waitFor();
    expect(await modRow.getByRole('button', { name: 'Fetch now' }).count()).toBe(0);
    expect(await mod.page.getByRole('button', { name: 'Add exchange' }).count()).toBe(0);

    // The bank it feeds says where its entries come from; a moderator deconfirms one (a partner's false positive).
    await modRow.getByRole('link', { name: 'exchange-shared-list' }).click();
    await mod.page.getByTestId('bank-feeder').waitFor();
    expect(await mod.page.getByTestId('bank-feeder').textContent()).toContain('shared-list');
    expect(await mod.page.getByText('positive bank').count()).toBeGreaterThan(0);
    const entryRow = mod.page.locator('[data-testid="entries-table"] tbody tr', { hasText: hex(1).slice(0, 16) });
    await entryRow.getByRole('button', { name: 'Deconfirm…' }).click();
    const dialog = mod.page.getByRole('dialog', { name: 'Deconfirm the shared signal' });
    await dialog.getByRole('textbox').fill('A news logo, not the attack footage');
    await dialog.getByRole('button', { name: 'Deconfirm' }).click();
    await expect.poll(() => entryRow.getByTestId('entry-state').textContent(), { timeout: 30_000 }).toContain('deconfirmed');
    expect(await entryRow.getByTestId('entry-state').textContent()).toContain('disabled');
    const entries = (
      await f.api.get<{ entries: Array<{ hash: string; enabled: boolean; opinion: string | null }> }>('/api/v1/banks/exchange-shared-list/entries')
    ).body.entries;
    expect(entries.find((e) => e.hash === hex(1))).toMatchObject({ enabled: false, opinion: 'deconfirmed' });

    await mod.page.goto(`${f.base}/opinions?mine=true`);
    const opinion = mod.page.locator('[data-testid="opinions-table"] tbody tr', { hasText: hex(1).slice(0, 16) });
    await opinion.waitFor();
    expect(await opinion.textContent()).toContain('deconfirmed (false positive)');
    expect(await opinion.textContent()).toContain('A news logo, not the attack footage');
    // A hash list takes no opinions back (python-threatexchange: report_opinion not implemented for files).
    expect(await opinion.getByTestId('opinion-reported').textContent()).toBe('kept here (shared-list takes no opinions)');
    expect(mod.errs).toEqual([]);
  }, 240_000);

  it("a partner's deconfirmation quarantines an entry: the queue says why and the nav counts it; a moderator clears it and the entry acts again", async () => {
    const partner = await f.api.post<{ token: string }>('/api/v1/exchange/partners', { name: 'platform-b', banks: ['tve'] });
    expect(partner.status).toBe(201);
    const told = await fetch(`${f.base}/api/v1/exchange/opinions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${partner.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ signal_type: 'pdq', hash: f.bankedHash, category: 'negative_class', tags: ['false-positive'] }),
    });
    expect(told.status).toBe(200);
    expect(((await told.json()) as { quarantined: number }).quarantined).toBe(1);

    const { page, errs } = await open(f.moderatorToken, '/quarantines');
    const row = page.locator('[data-testid="quarantines-table"] tbody tr').first();
    await row.waitFor();
    expect(await row.textContent()).toContain('A partner deconfirmed it (platform-b)');
    expect(await row.textContent()).toContain('tve');
    await expect.poll(() => page.locator('.nav-count[data-count="quarantines"]').textContent()).toBe('1');

    // The bank page shows the hold on the bank and on the entry.
    await page.goto(`${f.base}/banks/tve`);
    await expect.poll(() => page.getByTestId('bank-held').textContent()).toBe('1 entry quarantined');
    const entry = page.locator('[data-testid="entries-table"] tbody tr', { hasText: f.bankedHash.slice(0, 16) });
    expect(await entry.getByTestId('entry-state').textContent()).toContain('quarantined');
    await page.getByTestId('bank-held').click();
    await page.waitForURL(/\/quarantines\?bank=tve/);

    await row.getByRole('button', { name: 'Clear…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Clear the quarantine' });
    await dialog.getByRole('textbox').fill('Checked the footage: it is the attack video');
    await dialog.getByRole('button', { name: 'Clear' }).click();
    await page.getByText('Nothing is quarantined.').waitFor();
    await page.locator('.nav-count[data-count="quarantines"]').waitFor({ state: 'detached' });
    const cleared = (
      await f.api.get<{ quarantines: Array<{ status: string; handledBy: string; handleReason: string }> }>('/api/v1/entry-quarantines?status=all')
    ).body.quarantines;
    expect(cleared).toEqual([
      expect.objectContaining({ status: 'cleared', handledBy: 'token:mo', handleReason: 'Checked the footage: it is the attack video' }),
    ]);
    const after = (await f.api.get<{ entries: Array<{ hash: string; quarantined: boolean; enabled: boolean }> }>('/api/v1/banks/tve/entries')).body.entries;
    expect(after.find((e) => e.hash === f.bankedHash)).toMatchObject({ quarantined: false, enabled: true });
    await page.goto(`${f.base}/quarantines?status=cleared`);
    await expect.poll(() => page.getByTestId('quarantines-table').textContent()).toContain('Checked the footage');
    expect(errs).toEqual([]);
  }, 180_000);

  it('an operator declares an incident from the console and every screen shows it; a moderator reads its counts and timeline but cannot end it; the operator ends it', async () => {
    const mod = await open(f.moderatorToken, '/incidents');
    await mod.page.getByText('No incident was ever declared.').waitFor();
    expect(await mod.page.getByTestId('declare-incident').count()).toBe(0);

    const { page, errs } = await open(f.operatorToken, '/incidents');
    const form = page.getByTestId('declare-incident');
    await form.getByLabel('Name', { exact: true }).fill('Attack livestream');
    await form.getByLabel('Description').fill('Footage of an attack is being re-streamed; GIFCT CIP activated');
    await form.getByRole('checkbox', { name: /^tve / }).check();
    await form.getByRole('button', { name: 'Declare incident' }).click();
    await page.waitForURL(/\/incidents\/inc_/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await page.getByRole('heading', { name: 'Attack livestream' }).waitFor();
    await page.getByTestId('incident-counts').waitFor();
    await page.locator('[data-testid="incident-timeline"] li[data-kind="declared"]').waitFor();
    await page.getByTestId('incident-banner').waitFor();
    const stored = await waitFor(
      async () =>
        (await f.api.get<{ incidents: Array<{ id: string; status: string; banks: string[] }> }>('/api/v1/incidents')).body.incidents.find((i) => i.id === id),
      30_000,
      'the declared incident',
    );
    expect(stored).toMatchObject({ status: 'active', banks: ['tve'] });

    // Any screen of a moderator's console carries the banner; the incident page has no End button for them.
    await mod.page.goto(`${f.base}/live`);
    await expect.poll(() => mod.page.getByTestId('incident-banner').textContent()).toContain('Attack livestream');
    await mod.page.getByTestId('incident-banner').getByRole('link', { name: 'Attack livestream' }).click();
    await mod.page.getByTestId('incident-counts').waitFor();
    expect(await mod.page.getByRole('button', { name: 'End incident…' }).count()).toBe(0);

    await page.getByRole('button', { name: 'End incident…' }).click();
    const dialog = page.getByRole('dialog', { name: 'End “Attack livestream”' });
    await dialog.getByRole('textbox').fill('Re-uploads stopped; CIP concluded');
    await dialog.getByRole('button', { name: 'End incident' }).click();
    await page.locator('[data-testid="incident-timeline"] li[data-kind="ended"]').waitFor();
    await page.getByTestId('incident-banner').waitFor({ state: 'detached' });
    const ended = (await f.api.get<{ incident: { status: string; endReason: string } }>(`/api/v1/incidents/${id}`)).body.incident;
    expect(ended).toMatchObject({ status: 'ended', endReason: 'Re-uploads stopped; CIP concluded' });
    expect(errs).toEqual([]);
    expect(mod.errs).toEqual([]);
  }, 180_000);
});
