import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';
import { browserSkipReason, FAKE_MEDIA_ARGS, launchChromium } from './fixture.ts';

const skip = await browserSkipReason();
if (skip) console.warn(`skipping the README browser snippet test: ${skip}`);

/** The README's "minimal browser publisher", as printed (the only edits a reader makes: host and key). */
export function readmeSnippet(): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('A minimal browser publisher:');
  if (at < 0) throw new Error("README.md has no 'A minimal browser publisher:' section");
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error('no js block after "A minimal browser publisher:"');
  return block[1]!;
}

describe.skipIf(skip !== null)("the README's browser publisher in Chromium", () => {
  let t: TestGateway;
  let browser: Browser;
  beforeAll(async () => {
    [t, browser] = await Promise.all([startTestGateway(), launchChromium(FAKE_MEDIA_ARGS)]);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it("pasted verbatim into a page (with the reader's host and key), goes live with the fake camera and stays live", async () => {
    const snippet = readmeSnippet();
    expect(snippet).toContain("'ws://localhost:8080/ingest'");
    expect(snippet).toContain("streamKey: 'sk_…'");
    const a = await t.account('readme-reader');
    const code = snippet.replace('ws://localhost:8080/ingest', t.wsUrl).replace("'sk_…'", `'${a.streamKey}'`);

    const context = await browser.newContext();
    const page = await context.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    // A page of the gateway's own origin (a secure context on 127.0.0.1, so getUserMedia is allowed);
    // the snippet runs as a module script, as pasted into a <script type="module"> (top-level await).
    await page.goto(`${t.httpUrl}/healthz`);
    await page.setContent('<!doctype html><title>publisher</title>');
    await page.addScriptTag({ type: 'module', content: code });

    const live = await t.waitForStream('readme-reader', 60_000);
    expect(live.protocol).toBe('websocket');
    const stream = t.gw.registry.get(live.id)!;
    const received: Buffer[] = [];
    stream.media!.subscribe((chunk) => received.push(chunk));
    await waitFor(() => received.length >= 8, 60_000, 'media chunks from Chromium');
    expect(stream.media!.header!.readUInt32BE(0)).toBe(0x1a45dfa3);
    expect(logs.filter((l) => /closed|pageerror/.test(l))).toEqual([]);

    // A cut reaches the snippet's handlers: the 'ended' message, then the close code.
    await t.api.post(`/api/v1/streams/${live.id}/cut`, { reason: 'test cut' });
    await waitFor(() => logs.find((l) => l.startsWith('closed')), 30_000, 'the snippet logging the close');
    expect(logs.find((l) => l.startsWith('closed'))).toMatch(/^closed 4008/);
    expect(logs.some((l) => l.startsWith('ended:'))).toBe(true);
    await context.close();
  }, 180_000);

  it("Chromium's split header (a 1-byte first chunk at a short timeslice), sent chunk by chunk as recorded, goes live", async () => {
    const a = await t.account('tiny-first-chunk');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.httpUrl}/healthz`);
    await page.setContent('<!doctype html><title>publisher</title>');
    // Browser code as text (the tests' tsconfig has no DOM types); each recorded chunk is sent as is.
    const code = `
      window.sizes = [];
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      const ws = new WebSocket(${JSON.stringify(t.wsUrl)});
      ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', streamKey: ${JSON.stringify(a.streamKey)}, container: 'webm' }));
      ws.onmessage = (m) => {
        if (JSON.parse(m.data).type !== 'accepted') return;
        const rec = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,opus' });
        rec.ondataavailable = (e) => { if (e.data.size) { window.sizes.push(e.data.size); ws.send(e.data); } };
        rec.start(10);
      };`;
    await page.addScriptTag({ type: 'module', content: code });
    const live = await t.waitForStream('tiny-first-chunk', 60_000);
    const stream = t.gw.registry.get(live.id)!;
    await waitFor(() => stream.media!.header, 60_000, 'the joined header');
    const sizes = (await page.evaluate('window.sizes')) as number[];
    // What this test is about: Chromium really split the EBML header (observed: 1 byte, `1a`, at 10 ms).
    expect(sizes[0]).toBeLessThan(4);
    expect(stream.media!.header!.length).toBeGreaterThan(sizes[0]!);
    expect(stream.media!.header!.readUInt32BE(0)).toBe(0x1a45dfa3);
    expect(t.gw.registry.get(live.id)).toBeDefined();
    await context.close();
  }, 180_000);
});
