import path from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode } from '../../gateway/ingest/ws-protocol.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { FFMPEG, readFrames, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectCmd, rawRtmp } from '../helpers/rtmp-client.ts';
import { waitFor } from '../helpers/wait.ts';
import { webmFixture, wsPublish } from '../helpers/ws-publisher.ts';

/**
 * Abuse limits of the ingests (config `abuse`): every WebSocket ingest connection and every RTMP
 * connection spends a token of its source address's bucket, an accepted publish or play gives it back.
 * A flood of refused attempts is refused `rate_limited` and then dropped unanswered, and is audited as a
 * few rows per source, reason and window (gateway/security/refusal-audit.ts). The limits' clock is the
 * test's: it is advanced past the window instead of waiting for it.
 */

const WINDOW_MS = 60_000;
/** Past the audit window, and 1.5 tokens' worth of refill at 0.001 per second. */
const LATER_MS = 1_500_000;
let offset = 0;
const now = () => Date.now() + offset;
let t: TestGateway;
let webm: string;

beforeAll(async () => {
  [t, webm] = await Promise.all([
    startTestGateway({
      now,
      // Refill slow enough that the wall clock of a loaded run adds no token (one per 1,000 s): only the test's clock does.
      extra: {
        abuse: { wsAuth: { burst: 10, perSecond: 0.001 }, rtmpConnect: { burst: 20, perSecond: 0.001 }, auditWindowMs: WINDOW_MS, maxRefusalsPerWindow: 50 },
      },
    }),
    webmFixture(path.join(tmpdir(), 'modgate-test-media'), FFMPEG),
  ]);
});
afterAll(async () => {
  await t?.stop();
});

type Attempt = { close: number; reason: string } | { http: number };

/** One WebSocket auth attempt with a well-formed key nobody holds: how the server answered. */
function wsAttempt(): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(t.wsUrl, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', streamKey: `sk_${'x'.repeat(32)}`, container: 'webm' })));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ http: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on('close', (code, reason) => resolve({ close: code, reason: reason.toString('utf8') }));
    ws.on('error', () => {});
  });
}

const refusalRows = (protocol: 'websocket' | 'rtmp') =>
  t.gw.store.db
    .selectFrom('publish_refusals')
    .select(['reason', 'count', 'remote_addr', 'account_id', 'last_at'])
    .where('protocol', '=', protocol)
    .orderBy('id')
    .execute();

describe('WebSocket ingest under a flood of auth attempts from one address', () => {
  it('1,000 attempts: 10 are checked, the rest refused rate_limited then answered 429; a few audit rows count them all; after the window a real publisher goes live', async () => {
    const a = await t.account('ws-flood-victim');
    const answers: Attempt[] = [];
    for (let batch = 0; batch < 50; batch++) answers.push(...(await Promise.all(Array.from({ length: 20 }, wsAttempt))));
    const closes = (code: number) => answers.filter((x) => 'close' in x && x.close === code).length;
    expect(closes(CloseCode.unauthorized)).toBe(10);
    // The first 50 over the limit are told why (close 4029, `rate_limited: … retry in N s`), the rest get a bare 429.
    expect(closes(CloseCode.rateLimited)).toBe(50);
    expect(answers.find((x) => 'close' in x && x.close === CloseCode.rateLimited)).toMatchObject({
      reason: expect.stringMatching(/^rate_limited: .*retry in \d+ s$/),
    });
    expect(answers.filter((x) => 'http' in x && x.http === 429)).toHaveLength(940);

    // During the window: one row per reason (the first refusal), whatever the flood's size.
    const during = await waitFor(
      async () => {
        const rows = await refusalRows('websocket');
        return rows.length >= 2 ? rows : null;
      },
      { describe: 'the first refusal rows' },
    );
    expect(during.map((r) => [r.reason, r.count, r.remote_addr, r.account_id])).toEqual([
      ['unknown_key', 1, '127.0.0.1', null],
      ['rate_limited', 1, '127.0.0.1', null],
    ]);

    // A legitimate publisher from the same address is refused too while the bucket is empty...
    const early = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, file: webm, fileDurationSec: 20 });
    expect(await early.accepted).toBeNull();
    expect((await early.closed).code).not.toBe(1000);

    // ...and goes live once the window has passed and the bucket has refilled.
    offset += LATER_MS;
    const later = wsPublish({ url: t.wsUrl, streamKey: a.streamKey, file: webm, fileDurationSec: 20 });
    try {
      expect(await later.accepted).toMatch(/^str_/);
      await t.waitForStream('ws-flood-victim');
    } finally {
      await later.close();
    }
    await t.waitForNoStream('ws-flood-victim');

    // The window's counts were written at the first attempt after it (or by the window's timer):
    // every refused attempt is counted, in at most two rows per reason.
    const after = await waitFor(
      async () => {
        const rows = await refusalRows('websocket');
        const total = rows.reduce((n, r) => n + r.count, 0);
        return total >= 1_001 ? rows : null;
      },
      { describe: 'the aggregated rows of the flood' },
    );
    expect(after.length).toBeLessThanOrEqual(4);
    expect(after.reduce((n, r) => n + r.count, 0)).toBe(1_001);
    expect(after.filter((r) => r.count > 1).every((r) => r.last_at !== null)).toBe(true);
  });
});

describe('RTMP ingest under a connect flood from one address', () => {
  let publisher: Publisher | null = null;
  afterAll(() => publisher?.stop());

  it('300 raw connections: the process stays up, the live stream and its player are undisturbed, the flood is refused rate_limited and audited in a few rows', async () => {
    offset += LATER_MS;
    const a = await t.account('rtmp-bystander');
    publisher = startPublisher({ url: t.publishUrl(a.streamKey), ffmpegPath: FFMPEG, durationSec: 600, width: 320, height: 180, rate: 15 });
    const live = await t.waitForStream('rtmp-bystander');

    const flood = [];
    for (let batch = 0; batch < 15; batch++) {
      flood.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, async () => {
            const c = await rawRtmp(t.rtmpPort).catch(() => null);
            if (!c) return 'dropped' as const;
            c.write(connectCmd(`rtmp://127.0.0.1:${t.rtmpPort}/live`));
            const limited = await c.waitFor('rate_limited');
            c.destroy();
            return limited ? ('rejected' as const) : ('other' as const);
          }),
        )),
      );
    }
    // Each raw connection connects and never publishes: it keeps its token, so after 20 the source is
    // answered NetConnection.Connect.Rejected `rate_limited: …`, past 50 of those closed at accept.
    expect(flood.filter((x) => x === 'rejected')).toHaveLength(50);
    expect(flood.filter((x) => x === 'dropped' || x === 'other').length).toBe(250);

    // The bystander is still live, its publisher still sending, and a player from elsewhere reads it.
    expect(publisher.proc.exitCode).toBeNull();
    expect((await t.streams()).map((s) => s.id)).toContain(live.id);
    offset += LATER_MS;
    const frames = await readFrames(t.playUrl(live.id), { frames: 3 });
    expect(frames.frames).toBeGreaterThanOrEqual(3);

    const rows = (await refusalRows('rtmp')).filter((r) => r.reason === 'rate_limited');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(2);
  });
});
