import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import { openStore } from '../../gateway/store/db.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, waitFor, type StreamView } from '../helpers/gateway.ts';
import { renderKnownImage } from '../pipeline/setup.ts';

/**
 * Two platforms, each its own modgate process with its own SQLite database and ports, A serving its
 * `confirmed` bank to B as a partner. A moderator on A confirms a decision with addToBank → B's exchange
 * bank holds the same hashes → a stream on B showing the picture is cut. B stopped, more confirmed on A,
 * B started again → B catches up from its checkpoint. A moderator on B deconfirms one of A's hashes → B's
 * entry is disabled (and stays so when A's feed lists it again), the opinion reaches A through its
 * exchange's reportOpinion, and A's moderators find the partner's opinion and the entry quarantined.
 */

const haveFfmpeg = existsSync(FFMPEG);
if (!haveFfmpeg) console.warn(`two-platform exchange test skipped: no ffmpeg at ${FFMPEG}`);

interface Platform {
  dir: string;
  db: string;
  token: string;
  keys: Record<string, string>;
  proc: GatewayProcess;
  api: ApiClient;
}

describe.skipIf(!haveFfmpeg)('two modgate platforms exchanging what their moderators confirm', () => {
  let root: string;
  let A: Platform;
  let B: Platform;
  const publishers: Publisher[] = [];
  const images: string[] = [];

  const start = (p: Pick<Platform, 'dir' | 'db'>) =>
    startGatewayProcess({ db: p.db, dataDir: p.dir, config: { sampling: { enabled: true }, exchanges: { enabled: true, pollMs: 500 } } });

  async function platform(name: string, handles: string[]): Promise<Platform> {
    const dir = path.join(root, name);
    mkdirSync(dir);
    const db = `sqlite:${path.join(dir, 'modgate.sqlite')}`;
    const store = await openStore(db);
    const keys: Record<string, string> = {};
    for (const handle of handles) {
      await addAccount(store.db, { id: 'test' }, { handle, verified: true, subject: `idp:${name}:${handle}` });
      keys[handle] = (await issueKey(store.db, { id: 'test' }, handle)).key;
    }
    const token = (await issueToken(store.db, 'test', 'ops', 'operator')).token;
    await store.close();
    const proc = await start({ dir, db });
    return { dir, db, token, keys, proc, api: new ApiClient(proc.httpUrl, token) };
  }

  const liveOn = async (api: ApiClient, handle: string) =>
    (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams?.find((s) => s.account === handle);
  const ended = (p: Publisher) => (p.proc.exitCode !== null || p.proc.signalCode !== null ? true : null);
  const exported = async (api: ApiClient, bank: string) =>
    (await api.request<string>('GET', `/api/v1/banks/${bank}/export?format=plain`)).body
      .toString()
      .split('\n')
      .filter((l) => /^[0-9a-f]{64}$/.test(l))
      .sort();

  function publish(p: Platform, handle: string, image: string): Publisher {
    const pub = startPublisher({
      url: p.proc.publishUrl(p.keys[handle]!),
      ffmpegPath: FFMPEG,
      width: 640,
      height: 360,
      pattern: { color: 'darkslateblue' },
      image: { path: image, afterSec: 0 },
    });
    publishers.push(pub);
    return pub;
  }

  /** A stream on A showing `image` is cut by A's seed bank; a moderator confirms it with addToBank. */
  async function confirmOnA(handle: string, image: string): Promise<number> {
    const pub = publish(A, handle, image);
    const live = await waitFor(() => liveOn(A.api, handle), 30_000, `${handle} live on A`);
    await waitFor(() => ended(pub), 60_000, `${handle}'s stream on A to be cut`);
    const decision = await waitFor(
      async () =>
        (await A.api.get<{ decisions: Array<{ id: string; streamId: string | null }> }>('/api/v1/decisions')).body.decisions?.find(
          (d) => d.streamId === live.id,
        ),
      30_000,
      'the decision on A',
    );
    const res = await A.api.post<{ confirmedBankAdded: number }>(`/api/v1/decisions/${decision.id}/confirm`, {
      reason: 'footage of the attack',
      addToBank: true,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.confirmedBankAdded).toBeGreaterThan(0);
    return res.body.confirmedBankAdded;
  }

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'modgate-2p-'));
    images.push(await renderKnownImage(FFMPEG, path.join(root, 'attack-1.png')));
    images.push(await renderKnownImage(FFMPEG, path.join(root, 'attack-2.png'), 'mandelbrot=size=640x360'));
    [A, B] = await Promise.all([platform('a', ['alice', 'dave']), platform('b', ['carol'])]);
    // A's curators hold the footage in a seed bank; what its moderators confirm goes to `confirmed`, shared with B.
    expect((await A.api.post('/api/v1/banks', { name: 'tve', category: 'terrorist-violent-extremism' })).status).toBe(201);
    for (const image of images) {
      const [h] = await hashFile(image);
      expect((await A.api.post('/api/v1/banks/tve/entries', { entries: [{ hash: h!.hash }] })).status).toBe(200);
    }
    expect((await A.api.post('/api/v1/banks', { name: 'confirmed', category: 'confirmed' })).status).toBe(201);
    const partner = await A.api.post<{ token: string }>('/api/v1/exchange/partners', { name: 'platform-b', banks: ['confirmed'] });
    expect(partner.status, JSON.stringify(partner.body)).toBe(201);
    const added = await B.api.post('/api/v1/exchanges', {
      name: 'platform-a',
      kind: 'modgate',
      url: A.proc.httpUrl,
      credential: partner.body.token,
      bank: 'from-a',
      category: 'terrorist-violent-extremism',
    });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(publishers.map((p) => p.stop()));
    await Promise.allSettled([A?.proc.stop('SIGKILL'), B?.proc.stop('SIGKILL')]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("a confirmation on A reaches B's bank, and a stream on B showing the picture is cut", async () => {
    await confirmOnA('alice', images[0]!);
    const onA = await exported(A.api, 'confirmed');
    expect(onA.length).toBeGreaterThan(0);
    await waitFor(async () => ((await exported(B.api, 'from-a')).join() === onA.join() ? true : null), 30_000, "B's bank to hold A's confirmed hashes").catch(
      async (err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify((await B.api.get('/api/v1/exchanges')).body)}\n${B.proc.stderr().slice(-3000)}`);
      },
    );

    const pub = publish(B, 'carol', images[0]!);
    const live = await waitFor(() => liveOn(B.api, 'carol'), 30_000, 'carol live on B');
    await waitFor(() => ended(pub), 60_000, "carol's stream on B to be cut by the shared hash");
    const decisions = (await B.api.get<{ decisions: Array<{ streamId: string | null; ruleId: string }> }>('/api/v1/decisions')).body.decisions;
    expect(decisions.find((d) => d.streamId === live.id)?.ruleId).toBe('tve-known-content');
  }, 240_000);

  it('B, stopped while A confirms more, catches up from its checkpoint when it starts again', async () => {
    const before = (
      await B.api.get<{ exchanges: Array<{ name: string; checkpoint: string | null; upserts: number }> }>('/api/v1/exchanges')
    ).body.exchanges.find((e) => e.name === 'platform-a')!;
    expect(before.checkpoint).not.toBeNull();
    await B.proc.stop('SIGTERM', { keepData: true });

    await confirmOnA('dave', images[1]!);
    const onA = await exported(A.api, 'confirmed');

    B.proc = await start(B);
    B.api = new ApiClient(B.proc.httpUrl, B.token);
    await waitFor(async () => ((await exported(B.api, 'from-a')).join() === onA.join() ? true : null), 30_000, 'B to catch up');
    const after = (
      await B.api.get<{ exchanges: Array<{ name: string; checkpoint: string | null; upserts: number; failures: number }> }>('/api/v1/exchanges')
    ).body.exchanges.find((e) => e.name === 'platform-a')!;
    expect(Number(after.checkpoint)).toBeGreaterThan(Number(before.checkpoint));
    expect(after.upserts).toBe(onA.length);
  }, 240_000);

  it("a moderator on B deconfirms one of A's hashes: B stops matching it, and A records the partner's opinion and quarantines the entry", async () => {
    const fromA = await exported(B.api, 'from-a');
    const hash = fromA[0]!;
    const res = await B.api.post<{ opinion: { category: string; exchange: string | null }; reportedTo: string | null; reportError: string | null }>(
      '/api/v1/banks/from-a/opinions',
      { hash, opinion: 'deconfirm', reason: 'a news broadcast, not the attack' },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ reportedTo: 'platform-a', reportError: null, opinion: { category: 'negative_class', exchange: 'platform-a' } });
    expect(await exported(B.api, 'from-a')).not.toContain(hash);

    // A: the partner's opinion is on record, and the entry waits in the moderators' queue.
    const opinions = (
      await A.api.get<{ opinions: Array<{ hash: string; source: string; category: string; isMine: boolean; bank: string }> }>('/api/v1/opinions?mine=false')
    ).body.opinions;
    expect(opinions.find((o) => o.hash === hash)).toMatchObject({ source: 'partner:platform-b', category: 'negative_class', isMine: false, bank: 'confirmed' });
    const queue = (await A.api.get<{ quarantines: Array<{ entryId: string; bank: string; reason: string; status: string }> }>('/api/v1/entry-quarantines')).body
      .quarantines;
    expect(queue.find((q) => q.bank === 'confirmed')).toMatchObject({ reason: 'partner_opinion', status: 'open' });

    // A's feed lists the hash again (a bank-level change re-serves the whole bank): B keeps it off.
    expect((await A.api.post('/api/v1/banks/confirmed/disable', { reason: 're-serve', enabled: true })).status).toBe(200);
    const upsertsBefore = (await B.api.get<{ exchanges: Array<{ upserts: number }> }>('/api/v1/exchanges')).body.exchanges[0]!.upserts;
    await waitFor(
      async () => {
        const run = await B.api.post<{ pages: number; error: string | null }>('/api/v1/exchanges/platform-a/fetch', {});
        const ex = (await B.api.get<{ exchanges: Array<{ checkpoint: string | null; lastError: string | null }> }>('/api/v1/exchanges')).body.exchanges[0]!;
        if (run.body.error || ex.lastError)
          throw new Error(`B's fetch failed: ${JSON.stringify(run.body)} ${JSON.stringify(ex)}\n${B.proc.stderr().slice(-3000)}`);
        return run.body.pages > 0 ? true : null;
      },
      60_000,
      'B to read the re-served bank',
    );
    expect((await B.api.get<{ exchanges: Array<{ upserts: number }> }>('/api/v1/exchanges')).body.exchanges[0]!.upserts).toBe(upsertsBefore);
    expect(await exported(B.api, 'from-a')).not.toContain(hash);
  }, 120_000);
});
