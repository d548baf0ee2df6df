import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { createBank } from '../../gateway/banks/manage.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { browserSkipReason, ensureConsoleBuilt, launchChromium, signIn, watchPageErrors } from '../console/fixture.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, waitFor, type StreamView } from '../helpers/gateway.ts';
import { openSse, type SseReader } from '../helpers/sse.ts';
import { renderKnownImage } from '../pipeline/setup.ts';

/**
 * A console open on node A sees by push what happens on node B (gateway/events/relay.ts): B's stream
 * starting and ending, the decision B's policy takes on it, its review, a viewer report B receives. Two
 * gateway processes on one PostgreSQL database; polling and the reconcile are turned down to once a
 * minute and once in ten, so only the notification can carry the events within the deadlines.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('consolepush');
if (pgUnavailable) console.warn(`skipping the cross-node console push test: no PostgreSQL (${pgUnavailable})`);
const browserSkip = pgUnavailable ? null : await browserSkipReason();
if (browserSkip) console.warn(`skipping the cross-node console push test in Chromium: ${browserSkip}`);

describe.skipIf(pgUnavailable !== null)("a console on node A is pushed node B's events", () => {
  let admin: Store;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let apiA: ApiClient;
  let apiB: ApiClient;
  let moderatorToken: string;
  let dir: string;
  let image: string;
  let sse: SseReader;
  const publishers: Publisher[] = [];
  const keys: Record<string, string> = {};
  const slow = { syncIntervalMs: 60_000, nodes: { reconcileIntervalMs: 600_000, heartbeatIntervalMs: 2_000, lostAfterMs: 10_000 } };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-cpush-'));
    const url = await freshPgUrl();
    admin = await openStore(url);
    for (const handle of ['dora', 'emil', 'finn']) {
      await addAccount(admin.db, { id: 'test' }, { handle, verified: true, subject: `idp:${handle}` });
      keys[handle] = (await issueKey(admin.db, { id: 'test' }, handle)).key;
    }
    image = await renderKnownImage(FFMPEG, path.join(dir, 'known.png'));
    const [h] = await hashFile(image);
    await createBank(admin.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
    const token = (await issueToken(admin.db, 'test', 'op', 'operator')).token;
    moderatorToken = (await issueToken(admin.db, 'test', 'mo', 'moderator')).token;
    [a, b] = await Promise.all([
      startGatewayProcess({ db: url, config: slow }),
      // B samples its streams (hash matching only: no ONNX model).
      startGatewayProcess({ db: url, config: { ...slow, sampling: { enabled: true } } }),
    ]);
    apiA = new ApiClient(a.httpUrl, token);
    apiB = new ApiClient(b.httpUrl, token);
    expect((await apiA.post('/api/v1/banks/tve/entries', { entries: [{ hash: h!.hash }] })).status).toBeLessThan(300);
    sse = await openSse(`${a.httpUrl}/api/v1/events`, moderatorToken);
    expect(sse.status).toBe(200);
  }, 240_000);

  afterAll(async () => {
    sse?.close();
    await Promise.allSettled(publishers.map((p) => p.stop()));
    await Promise.allSettled([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await admin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A publisher on B: a plain colour, or the banked picture from the first frame (`image`). */
  const publishOnB = (handle: string, o: { image?: boolean } = {}) => {
    const p = startPublisher({
      url: b.publishUrl(keys[handle]!),
      ffmpegPath: FFMPEG,
      width: 640,
      height: 360,
      rate: 15,
      durationSec: 120,
      pattern: { color: 'darkslateblue' },
      ...(o.image ? { image: { path: image, afterSec: 0 } } : {}),
    });
    publishers.push(p);
    return p;
  };
  const liveOn = async (api: ApiClient, handle: string) =>
    (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams?.find((s) => s.account === handle);
  // Generous: a decision waits for B to sample and hash frames on a loaded machine.
  const pushedOnA = (type: string, match: (data: Record<string, unknown>) => boolean, what: string) =>
    waitFor(() => sse.events.find((e) => e.event === type && e.json !== null && match(e.json)), 90_000, `${what} pushed on A`);

  it("B's stream starting, its decision, the review, a report and its end reach A's event stream", async () => {
    const plain = publishOnB('dora');
    const live = await waitFor(() => liveOn(apiB, 'dora'), 30_000, 'dora live on B');
    const started = await pushedOnA('stream.started', (d) => (d.stream as { id?: string } | undefined)?.id === live.id, "dora's stream.started");
    expect((started.json!.stream as { account: string }).account).toBe('dora');

    expect((await apiB.post('/api/v1/reports', { streamId: live.id, category: 'violence', note: 'seen on B' })).status).toBe(202);
    await pushedOnA('report.created', (d) => d.streamId === live.id, "the report on dora's stream");

    publishOnB('emil', { image: true });
    const created = await pushedOnA(
      'decision.created',
      (d) => (d.decision as { account?: { handle: string } } | undefined)?.account?.handle === 'emil',
      "the decision on emil's stream",
    );
    const decisionId = (created.json!.decision as { id: string }).id;
    await pushedOnA('stream.ended', (d) => d.account === 'emil' && d.decisionId === decisionId, "emil's cut");
    expect((await apiB.post(`/api/v1/decisions/${decisionId}/confirm`, { reason: 'confirmed on B', addToBank: false })).status).toBe(200);
    await pushedOnA('decision.reviewed', (d) => (d.decision as { id?: string } | undefined)?.id === decisionId, 'the review made on B');

    await plain.stop();
    await pushedOnA('stream.ended', (d) => d.streamId === live.id, "dora's stream.ended");
    // Each event once: A's own relay does not echo B's events back, and B's are not doubled.
    expect(sse.events.filter((e) => e.event === 'stream.started' && (e.json?.stream as { id?: string } | undefined)?.id === live.id)).toHaveLength(1);
    expect(sse.events.filter((e) => e.event === 'decision.created' && (e.json?.decision as { id?: string } | undefined)?.id === decisionId)).toHaveLength(1);
    expect(a.alive() && b.alive()).toBe(true);
  }, 240_000);

  it.skipIf(browserSkip !== null)(
    "the Live grid and the review queue on A follow B's streams and decisions in Chromium",
    async () => {
      await ensureConsoleBuilt();
      let browser: Browser | null = null;
      try {
        browser = await launchChromium();
        const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
        page.setDefaultTimeout(30_000);
        const errs = watchPageErrors(page);
        await signIn(page, a.httpUrl, moderatorToken);
        await page.goto(`${a.httpUrl}/live`);
        await page.locator('.push-note').waitFor({ state: 'detached' }); // push connected
        const requests: string[] = [];
        page.on('request', (r) => requests.push(new URL(r.url()).pathname));

        const p = publishOnB('finn');
        const card = page.locator('.stream-card', { hasText: '@finn' });
        await card.waitFor({ timeout: 60_000 });
        // By push: the grid did not read the list again.
        expect(requests.filter((r) => r === '/api/v1/streams')).toEqual([]);
        await p.stop();
        await card.waitFor({ state: 'detached', timeout: 60_000 });

        await page.goto(`${a.httpUrl}/reviews`);
        await page.locator('.push-note').waitFor({ state: 'detached' });
        publishOnB('finn', { image: true });
        const created = await pushedOnA(
          'decision.created',
          (d) => (d.decision as { account?: { handle: string } } | undefined)?.account?.handle === 'finn',
          "the decision on finn's stream",
        );
        const item = page.locator(`[data-decision="${(created.json!.decision as { id: string }).id}"]`);
        await item.waitFor({ timeout: 30_000 });
        await expect.poll(() => item.textContent(), { timeout: 30_000 }).toContain('@finn');
        expect(errs).toEqual([]);
      } finally {
        await browser?.close();
      }
    },
    300_000,
  );
});
