import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExchangeRunner } from '../../gateway/exchanges/runner.ts';
import { addExchange, getExchange, quarantined } from '../../gateway/exchanges/manage.ts';
import { randomBytes } from 'node:crypto';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { FakeTimers } from '../sampler/unit/fake-timers.ts';
import { seededHash } from '../helpers/hashes.ts';
import { TatStandIn, tatRecord } from './tat-standin.ts';

const log = pino({ level: 'silent' });
let dir: string;
let store: Store;
let timers: FakeTimers;
let runner: ExchangeRunner | null = null;
const key = randomBytes(32);

const enabledHashes = async (bank: string) =>
  (await store.db.selectFrom('bank_entries').select('hash').where('bank', '=', bank).where('enabled', '=', 1).orderBy('hash').execute()).map((r) => r.hash);

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modgate-exchange-'));
  store = await openStore(`sqlite:${path.join(dir, 'db.sqlite')}`);
  timers = new FakeTimers();
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function startRunner(o: Partial<ConstructorParameters<typeof ExchangeRunner>[0]> = {}): ExchangeRunner {
  runner = new ExchangeRunner({ db: store.db, key, log, timers, random: () => 0.5, pollMs: 1_000, retryBaseMs: 10_000, ...o });
  return runner;
}

describe('a Tech Against Terrorism hash list (v2) feeds its own bank', () => {
  let tat: TatStandIn;
  beforeEach(async () => {
    tat = new TatStandIn();
    await tat.start();
  });
  afterEach(async () => tat.stop());

  it('pages are applied in order with their checkpoints; a deleted record is a tombstone; other algorithms stay out', async () => {
    const [a, b, c] = [seededHash(1), seededHash(2), seededHash(3)];
    const cp1 = tat.page('', [tatRecord(a, 1), tatRecord(b, 2), tatRecord('d41d8cd98f00b204e9800998ecf8427e', 3, { algorithm: 'MD5', file_type: 'mp4' })], {
      next: true,
    });
    const cp2 = tat.page(cp1, [tatRecord(c, 4), tatRecord(a, 5, { deleted: true })]);
    await addExchange(store.db, key, 'token:ops', { name: 'tat', kind: 'tat', url: tat.url, credential: 'platform:s3cret', intervalMs: 3_600_000 });
    const outcome = await startRunner().run('tat');

    expect(outcome).toMatchObject({ pages: 2, upserts: 3, deletes: 1, quarantined: 0, error: null });
    expect(await enabledHashes('exchange-tat')).toEqual([b, c].sort());
    const row = await getExchange(store.db, 'tat');
    expect(row.checkpoint).toBe(cp2);
    expect(row.failures).toBe(0);
    // python-threatexchange's client sends the previous page's checkpoint as `after`, with the JWT from token-auth.
    expect(tat.requests.filter((r) => r.path.endsWith('/all')).map((r) => r.after)).toEqual(['', cp1]);
    expect(tat.requests.every((r) => r.path === '/token-auth/tcap/' || r.auth === 'Bearer jwt-1')).toBe(true);
    // The credential is sealed at rest.
    expect(row.credential).not.toContain('s3cret');
  });

  it('a malformed page is quarantined and reported, and the next good page still applies', async () => {
    const [a, b] = [seededHash(11), seededHash(12)];
    // Page 1: a valid checkpoint but records that are not TAT records (and a hash that is not PDQ).
    const cp1 = tat.page('', [{ hash: a }, 'garbage', tatRecord('zz', 9)], { checkpoint: '1704901100,9', next: true });
    tat.page(cp1, [tatRecord(b, 10)]);
    await addExchange(store.db, key, 'token:ops', { name: 'tat', kind: 'tat', url: tat.url, credential: 'platform:s3cret' });
    const outcome = await startRunner().run('tat');

    expect(outcome).toMatchObject({ pages: 2, upserts: 1, quarantined: 3, error: null });
    expect(await enabledHashes('exchange-tat')).toEqual([b]);
    const q = await quarantined(store.db, 'tat');
    expect(q).toHaveLength(3);
    expect(q.every((r) => r.checkpoint === null)).toBe(true);
    expect((await getExchange(store.db, 'tat')).quarantined).toBe(3);
  });

  it('a page that is not JSON is quarantined, the checkpoint stays, and fetches back off (with jitter) until it is fixed', async () => {
    tat.pages.set('', { raw: '<html>502 Bad Gateway</html>' });
    await addExchange(store.db, key, 'token:ops', { name: 'tat', kind: 'tat', url: tat.url, credential: 'platform:s3cret', intervalMs: 3_600_000 });
    const r = startRunner();
    const first = await r.run('tat');
    expect(first.error).toMatch(/^malformed_page/);
    let row = await getExchange(store.db, 'tat');
    expect(row).toMatchObject({ checkpoint: null, failures: 1, quarantined: 1 });
    expect(row.last_error).toMatch(/^malformed_page/);
    // First retry after retryBaseMs (10 s, ±25 % jitter; random() = 0.5 is the middle).
    expect(row.next_fetch_at).toBe(timers.now() + 10_000);
    expect((await quarantined(store.db, 'tat'))[0]!.raw).toContain('502 Bad Gateway');

    r.start();
    await waitForRow(
      () => getExchange(store.db, 'tat'),
      (x) => x.failures === 1 && x.next_fetch_at === timers.now() + 10_000,
    );
    await timers.advance(10_001);
    row = await waitForRow(
      () => getExchange(store.db, 'tat'),
      (x) => x.failures === 2,
    );
    // Doubled: 20 s.
    expect(row.next_fetch_at! - row.last_fetch_at!).toBe(20_000);

    const h = seededHash(21);
    tat.page('', [tatRecord(h, 1)]);
    await timers.advance(20_001);
    row = await waitForRow(
      () => getExchange(store.db, 'tat'),
      (x) => x.failures === 0 && x.checkpoint !== null,
    );
    expect(await enabledHashes('exchange-tat')).toEqual([h]);
    // Back on the interval (1 h, ±10 %), from the successful fetch.
    expect(row.next_fetch_at! - row.last_success_at!).toBe(3_600_000);
  });

  it('a wrong credential is reported as unauthorized and nothing is applied', async () => {
    tat.page('', [tatRecord(seededHash(31), 1)]);
    await addExchange(store.db, key, 'token:ops', { name: 'tat', kind: 'tat', url: tat.url, credential: 'platform:wrong' });
    const outcome = await startRunner().run('tat');
    expect(outcome.error).toMatch(/^unauthorized/);
    expect(await enabledHashes('exchange-tat')).toEqual([]);
  });
});

describe('a hash-list file in HMA format (`<signal_type> <hash>` lines)', () => {
  it('is read whole: new lines added, removed lines deleted, bad lines quarantined, an unchanged file changes nothing', async () => {
    const file = path.join(dir, 'list.txt');
    const [a, b, c] = [seededHash(41), seededHash(42), seededHash(43)];
    writeFileSync(file, `pdq ${a}\npdq ${b}\npdq not-a-hash\n`);
    await addExchange(store.db, key, 'token:ops', { name: 'gifct-file', kind: 'hashlist', url: file, bank: 'shared', category: 'terrorism' });
    const r = startRunner();
    expect(await r.run('gifct-file')).toMatchObject({ upserts: 2, quarantined: 1, error: null });
    expect(await enabledHashes('shared')).toEqual([a, b].sort());

    expect(await r.run('gifct-file')).toMatchObject({ upserts: 0, deletes: 0, quarantined: 0 });

    writeFileSync(file, `pdq ${b}\npdq ${c}\n`);
    expect(await r.run('gifct-file')).toMatchObject({ upserts: 1, deletes: 1, quarantined: 0 });
    expect(await enabledHashes('shared')).toEqual([b, c].sort());
    const bank = await store.db.selectFrom('banks').selectAll().where('name', '=', 'shared').executeTakeFirstOrThrow();
    expect(bank).toMatchObject({ default_category: 'terrorism', default_severity: 'critical' });
  });

  it('a missing file is an error with back-off, not a wiped bank', async () => {
    const file = path.join(dir, 'list.txt');
    writeFileSync(file, `pdq ${seededHash(51)}\n`);
    await addExchange(store.db, key, 'token:ops', { name: 'f', kind: 'hashlist', url: file });
    const r = startRunner();
    await r.run('f');
    rmSync(file);
    expect((await r.run('f')).error).toMatch(/^unreachable: .*ENOENT/);
    expect(await enabledHashes('exchange-f')).toHaveLength(1);
  });
});

async function waitForRow<T>(read: () => Promise<T>, ok: (row: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const row = await read();
    if (ok(row)) return row;
    if (Date.now() > deadline) throw new Error(`condition not met: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
