import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { suspendAccount } from '../../gateway/enforcement/suspensions.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { openStore } from '../../gateway/store/db.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { PG_ADMIN_URL, testDatabases } from '../helpers/databases.ts';
import { allowConnections, dbNameOf, startGatewayProcess, terminateBackends, type GatewayProcess } from '../helpers/gateway-process.ts';
import { ApiClient, FFMPEG, waitFor, type StreamView } from '../helpers/gateway.ts';
import { startPipedPublisher, type PipedPublisher } from '../helpers/piped-publisher.ts';
import { rawPublish } from '../helpers/rtmp-client.ts';
import { bankImage, renderKnownImage } from '../pipeline/setup.ts';

/**
 * A node killed with -9 while its database is away: what it kept only in memory would be gone. During the
 * outage dave goes live, suspended bob is refused, and a banked image on alice's stream is matched, decided
 * and cut; then the process is killed before the database returns. Restarted on the same data directory
 * once it is back, the node replays its journal first: dave's stream has its row (closed as the restart's
 * orphan), bob's refusal and alice's stored match signal are on record, and alice's decision once.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('outage-crash');
const dir = mkdtempSync(path.join(tmpdir(), 'modgate-outage-crash-'));
const dataDir = path.join(dir, 'data');
mkdirSync(dataDir);
const nodes: GatewayProcess[] = [];
const publishers: Array<Publisher | PipedPublisher> = [];
let dbName: string | null = null;
afterAll(async () => {
  await Promise.allSettled(publishers.map((p) => p.stop()));
  await Promise.allSettled(nodes.map((n) => n.stop('SIGKILL')));
  if (dbName) await allowConnections(PG_ADMIN_URL, dbName, true).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

interface JournalLine {
  unit: {
    id: string;
    streamStarts?: Array<{ id: string; account_id: string }>;
    refusals?: Array<{ account_id: string | null; reason: string }>;
    signals?: Array<{ stream_id: string; body: string }>;
    decisions?: Array<{ stream_id: string }>;
  };
}

/** The units in the node's journal file now (each line `<checksum> <json>`; a torn last line is skipped). */
function journalUnits(): JournalLine['unit'][] {
  const file = path.join(dataDir, 'journal', 'units.journal');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 17)
    .flatMap((l) => {
      try {
        return [(JSON.parse(l.slice(17)) as JournalLine).unit];
      } catch {
        return [];
      }
    });
}

describe.skipIf(pgUnavailable !== null)('a node killed during a database outage loses nothing it kept', () => {
  it('stream start, refusal, match signal and decision journaled during the outage are on record after kill -9 and a restart', async () => {
    const url = await freshPgUrl();
    dbName = dbNameOf(url);
    const admin = await openStore(url);
    const actor = { id: 'test' };
    const keys: Record<string, string> = {};
    const ids: Record<string, string> = {};
    for (const handle of ['alice', 'bob', 'dave']) {
      ids[handle] = (await addAccount(admin.db, actor, { handle, verified: true, subject: `idp:${handle}` })).id;
      keys[handle] = (await issueKey(admin.db, actor, handle)).key;
    }
    await suspendAccount(admin.db, actor, 'bob', { reason: 'suspended before the outage' });
    const known = await renderKnownImage(FFMPEG, path.join(dir, 'known.png'));
    const benign = await renderKnownImage(FFMPEG, path.join(dir, 'benign.png'), 'color=darkslateblue:size=640x360');
    await bankImage(admin.db, known);
    const token = (await issueToken(admin.db, 'test', 'op', 'operator')).token;
    await admin.close();

    const config = { sampling: { enabled: true } };
    const node = await startGatewayProcess({ db: url, dataDir, config });
    nodes.push(node);
    const api = new ApiClient(node.httpUrl, token);
    const anon = new ApiClient(node.httpUrl, null);
    const liveAs = async (handle: string) => (await api.get<{ streams: StreamView[] }>('/api/v1/streams')).body.streams?.find((s) => s.account === handle);

    const alice = startPipedPublisher({ url: node.publishUrl(keys.alice!), ffmpegPath: FFMPEG, picture: readFileSync(benign) });
    publishers.push(alice);
    const aliceLive = await waitFor(() => liveAs('alice'), 30_000, "alice's stream");

    await allowConnections(PG_ADMIN_URL, dbName, false);
    await terminateBackends(PG_ADMIN_URL, dbName);
    await waitFor(
      async () => {
        const r = await anon.get<{ error?: string }>('/readyz');
        return r.status === 503 && r.body.error === 'database_unreachable' ? true : null;
      },
      60_000,
      '/readyz to report the outage',
    );

    const dave = startPublisher({ url: node.publishUrl(keys.dave!), ffmpegPath: FFMPEG, width: 320, height: 180, rate: 15 });
    publishers.push(dave);
    const daveLive = await waitFor(() => liveAs('dave'), 30_000, "dave's publish during the outage");
    const bobTry = await rawPublish(node.rtmpPort, keys.bob!);
    bobTry.client.destroy();
    expect(bobTry.started).toBe(false);
    alice.show(readFileSync(known));
    await waitFor(() => alice.ended(), 90_000, "alice's stream to be cut by the match during the outage");

    // Everything the test needs is on disk in the journal before the kill (not merely in memory).
    await waitFor(
      () => {
        const units = journalUnits();
        const daveStart = units.some((u) => (u.streamStarts ?? []).some((s) => s.id === daveLive.id));
        const bobRefusal = units.some((u) => (u.refusals ?? []).some((r) => r.account_id === ids.bob && r.reason === 'suspended'));
        const match = units.some((u) => (u.signals ?? []).some((s) => s.stream_id === aliceLive.id && s.body.includes('"match"')));
        const decision = units.some((u) => (u.decisions ?? []).some((d) => d.stream_id === aliceLive.id));
        return daveStart && bobRefusal && match && decision ? true : null;
      },
      60_000,
      "dave's start, bob's refusal, alice's match signal and decision in the journal file",
    );
    expect(node.alive()).toBe(true);
    await node.stop('SIGKILL', { keepData: true });
    await Promise.allSettled(publishers.map((p) => p.stop()));

    await allowConnections(PG_ADMIN_URL, dbName, true);
    const restarted = await startGatewayProcess({ db: url, dataDir, config });
    nodes.push(restarted);
    const anon2 = new ApiClient(restarted.httpUrl, null);
    await waitFor(async () => ((await anon2.get('/readyz')).status === 200 ? true : null), 90_000, 'the restarted node to be ready');

    const db = await openStore(url);
    try {
      // Dave's row, from the journal; the restart then closed it as its orphan (the process that carried it died).
      const daveRow = await db.db.selectFrom('streams').selectAll().where('id', '=', daveLive.id).executeTakeFirst();
      expect(daveRow).toMatchObject({ account_id: ids.dave, end_reason: 'gateway_shutdown' });
      const refusals = await db.db.selectFrom('publish_refusals').selectAll().where('account_id', '=', ids.bob!).execute();
      expect(refusals.map((r) => r.reason)).toEqual(['suspended']);
      const signals = await db.db.selectFrom('signals').select('body').where('stream_id', '=', aliceLive.id).execute();
      expect(signals.some((s) => s.body.includes('"match"'))).toBe(true);
      const enforced = (await db.db.selectFrom('decisions').selectAll().where('stream_id', '=', aliceLive.id).execute()).filter(
        (d) => d.shadow === 0 && d.rule_id === 'tve-known-content',
      );
      expect(enforced).toHaveLength(1);
      const aliceRow = await db.db.selectFrom('streams').select('end_reason').where('id', '=', aliceLive.id).executeTakeFirstOrThrow();
      expect(aliceRow.end_reason).toBe('suspended');
    } finally {
      await db.close();
    }
    expect(restarted.alive()).toBe(true);
  }, 600_000);
});
