import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bankPictureFile } from '../../gateway/banks/derive.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { seededHash as hex } from '../helpers/hashes.ts';

/**
 * The endpoints the console's working screens read (docs/console-api.md): bank entries paged and one by one
 * with the banked picture, disabling an entry, the streamed file import with its per-line report, account
 * search, and a stream's stored signals; on SQLite and PostgreSQL, through a real gateway.
 */

const { backends } = await testDatabases('console-api');
const tmp = mkdtempSync(path.join(tmpdir(), 'modgate-console-api-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Entry {
  id: string;
  hash: string;
  enabled: boolean;
  note: string | null;
  source: string | null;
  picture: string | null;
  derived: number;
}

/** A picture with structure (PDQ quality well above the floor): diagonal bands and a bright block. */
function writePicture(file: string): void {
  const png = new PNG({ width: 320, height: 240 });
  for (let y = 0; y < 240; y++)
    for (let x = 0; x < 320; x++) {
      const i = (y * 320 + x) * 4;
      const v = ((x + y) >> 4) % 2 ? 220 : 30;
      png.data[i] = x > 200 && y < 100 ? 250 : v;
      png.data[i + 1] = v;
      png.data[i + 2] = (x * 255) / 320;
      png.data[i + 3] = 255;
    }
  writeFileSync(file, PNG.sync.write(png));
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`the console's API on ${backend.name}`, () => {
    let t: TestGateway;
    beforeEach(async () => {
      t = await startTestGateway({ db: await backend.url() });
      expect((await t.api.post('/api/v1/banks', { name: 'tve', category: 'terrorist-violent-extremism' })).status).toBe(201);
    }, 60_000);
    afterEach(async () => {
      await t?.stop();
    });

    it('bank entries come a page at a time, filter by hash prefix, text and state, and one entry is read by id', async () => {
      const entries = Array.from({ length: 23 }, (_, i) => ({
        hash: hex(i + 1),
        note: i === 7 ? 'Clip 50%_off' : `item ${i}`,
        source: i < 3 ? 'gifct' : 'analyst',
      }));
      expect((await t.api.post('/api/v1/banks/tve/entries', { entries })).status).toBe(200);
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: { entries: Entry[]; next: string | null } } = await t.mod.get(
          `/api/v1/banks/tve/entries?limit=10${after ? `&after=${after}` : ''}`,
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.entries.map((e) => e.hash));
        after = res.body.next;
        pages++;
      } while (after);
      expect(pages).toBe(3);
      expect(seen.sort()).toEqual(entries.map((e) => e.hash).sort());

      const byPrefix = await t.mod.get<{ entries: Entry[] }>(`/api/v1/banks/tve/entries?q=${hex(5).slice(0, 12).toUpperCase()}`);
      expect(byPrefix.body.entries.map((e) => e.hash)).toEqual([hex(5)]);
      // % and _ are the person's text, not LIKE wildcards.
      const byNote = await t.mod.get<{ entries: Entry[] }>(`/api/v1/banks/tve/entries?q=${encodeURIComponent('50%_OFF')}`);
      expect(byNote.body.entries.map((e) => e.note)).toEqual(['Clip 50%_off']);
      expect((await t.mod.get<{ entries: Entry[] }>('/api/v1/banks/tve/entries?q=gifct')).body.entries).toHaveLength(3);

      const one = byPrefix.body.entries[0]!;
      const got = await t.mod.get<Entry>(`/api/v1/banks/tve/entries/${one.id}`);
      expect(got.body).toMatchObject({ id: one.id, hash: hex(5), enabled: true, picture: null });
      expect((await t.mod.get('/api/v1/banks/tve/entries/bke_nope')).body).toMatchObject({ error: 'not_found' });
      expect((await t.mod.get('/api/v1/banks/nope/entries')).body).toMatchObject({ error: 'not_found' });
      expect((await t.mod.get('/api/v1/banks/tve/entries?limit=0')).body).toMatchObject({ error: 'invalid_request', field: 'query.limit' });
    });

    it('an operator disables one entry (a moderator may not), live matching drops it, and it is listed as disabled', async () => {
      await t.api.post('/api/v1/banks/tve/entries', { entries: [{ hash: hex(1) }, { hash: hex(2) }] });
      const [first] = (await t.mod.get<{ entries: Entry[] }>('/api/v1/banks/tve/entries')).body.entries;
      const url = `/api/v1/banks/tve/entries/${first!.id}/disable`;
      expect((await t.mod.post(url, { reason: 'false positive' })).body).toMatchObject({ error: 'forbidden' });
      const res = await t.api.post<{ entry: Entry; enabled: boolean }>(url, { reason: 'false positive' });
      expect(res.body).toMatchObject({ enabled: false, entry: { id: first!.id, enabled: false } });
      expect(t.gw.banks.size).toBe(1);
      const disabled = await t.mod.get<{ entries: Entry[] }>('/api/v1/banks/tve/entries?enabled=false');
      expect(disabled.body.entries.map((e) => e.id)).toEqual([first!.id]);
      const audit = await t.api.get<{ records: Array<{ action: string; reason: string }> }>('/api/v1/audit?action=bank.entry.disable');
      expect(audit.body.records[0]).toMatchObject({ action: 'bank.entry.disable', reason: 'false positive' });
      await t.api.post(url, { enabled: true });
      expect(t.gw.banks.size).toBe(2);
    });

    it('a hash-list file is imported as streamed text: 100k lines in one request, bad lines reported by number, duplicates counted', async () => {
      const lines = ['hash,note'];
      for (let i = 0; i < 100_000; i++) lines.push(`${hex(1000 + i)},row ${i}`);
      lines.splice(5, 0, 'not-a-hash,broken');
      lines.splice(50_000, 0, `${hex(1).slice(0, 60)},short`);
      const body = lines.join('\n');
      const res = await t.mod.post<{
        format: string;
        lines: number;
        valid: number;
        added: number;
        duplicates: number;
        errorCount: number;
        errors: Array<{ line: number; reason: string }>;
        bytes: number;
      }>('/api/v1/banks/tve/import?source=list.csv', { raw: body, contentType: 'text/csv' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        format: 'csv',
        lines: 100_003,
        valid: 100_000,
        added: 100_000,
        duplicates: 0,
        errorCount: 2,
        bytes: Buffer.byteLength(body),
      });
      expect(res.body.errors.map((e) => e.line)).toEqual([6, 50_001]);
      expect(res.body.errors[0]!.reason).toMatch(/^line 6: /);
      const again = await t.mod.post<{ added: number; duplicates: number }>('/api/v1/banks/tve/import', {
        raw: lines.slice(0, 1001).join('\n'),
        contentType: 'text/plain',
      });
      expect(again.body).toMatchObject({ added: 0, duplicates: 999 });
      const listed = await t.mod.get<{ entries: Entry[] }>(`/api/v1/banks/tve/entries?q=${hex(1000)}`);
      expect(listed.body.entries[0]).toMatchObject({ source: 'list.csv', note: 'row 0' });
      expect(t.gw.banks.size).toBe(100_000);
      expect((await t.mod.post('/api/v1/banks/nope/import', { raw: hex(1), contentType: 'text/plain' })).body).toMatchObject({ error: 'not_found' });
      expect((await t.anon.post('/api/v1/banks/tve/import', { raw: hex(1), contentType: 'text/plain' })).status).toBe(401);
    }, 180_000);

    it('a banked picture is kept as a small JPEG and served with its entry', async () => {
      const file = path.join(tmp, `picture-${backend.name}.png`);
      writePicture(file);
      const r = await bankPictureFile(t.gw.store.db, 'test', 'tve', file);
      expect(r.added).toBe(true);
      const entry = (await t.mod.get<Entry>(`/api/v1/banks/tve/entries/${r.entryId}`)).body;
      expect(entry.picture).toBe(`/api/v1/banks/tve/entries/${r.entryId}/picture`);
      expect(entry.derived).toBeGreaterThan(0);
      const res = await fetch(`${t.httpUrl}${entry.picture}`, { headers: { authorization: `Bearer ${t.moderatorToken}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      const jpeg = Buffer.from(await res.arrayBuffer());
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      const other = await t.api.post<{ ids: string[] }>('/api/v1/banks/tve/entries', { entries: [{ hash: hex(3) }] });
      const none = await t.mod.get(`/api/v1/banks/tve/entries/${other.body.ids[0]}/picture`);
      expect(none.status).toBe(404);
    });

    it('accounts are found by handle prefix or identity subject, by state, a page at a time', async () => {
      for (const h of ['river', 'rivet', 'riviera', 'moth', 'mothra']) await t.account(h, { subject: h.startsWith('moth') ? 'person-moth' : `person-${h}` });
      await t.account('unverified1', { verified: false });
      await t.api.post('/api/v1/accounts/rivet/suspend', { reason: 'spam', durationSeconds: 3600 });
      const page1 = await t.mod.get<{ accounts: Array<{ handle: string; suspended: boolean }>; next: string | null }>('/api/v1/accounts?q=RIV&limit=2');
      expect(page1.body.accounts.map((a) => a.handle)).toEqual(['river', 'rivet']);
      expect(page1.body.accounts[1]!.suspended).toBe(true);
      const page2 = await t.mod.get<{ accounts: Array<{ handle: string }>; next: string | null }>(`/api/v1/accounts?q=riv&limit=2&after=${page1.body.next}`);
      expect(page2.body).toMatchObject({ accounts: [{ handle: 'riviera' }], next: null });
      const person = await t.mod.get<{ accounts: Array<{ handle: string; identity: { subject: string } }> }>('/api/v1/accounts?q=person-moth');
      expect(person.body.accounts.map((a) => a.handle)).toEqual(['moth', 'mothra']);
      expect((await t.mod.get<{ accounts: unknown[] }>('/api/v1/accounts?subject=person-moth')).body.accounts).toHaveLength(2);
      expect((await t.mod.get<{ accounts: Array<{ handle: string }> }>('/api/v1/accounts?suspended=true')).body.accounts.map((a) => a.handle)).toEqual([
        'rivet',
      ]);
      expect((await t.mod.get<{ accounts: Array<{ handle: string }> }>('/api/v1/accounts?status=unverified')).body.accounts.map((a) => a.handle)).toEqual([
        'unverified1',
      ]);
      // A LIKE wildcard in the query is the person's text.
      expect((await t.mod.get<{ accounts: unknown[] }>('/api/v1/accounts?q=%25')).body.accounts).toEqual([]);
      expect((await t.mod.get('/api/v1/accounts?status=gone')).body).toMatchObject({ error: 'invalid_request', field: 'query.status' });
      expect((await t.anon.get('/api/v1/accounts')).status).toBe(401);
      expect((await t.mod.get<{ id: string }>('/api/v1/accounts/river')).body.id).toMatch(/^acc_/);
    });

    it("a stream's stored signals are paged oldest first, and a stream that is not live has no recent samples", async () => {
      const acc = await t.account('kestrel');
      const accountId = (await t.mod.get<{ id: string }>('/api/v1/accounts/kestrel')).body.id;
      void acc;
      const db = t.gw.store.db;
      await db
        .insertInto('streams')
        .values({
          id: 'str_test1',
          account_id: accountId,
          key_id: null,
          protocol: 'rtmp',
          remote_addr: null,
          started_at: 1000,
          ended_at: 9000,
          end_reason: 'cut',
          end_detail: null,
          node_id: 'n',
          server: null,
        })
        .execute();
      const signal = (i: number, extra: object) =>
        JSON.stringify({
          streamId: 'str_test1',
          frameTimeMs: i * 1000,
          observedAt: 1000 + i * 1000,
          source: 'nsfw',
          label: 'unsafe',
          version: 'nsfw@1',
          evidenceRef: null,
          ...extra,
        });
      for (let i = 0; i < 5; i++)
        await db
          .insertInto('signals')
          .values({ stream_id: 'str_test1', account_id: accountId, observed_at: 1000 + i * 1000, body: signal(i, { score: 0.5 + i / 10 }) })
          .execute();
      await db
        .insertInto('signals')
        .values({
          stream_id: 'str_test1',
          account_id: accountId,
          observed_at: 7000,
          body: signal(6, {
            source: 'hash_match',
            label: 'terrorist-violent-extremism',
            evidenceRef: 'live/str_test1/6',
            match: { bank: 'tve', entryId: 'bke_x', distance: 6, variant: 'flipY', category: 'tve', severity: 'critical', frameHash: hex(9), quality: 90 },
          }),
        })
        .execute();
      await db.insertInto('signals').values({ stream_id: 'str_test1', account_id: accountId, observed_at: 8000, body: '{"not":"a signal"}' }).execute();
      const p1 = await t.mod.get<{ signals: Array<{ id: number; score: number | null; match: unknown; evidence: unknown }>; next: number | null }>(
        '/api/v1/streams/str_test1/signals?limit=4',
      );
      expect(p1.status).toBe(200);
      expect(p1.body.signals.map((s) => s.score)).toEqual([0.5, 0.6, 0.7, 0.8]);
      const p2 = await t.mod.get<{ signals: Array<{ match: unknown; evidence: unknown; score: number | null }>; next: number | null }>(
        `/api/v1/streams/str_test1/signals?after=${p1.body.next}`,
      );
      expect(p2.body.signals).toHaveLength(2);
      expect(p2.body.signals[1]).toMatchObject({
        score: null,
        match: { bank: 'tve', entryId: 'bke_x', distance: 6, variant: 'flipY', region: null },
        evidence: { ref: 'live/str_test1/6', image: '/api/v1/evidence/live/str_test1/6' },
      });
      expect(p2.body.next).toBeNull();
      const since = await t.mod.get<{ signals: unknown[] }>(`/api/v1/streams/str_test1/signals?since=${new Date(3000).toISOString()}&until=5000`);
      expect(since.body.signals).toHaveLength(2);
      expect((await t.mod.get('/api/v1/streams/str_nope/signals')).body).toMatchObject({ error: 'not_found' });
      expect((await t.mod.get('/api/v1/streams/str_test1/samples')).body).toEqual({ live: false, samples: [] });
    });
  });
}
