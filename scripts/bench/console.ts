/**
 * The console's numbers (issue 10): first load (cold, localhost), push latency decision → review queue,
 * the Live grid's main-thread time with 100 live streams pushing a frame a second each, and a viewer's
 * report → its stream in an open reports queue (issue 14's real-time queue).
 *
 * Real gateway (SQLite, no sampling), real Chromium (playwright-core). Streams in the grid are registered
 * in the gateway's registry with a synthetic 512×288 frame each (no publishers: 100 ffmpeg processes
 * would measure ffmpeg, not the page); frames are pushed exactly as the sampler's feed pushes them.
 * Decisions are written as the policy runner writes them and announced on its `decision` event.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { createLogger } from '../../gateway/log.ts';
import { newId } from '../../gateway/security/secrets.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import type { DecisionRow } from '../../gateway/store/schema.ts';
import type { BenchResult } from './types.ts';

const CHROMIUM = process.env.MODGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.shell').waitFor();
}

export async function run(o: { quick: boolean }): Promise<BenchResult[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'modgate-bench-console-'));
  const config = ConfigSchema.parse({
    dataDir: dir,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    demo: false,
    sampling: { enabled: false },
    classifiers: { models: [] },
  });
  const gw = await startGateway(config, { log: createLogger('silent') });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const base = `http://127.0.0.1:${gw.httpPort}`;
    const token = (await issueToken(gw.store.db, 'bench', 'bench-mo', 'moderator')).token;
    return [
      ...(await firstLoad(browser, base, o.quick ? 5 : 15)),
      ...(await reportLatency(browser, gw, base, token, o.quick ? 20 : 60)),
      ...(await pushLatency(browser, gw, base, token, o.quick ? 20 : 60)),
      ...(await liveGrid(browser, gw, base, token, o.quick ? 5 : 10)),
    ];
  } finally {
    await browser.close();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Cold load (a fresh browser context each time: no cache) of the console's sign-in page until its form shows, vs a bare JSON page of the same server. */
async function firstLoad(browser: Browser, base: string, n: number): Promise<BenchResult[]> {
  const consoleMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const [url, out, ready] of [
      [`${base}/sign-in`, consoleMs, 'console'],
      [`${base}/healthz`, bareMs, 'bare'],
    ] as const) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(url, { waitUntil: 'load' });
      if (ready === 'console') await page.getByLabel('Admin token').waitFor();
      out.push(Date.now() - t0);
      await ctx.close();
    }
  }
  return [
    {
      name: 'console first load, cold (sign-in form visible), median',
      unit: 'ms',
      value: median(consoleMs),
      baseline: { name: 'GET /healthz in a fresh context', value: median(bareMs) },
      note: `target < 1000 ms; max ${Math.max(...consoleMs)} ms over ${n}`,
    },
  ];
}

/** A decision recorded and announced as the policy runner does → the item in an open review queue. */
async function pushLatency(browser: Browser, gw: Gateway, base: string, token: string, n: number): Promise<BenchResult[]> {
  await addAccount(gw.store.db, { id: 'bench' }, { handle: 'bench-queue', verified: true, subject: null });
  const acc = await gw.store.db.selectFrom('accounts').select('id').where('handle', '=', 'bench-queue').executeTakeFirstOrThrow();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await signIn(page, base, token);
  await page.goto(`${base}/reviews`);
  await page.locator('.push-note').waitFor({ state: 'detached', timeout: 30_000 });
  // The page notes when each decision's item appears (MutationObserver, page clock = this machine's clock).
  await page.evaluate(`(() => {
    window.seen = {};
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-decision]')) {
        const id = el.getAttribute('data-decision');
        if (!(id in window.seen)) window.seen[id] = Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true });
  })()`);
  const latencies: number[] = [];
  const busLatencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    const row: DecisionRow = {
      id: newId('dec', now),
      stream_id: newId('str', now),
      account_id: acc.id,
      identity_subject: null,
      rule_id: 'bench-rule',
      policy_version: 'bench@1',
      shadow: 0,
      actions: JSON.stringify({ cut: true, review: { priority: 'normal' } }),
      reason: 'bench',
      evidence: JSON.stringify({ refs: [] }),
      decided_at: now,
      decided_by: 'policy:bench-rule',
      review_status: 'pending',
      review_priority: 'normal',
      reviewed_by: null,
      reviewed_at: null,
      review_reason: null,
    };
    let busAt = 0;
    const off = gw.events.subscribe((e) => {
      if (e.type === 'decision.created' && (e.data.decision as { id: string }).id === row.id) busAt = Date.now();
    });
    const t0 = Date.now();
    await gw.store.db.insertInto('decisions').values(row).execute();
    gw.runner.emit('decision', { row, strike: null, suspension: null }, { ruleId: 'bench-rule', shadow: false } as never);
    const deadline = Date.now() + 10_000;
    let at: number | null = null;
    while (Date.now() < deadline) {
      at = (await page.evaluate(`window.seen[${JSON.stringify(row.id)}] ?? null`)) as number | null;
      if (at !== null) break;
      await sleep(5);
    }
    off();
    if (at === null) throw new Error(`decision ${row.id} never appeared in the queue`);
    latencies.push(at - t0);
    busLatencies.push(busAt - t0);
    await sleep(100);
  }
  return [
    {
      name: 'push latency decision → review queue item, p95',
      unit: 'ms',
      value: pct(latencies, 95),
      baseline: { name: 'decision → event on the bus (row re-read, handle joined)', value: pct(busLatencies, 95) },
      note: `target ≤ 500 ms; median ${median(latencies)} ms, n=${n}`,
    },
  ];
}

/** Main-thread busy time per second of an open Live grid while every stream pushes one frame a second. */
async function liveGrid(browser: Browser, gw: Gateway, base: string, token: string, seconds: number): Promise<BenchResult[]> {
  const frame = { width: 512, height: 288, rgb: Buffer.alloc(512 * 288 * 3) };
  for (let i = 0; i < frame.rgb.length; i++) frame.rgb[i] = (i * 7) & 0xff;
  const measure = async (count: number): Promise<number> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = newId('str');
      ids.push(id);
      gw.registry.start({
        id,
        accountId: `acc_bench${i}`,
        handle: `bench${i}`,
        subject: null,
        keyId: null,
        protocol: 'rtmp',
        remoteAddr: null,
        startedAt: Date.now(),
        playPath: `/live/${id}`,
        media: null,
        connection: { terminate: () => {} },
      });
    }
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn(page, base, token);
    await page.goto(`${base}/live`);
    if (count)
      await page
        .locator('.stream-card')
        .nth(count - 1)
        .waitFor({ timeout: 30_000 });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    let seq = 0;
    const pushAll = () => {
      seq++;
      for (const id of ids) {
        gw.latestFrames.record({ streamId: id, seq, mediaTimeMs: seq * 1000, receivedAt: Date.now(), ...frame }, []);
        gw.events.publish('stream.frame', {
          at: new Date().toISOString(),
          streamId: id,
          seq,
          samplingMode: 'adaptive-keyframe',
          scores: { nsfw: { unsafe: Math.random() } },
          nearestBankDistance: null,
        });
      }
    };
    pushAll();
    await sleep(2000);
    const metric = async () =>
      Object.fromEntries(
        ((await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [m.name, m.value]),
      );
    const before = await metric();
    const t0 = Date.now();
    for (let s = 0; s < seconds; s++) {
      pushAll();
      await sleep(1000);
    }
    const after = await metric();
    const wall = (Date.now() - t0) / 1000;
    await page.context().close();
    for (const id of ids) gw.registry.ended(id, 'publisher_disconnected');
    return ((after.TaskDuration! - before.TaskDuration!) * 1000) / wall;
  };
  const idle = await measure(10);
  const full = await measure(100);
  return [
    {
      name: 'Live grid main-thread time, 100 streams each pushing a frame/s (frame JPEG fetched per card)',
      unit: 'ms per s',
      value: full,
      baseline: { name: 'same with 10 streams', value: idle },
      note: `${seconds} s window; CDP Performance TaskDuration`,
    },
  ];
}

/** A viewer's report (the service POST /api/v1/reports calls) → the reported stream's card in an open reports queue. */
async function reportLatency(browser: Browser, gw: Gateway, base: string, token: string, n: number): Promise<BenchResult[]> {
  // One account per stream: an account is live once at a time.
  const ids = Array.from({ length: n }, () => newId('str'));
  for (const [i, id] of ids.entries()) {
    const acc = await addAccount(gw.store.db, { id: 'bench' }, { handle: `bench-reported${i}`, verified: true, subject: null });
    gw.registry.start({
      id,
      accountId: acc.id,
      handle: `bench-reported${i}`,
      subject: null,
      keyId: null,
      protocol: 'rtmp',
      remoteAddr: null,
      startedAt: Date.now(),
      playPath: `/live/${id}`,
      media: null,
      connection: { terminate: () => {} },
    });
  }
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await signIn(page, base, token);
  await page.goto(`${base}/reports`);
  await page.getByText('No open viewer reports').waitFor({ timeout: 30_000 });
  await page.evaluate(`(() => {
    window.seen = {};
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-report-stream]')) {
        const id = el.getAttribute('data-report-stream');
        if (!(id in window.seen)) window.seen[id] = Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true });
  })()`);
  const latencies: number[] = [];
  const busLatencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const streamId = ids[i]!;
    let busAt = 0;
    const off = gw.events.subscribe((e) => {
      if (e.type === 'report.created' && e.data.streamId === streamId) busAt = Date.now();
    });
    const t0 = Date.now();
    await gw.accountability.reports.submit({ streamId, category: 'imminent_harm', source: `198.51.100.${i + 1}` });
    const deadline = Date.now() + 10_000;
    let at: number | null = null;
    while (Date.now() < deadline) {
      at = (await page.evaluate(`window.seen[${JSON.stringify(streamId)}] ?? null`)) as number | null;
      if (at !== null) break;
      await sleep(5);
    }
    off();
    if (at === null) throw new Error(`the report on ${streamId} never appeared in the queue`);
    latencies.push(at - t0);
    busLatencies.push(busAt - t0);
    await sleep(100);
  }
  await page.context().close();
  for (const id of ids) gw.registry.ended(id, 'publisher_disconnected');
  return [
    {
      name: 'push latency viewer report → reports queue card, p95',
      unit: 'ms',
      value: pct(latencies, 95),
      baseline: { name: 'report → event on the bus (stored, counted)', value: pct(busLatencies, 95) },
      note: `median ${median(latencies)} ms, n=${n}; the queue re-reads GET /api/v1/reports on the event`,
    },
  ];
}
