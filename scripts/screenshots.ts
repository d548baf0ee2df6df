/**
 * Screenshots of the console's main screens at 1280×800 and 390×844, from a real gateway with real
 * decisions (banked images shown on real ffmpeg RTMP streams), driven in Chromium.
 *
 *   npm run screenshots                 # → .artifacts/screenshots/*.png, and docs/images/ (the README's)
 *   npm run screenshots -- --no-docs    # artifacts only
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { promisify } from 'node:util';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startPublisher } from '../test/helpers/ffmpeg-publisher.ts';
import { REPO_ROOT, waitFor } from '../test/helpers/gateway.ts';
import { browserSkipReason, FAKE_MEDIA_ARGS, launchChromium, signIn, startConsoleFixture } from '../test/console/fixture.ts';

const OUT = path.join(REPO_ROOT, '.artifacts/screenshots');
const DOCS = path.join(REPO_ROOT, 'docs/images');
/** The README shows these (desktop unless noted). */
const README_SHOTS = [
  'dashboard',
  'live',
  'stream',
  'reviews',
  'accounts',
  'account',
  'bank-import',
  'reports',
  'transparency',
  'policy-errors',
  'backtest',
  'broadcast',
  'reviews@phone',
  'stream@phone',
];
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

const skip = await browserSkipReason();
if (skip) {
  console.error(`screenshots: ${skip}`);
  process.exit(1);
}

const f = await startConsoleFixture({ defaultModel: true });
const log = (m: string) => console.log(`screenshots: ${m}`);
try {
  log('seeding: accounts, decisions, an appeal, a bank import, a policy version');
  const keys: Record<string, string> = {};
  for (const h of ['nightowl', 'river', 'moth', 'finch', 'kestrel', 'juniper', 'wren']) keys[h] = await f.account(h);
  const decisions: Record<string, string> = {};
  for (const h of ['moth', 'finch', 'river', 'nightowl']) decisions[h] = (await f.violate(h, keys[h]!)).decisionId;
  await f.api.post(`/api/v1/decisions/${decisions.moth}/confirm`, { reason: 'Known footage of the attack, re-encoded', addToBank: false });
  await f.api.post(`/api/v1/decisions/${decisions.finch}/overturn`, { reason: 'News report with the footage blurred; allowed' });
  const token = (await f.api.post<{ accountToken: string }>('/api/v1/accounts/river/token')).body.accountToken;
  await f.api.withToken(token).post('/api/v1/me/appeals', {
    decisionId: decisions.river,
    statement:
      'I was streaming a documentary about the attack for my history class. The clip was shown for a few seconds with commentary; I did not glorify it.',
  });
  await f.api.post('/api/v1/banks', { name: 'gifct-tve', category: 'terrorist-violent-extremism', description: 'Hash-sharing list (GIFCT format)' });
  const hex = () => Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
  await f.api.post('/api/v1/banks/gifct-tve/entries', { entries: Array.from({ length: 240 }, () => ({ hash: hex(), source: 'gifct' })) });
  const active = (await f.api.get<{ text: string }>('/api/v1/policy')).body.text;
  await f.api.request('PUT', '/api/v1/policy', {
    text: active.replace('minScore: 0.6', 'minScore: 0.55'),
    comment: 'Queue more borderline violence for review',
  });
  // A second version back to the shipped threshold: the history then shows #1's text and its diff against the active one.
  await f.api.request('PUT', '/api/v1/policy', { text: active, comment: 'Back to 0.6: the backtest queued too many sports streams' });
  // Clean streams show moving content other than the banked picture (testsrc2): Conway's life, looped.
  const clip = path.join(f.dir, 'life.flv');
  await promisify(execFile)(f.ffmpeg.path, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'life=s=640x360:mold=10:r=30:ratio=0.1:death_color=#1b2838:life_color=#7fd1b9',
    '-t',
    '20',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '60',
    '-pix_fmt',
    'yuv420p',
    '-y',
    clip,
  ]);
  for (const h of ['kestrel', 'juniper'])
    f.publishers.push(
      startPublisher({ ffmpegPath: f.ffmpeg.path, url: `rtmp://127.0.0.1:${f.gw.rtmpPort}/live/${keys[h]}`, source: { file: clip, loop: true } }),
    );
  await waitFor(async () => (await f.api.get<{ streams: unknown[] }>('/api/v1/streams')).body.streams.length >= 2, 30_000, 'two live streams');
  // Viewers report the two clean streams (from distinct loopback addresses: distinct sources).
  const live = (await f.api.get<{ streams: Array<{ id: string; account: string }> }>('/api/v1/streams')).body.streams;
  const reported: Array<[string, string, string, string?]> = [
    ['kestrel', '127.0.0.2', 'imminent_harm', 'Someone is standing on a ledge and the chat is egging him on'],
    ['kestrel', '127.0.0.3', 'self_harm'],
    ['kestrel', '127.0.0.4', 'imminent_harm'],
    ['juniper', '127.0.0.5', 'hate', 'Slurs at 12:40'],
  ];
  for (const [h, from, category, note] of reported) {
    const streamId = live.find((s) => s.account === h)!.id;
    await postFrom(f.base, from, '/api/v1/reports', { streamId, category, ...(note ? { note } : {}) });
  }
  const all = (await f.api.get<{ decisions: Array<{ id: string; streamId: string; ruleId: string; decidedAt: string }> }>('/api/v1/decisions')).body.decisions;
  log(`decisions: ${all.map((d) => `${d.ruleId}@${d.streamId}@${d.decidedAt}`).join(', ')}`);
  const hashFile = path.join(f.dir, 'list.csv');
  writeFileSync(
    hashFile,
    [
      'hash,category,note',
      ...Array.from({ length: 12 }, (_, i) => `${hex()},terrorist-violent-extremism,item ${i + 1}`),
      'not-a-hash,terrorist-violent-extremism,broken row',
      `${hex().slice(0, 60)},terrorist-violent-extremism,short hash`,
      `${hex()},terrorist-violent-extremism,ok`,
    ].join('\n'),
  );

  mkdirSync(OUT, { recursive: true });
  const browser = await launchChromium(FAKE_MEDIA_ARGS);
  for (const [size, viewport] of Object.entries(SIZES)) {
    const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await ctx.newPage();
    const shot = async (name: string) => {
      // Not 'networkidle': the console keeps its push stream (and a stream page its live video) open.
      await page.waitForLoadState('load');
      await until(page, '[...document.images].every((i) => i.complete)', 'the images to load');
      await page.evaluate('document.fonts.ready');
      const file = path.join(OUT, `${name}@${size}.png`);
      await page.screenshot({ path: file });
      log(`wrote ${path.relative(REPO_ROOT, file)}`);
    };
    await page.goto(`${f.base}/sign-in`);
    await shot('sign-in');
    await signIn(page, f.base, f.operatorToken);
    await page.getByTestId('dashboard-stats').waitFor();
    await shot('dashboard');
    await page.goto(`${f.base}/live`);
    await page.getByTestId('live-grid').waitFor();
    await shot('live');
    await page.locator('.stream-card').first().click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await page.getByTestId('stream-timeline').waitFor();
    await waitForPlaying(page);
    await shot('stream');
    await page.goto(`${f.base}/streams/${all.find((d) => d.id === decisions.nightowl)!.streamId}`);
    await page.getByTestId('signal-table').waitFor();
    await shot('stream-ended');
    await page.goto(`${f.base}/reviews/${decisions.nightowl}`);
    await page.getByTestId('bank-match').first().waitFor();
    await waitForImages(page);
    await shot('reviews');
    await page.goto(`${f.base}/appeals`);
    if (size === 'phone') await page.locator('.queue-item').first().click();
    await page.getByTestId('appeal-detail').waitFor();
    await waitForImages(page);
    await shot('appeals');
    await page.goto(`${f.base}/accounts?q=${size === 'phone' ? 'n' : ''}`);
    await page.getByTestId('account-results').waitFor();
    await shot('accounts');
    await page.goto(`${f.base}/accounts/nightowl`);
    await page.getByTestId('active-suspension').waitFor();
    await shot('account');
    await page.goto(`${f.base}/banks`);
    await page.getByTestId('banks-table').waitFor();
    await shot('banks');
    await page.goto(`${f.base}/banks/gifct-tve`);
    await page.getByTestId('entries-table').waitFor();
    await page.getByTestId('import-file').setInputFiles(hashFile);
    await page.getByTestId('import-report').waitFor();
    await page.getByRole('button', { name: /^Import \d+ entr/ }).click();
    await page.getByTestId('import-result').waitFor();
    await shot('bank-import');
    await page.goto(`${f.base}/policy`);
    const editor = page.getByLabel('Policy text (YAML or JSON)');
    await editor.waitFor();
    const text = await editor.inputValue();
    await editor.fill(text.replace('minScore: 0.9', 'minScore: 9').replace('suspend: 30d', 'suspend: 7d'));
    await page.getByTestId('policy-errors').waitFor();
    await page.locator('[data-error-line]').first().click();
    await shot('policy-errors');
    await editor.fill(text.replace('suspend: 30d', 'suspend: 7d'));
    await page.getByRole('tab', { name: /Changes/ }).click();
    await page.getByTestId('policy-diff').waitFor();
    await shot('policy-diff');
    await page.getByRole('tab', { name: /Backtest/ }).click();
    await page.getByRole('button', { name: 'Run backtest' }).click();
    await page.getByTestId('backtest-rules').waitFor();
    await page.getByTestId('backtest-rules').scrollIntoViewIfNeeded();
    await shot('backtest');
    await page.getByRole('tab', { name: /Versions/ }).click();
    await page.getByTestId('policy-versions').waitFor();
    await shot('policy-versions');
    await page.locator('[data-testid="policy-versions"] tr', { hasText: '#1' }).getByRole('button', { name: 'Show text' }).click();
    await page.getByTestId('version-diff').waitFor();
    await page.getByTestId('policy-version-text').scrollIntoViewIfNeeded();
    await shot('policy-version');
    await page.goto(`${f.base}/reports`);
    await page.getByTestId('reports-queue').waitFor();
    await until(page, "[...document.querySelectorAll('[data-report-stream] img')].length >= 2", "two reported streams' frames");
    await shot('reports');
    await page.goto(`${f.base}/transparency`);
    await page.getByTestId('transparency-report').waitFor();
    await shot('transparency');
    await page.goto(`${f.base}/audit`);
    await page.getByTestId('audit-table').waitFor();
    await shot('audit');
    const bc = await ctx.newPage();
    await bc.goto(`${f.base}/broadcast`);
    await bc.getByRole('button', { name: 'Turn on camera and microphone' }).click();
    await bc.getByLabel('Stream key').fill(keys.wren!);
    await until(bc, "document.querySelector('video')?.readyState >= 3", 'the camera preview');
    await bc.evaluate('document.fonts.ready');
    const file = path.join(OUT, `broadcast@${size}.png`);
    await bc.screenshot({ path: file });
    log(`wrote ${path.relative(REPO_ROOT, file)}`);
    await ctx.close();
  }
  await browser.close();
  if (!process.argv.includes('--no-docs')) {
    mkdirSync(DOCS, { recursive: true });
    for (const s of README_SHOTS) {
      const [name, size = 'desktop'] = s.split('@');
      await smallPng(f.ffmpeg.path, path.join(OUT, `${name}@${size}.png`), path.join(DOCS, `console-${name}${size === 'phone' ? '-phone' : ''}.png`));
    }
    log(`copied ${README_SHOTS.length} images to docs/images/`);
  }
} finally {
  await f.stop();
}

/** The README's copy in 128 colours (ffmpeg palettegen, no dither): a third of the size, the UI unchanged to the eye. */
async function smallPng(ffmpeg: string, from: string, to: string): Promise<void> {
  await promisify(execFile)(ffmpeg, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-i',
    from,
    '-vf',
    'split[a][b];[a]palettegen=max_colors=128:stats_mode=full[p];[b][p]paletteuse=dither=none',
    '-y',
    to,
  ]);
}

/** POSTs JSON from a given local address (a viewer's report: each 127.0.0.x is a distinct source). */
function postFrom(base: string, localAddress: string, urlPath: string, body: unknown): Promise<number> {
  const url = new URL(urlPath, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * Polls `expr` (a string: this script is compiled without the DOM library) until it is true. Not
 * waitForFunction: the console's CSP (script-src 'self', no 'unsafe-eval') refuses the page-side eval it
 * polls with, where evaluate goes through the DevTools protocol.
 */
async function until(page: Page, expr: string, what: string): Promise<void> {
  await waitFor(async () => ((await page.evaluate(expr)) === true ? true : null), 60_000, what);
}

/** The stream page's player past its first second of pictures: the README's copy showed its spinner. */
function waitForPlaying(page: Page): Promise<void> {
  return until(
    page,
    "(() => { const v = document.querySelector('video'); return v !== null && v.readyState >= 3 && v.currentTime > 1; })()",
    "the stream page's player to play",
  );
}

function waitForImages(page: Page): Promise<void> {
  return until(
    page,
    "document.querySelectorAll('img.evidence').length > 0 && [...document.querySelectorAll('img.evidence')].every((i) => i.complete && i.naturalWidth > 0) && document.querySelectorAll('.evidence-loading').length === 0",
    'the evidence frames',
  );
}
