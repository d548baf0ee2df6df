import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutPoint } from '../../classifiers/bank-index.ts';
import { HASH_SUPPRESSED_SOURCE } from '../../classifiers/hash-matcher.ts';
import { fromHex } from '../../classifiers/pdq.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { VIDEO_MATCH_SOURCE } from '../../classifiers/vpdq/matcher.ts';
import { FloodGuard, type FloodTrip } from '../../gateway/banks/flood-guard.ts';
import { seededHash } from '../helpers/hashes.ts';
import { startTestGateway, waitFor, type TestGateway } from '../helpers/gateway.ts';

/**
 * Bank guards at the service layer, with real signals on a real gateway: the flood guard (50 distinct
 * streams matching one entry within a minute quarantine it and queue it for moderators, who clear or
 * remove it), negative banks, and matching_enabled_ratio.
 */

const matchSignal = (streamId: string, entryId: string, bank: string, hash: string, observedAt: number): Signal => ({
  streamId,
  frameTimeMs: 1000,
  observedAt,
  source: 'hash_match',
  label: 'terrorist-violent-extremism',
  match: { bank, entryId, distance: 0, variant: 'original', category: 'terrorist-violent-extremism', severity: 'critical', frameHash: hash, quality: 100 },
  version: 'banks@1',
  evidenceRef: null,
});

describe('the flood guard (injected clock)', () => {
  const guard = (o: Partial<ConstructorParameters<typeof FloodGuard>[0]> = {}) => {
    let now = 1_000_000;
    const trips: FloodTrip[] = [];
    const held: string[] = [];
    const g = new FloodGuard(
      { enabled: true, windowMs: 60_000, streams: 50, baselineFactor: 10, ...o },
      { now: () => now, hold: (id) => held.push(id), isExempt: () => false, onTrip: (t) => trips.push(t) },
    );
    return { g, trips, held, advance: (ms: number) => (now += ms), now: () => now };
  };
  const h = seededHash(7);

  it('50 distinct streams matching one entry within a minute trip it on the 50th: that match and later ones are held back', () => {
    const t = guard();
    const out = Array.from({ length: 50 }, (_, i) => {
      t.advance(1_000);
      return t.g.filter(matchSignal(`str_${i}`, 'bke_1', 'tve', h, t.now()));
    });
    expect(out.slice(0, 49).every((s) => s.source === 'hash_match')).toBe(true);
    expect(out[49]!.source).toBe(HASH_SUPPRESSED_SOURCE);
    expect(out[49]!.detail).toMatchObject({ suppressed: 'quarantined', quarantineReason: 'flood' });
    expect(t.trips).toHaveLength(1);
    expect(t.trips[0]).toMatchObject({ entryId: 'bke_1', bank: 'tve', streams: 50, threshold: 50, windowMs: 60_000 });
    expect(t.held).toEqual(['bke_1']);
    expect(t.g.filter(matchSignal('str_0', 'bke_1', 'tve', h, t.now())).source).toBe(HASH_SUPPRESSED_SOURCE);
    // Another entry is unaffected.
    expect(t.g.filter(matchSignal('str_0', 'bke_2', 'tve', h, t.now())).source).toBe('hash_match');
  });

  it("counts a banked video's matches like a picture's: 50 streams within a minute trip the video entry", () => {
    const t = guard();
    const videoSignal = (streamId: string): Signal => ({
      streamId,
      frameTimeMs: 4000,
      observedAt: t.now(),
      source: VIDEO_MATCH_SOURCE,
      label: 'terrorist-violent-extremism',
      score: 0.9,
      version: 'vpdq@banks1',
      evidenceRef: null,
      detail: { kind: 'video', bank: 'videos', entryId: 'bke_v1', severity: 'critical', matchedFrames: 9, distinctFrames: 10 },
    });
    const out = Array.from({ length: 50 }, (_, i) => {
      t.advance(1_000);
      return t.g.filter(videoSignal(`str_${i}`));
    });
    expect(out.slice(0, 49).every((s) => s.source === VIDEO_MATCH_SOURCE)).toBe(true);
    expect(out[49]).toMatchObject({ source: HASH_SUPPRESSED_SOURCE, detail: { entryId: 'bke_v1', suppressed: 'quarantined', quarantineReason: 'flood' } });
    expect(t.trips).toEqual([expect.objectContaining({ bank: 'videos', entryId: 'bke_v1', streams: 50 })]);
    expect(t.held).toEqual(['bke_v1']);
    expect(t.g.filter(videoSignal('str_0')).source).toBe(HASH_SUPPRESSED_SOURCE);
  });

  it('the same stream matching again and again, or 50 streams spread over more than the window, trip nothing', () => {
    const t = guard();
    for (let i = 0; i < 500; i++) expect(t.g.filter(matchSignal('str_same', 'bke_1', 'tve', h, t.now())).source).toBe('hash_match');
    for (let i = 0; i < 100; i++) {
      t.advance(2_000); // one new stream every 2 s: at most 30 in any minute
      expect(t.g.filter(matchSignal(`str_${i}`, 'bke_1', 'tve', h, t.now())).source).toBe('hash_match');
    }
    expect(t.trips).toEqual([]);
  });

  it("an entry's own baseline raises its threshold: an entry usually matching 10 streams a window trips at 10x that, not at 50", () => {
    const t = guard({ streams: 20, baselineFactor: 3 });
    // Ten windows of 10 streams each build a baseline near 10 (threshold 3 x ~9 = ~27 > 20).
    for (let w = 0; w < 10; w++) {
      for (let i = 0; i < 10; i++) t.g.filter(matchSignal(`w${w}_s${i}`, 'bke_1', 'tve', h, t.now()));
      t.advance(60_001);
    }
    for (let i = 0; i < 21; i++) expect(t.g.filter(matchSignal(`burst_${i}`, 'bke_1', 'tve', h, t.now())).source).toBe('hash_match');
    expect(t.trips).toEqual([]);
    let tripped = false;
    for (let i = 21; i < 60 && !tripped; i++) tripped = t.g.filter(matchSignal(`burst_${i}`, 'bke_1', 'tve', h, t.now())).source === HASH_SUPPRESSED_SOURCE;
    expect(tripped).toBe(true);
    expect(t.trips[0]!.threshold).toBeGreaterThan(20);
  });
});

describe('bank guards in a gateway', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway();
  });
  afterAll(async () => g?.stop());

  it('50 streams in a minute through the gateway quarantine the entry and queue it; a moderator clears it and it is exempt from then on', async () => {
    const hash = seededHash(11);
    expect((await g.api.post('/api/v1/banks', { name: 'flooded', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const add = await g.api.post<{ ids: string[] }>('/api/v1/banks/flooded/entries', { entries: [{ hash }] });
    const entryId = add.body.ids[0]!;
    const now = Date.now();
    const out = Array.from({ length: 50 }, (_, i) => g.gw.floodGuard.filter(matchSignal(`str_flood_${i}`, entryId, 'flooded', hash, now + i)));
    expect(out.filter((s) => s.source === 'hash_match')).toHaveLength(49);
    // Held at once on this node, before the quarantine is stored:
    expect(g.gw.banks.match([{ variant: 'original', hash: fromHex(hash) }])[0]).toMatchObject({ entryId, quarantined: true });
    const queued = await waitFor(async () => {
      const r = await g.mod.get<{ quarantines: Array<{ id: string; entryId: string; reason: string; detail: { streams: number } }> }>(
        '/api/v1/entry-quarantines',
      );
      return r.body.quarantines.find((q) => q.entryId === entryId);
    });
    expect(queued).toMatchObject({ reason: 'flood', detail: { streams: 50 } });
    await waitFor(() => g.gw.banks.entry(entryId)?.quarantined === true || null);

    const cleared = await g.mod.post<{ status: string }>(`/api/v1/entry-quarantines/${queued.id}/clear`, { reason: 'a real attack spreading, not a bad hash' });
    expect(cleared.status).toBe(200);
    expect(cleared.body.status).toBe('cleared');
    expect((await g.mod.post<{ error: string }>(`/api/v1/entry-quarantines/${queued.id}/clear`, { reason: 'again' })).body.error).toBe('conflict');
    expect(g.gw.banks.entry(entryId)).toMatchObject({ floodExempt: true });
    expect(g.gw.banks.match([{ variant: 'original', hash: fromHex(hash) }])[0]!.quarantined).toBeUndefined();
    // Exempt: 50 more streams cut as usual.
    const again = Array.from({ length: 60 }, (_, i) => g.gw.floodGuard.filter(matchSignal(`str_more_${i}`, entryId, 'flooded', hash, Date.now())));
    expect(again.every((s) => s.source === 'hash_match')).toBe(true);
    const audit = await g.api.get<{ records: Array<{ action: string }> }>('/api/v1/audit?limit=50');
    expect(audit.body.records.map((e) => e.action)).toEqual(expect.arrayContaining(['bank.entry.quarantine', 'bank.entry.quarantine.clear']));
  });

  it('a quarantine a moderator removes disables the entry', async () => {
    const hash = seededHash(12);
    expect((await g.api.post('/api/v1/banks', { name: 'flooded2', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const entryId = (await g.api.post<{ ids: string[] }>('/api/v1/banks/flooded2/entries', { entries: [{ hash }] })).body.ids[0]!;
    for (let i = 0; i < 50; i++) g.gw.floodGuard.filter(matchSignal(`str_rm_${i}`, entryId, 'flooded2', hash, Date.now()));
    const q = await waitFor(async () =>
      (await g.mod.get<{ quarantines: Array<{ id: string; entryId: string }> }>('/api/v1/entry-quarantines')).body.quarantines.find(
        (x) => x.entryId === entryId,
      ),
    );
    expect((await g.mod.post(`/api/v1/entry-quarantines/${q.id}/remove`, { reason: 'a black frame banked by mistake' })).status).toBe(200);
    expect(g.gw.banks.match([{ variant: 'original', hash: fromHex(hash) }])).toEqual([]);
    const removed = (await g.mod.get<{ quarantines: Array<{ id: string; status: string }> }>('/api/v1/entry-quarantines?status=removed')).body.quarantines;
    expect(removed.map((x) => x.id)).toContain(q.id);
  });

  it("a negative bank marks its matches negative; matching_enabled_ratio rolls content out by its id, shown in /c/banks with HMA's shape", async () => {
    const hash = seededHash(13);
    expect((await g.api.post('/api/v1/banks', { name: 'pos', category: 'terrorist-violent-extremism' })).status).toBe(201);
    expect((await g.api.post('/api/v1/banks', { name: 'neg', category: 'benign', kind: 'negative' })).status).toBe(201);
    for (const b of ['pos', 'neg']) expect((await g.api.post(`/api/v1/banks/${b}/entries`, { entries: [{ hash }] })).status).toBe(200);
    const hits = g.gw.banks.match([{ variant: 'original', hash: fromHex(hash) }]);
    expect(hits.find((m) => m.bank === 'neg')?.negative).toBe(true);
    expect(hits.find((m) => m.bank === 'pos')?.negative).toBeUndefined();
    const banks = (await g.api.get<{ banks: Array<{ name: string; kind: string; matching_enabled_ratio: number }> }>('/api/v1/banks')).body.banks;
    expect(banks.find((b) => b.name === 'neg')).toMatchObject({ kind: 'negative', matching_enabled_ratio: 1 });

    // Ratio: 200 entries, 30 % rolled out; which ones is decided by the content id, the same on every lookup.
    expect((await g.api.post('/api/v1/banks', { name: 'rollout', category: 'terrorist-violent-extremism' })).status).toBe(201);
    const hashes = Array.from({ length: 200 }, (_, i) => seededHash(1000 + i));
    const ids = (await g.api.post<{ ids: string[] }>('/api/v1/banks/rollout/entries', { entries: hashes.map((x) => ({ hash: x })) })).body.ids;
    const put = await g.api.request<{ name: string; matching_enabled_ratio: number }>('PUT', '/c/bank/rollout', { matching_enabled_ratio: 0.3 });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ name: 'rollout', matching_enabled_ratio: 0.3 });
    const hma = (await g.mod.get<Array<{ name: string; matching_enabled_ratio: number }>>('/c/banks')).body;
    expect(hma.find((b) => b.name === 'rollout')).toEqual({ name: 'rollout', matching_enabled_ratio: 0.3 });
    const inside = (h: string) => {
      const m = g.gw.banks.match([{ variant: 'original', hash: fromHex(h) }]).find((x) => x.bank === 'rollout');
      return m !== undefined && !m.outsideRollout;
    };
    const rolled = hashes.filter(inside);
    expect(rolled.length).toBeGreaterThan(30);
    expect(rolled.length).toBeLessThan(90);
    // Exactly the entries whose id falls under the ratio; the same answer again.
    const byId = new Map(hashes.map((x, i) => [x, ids[i]!]));
    expect(rolled).toEqual(hashes.filter((x) => rolloutPoint(byId.get(x)!) < 0.3));
    expect(hashes.filter(inside)).toEqual(rolled);
    // HMA's lookup leaves out content outside the rollout unless bypass_coinflip.
    const out = hashes.find((x) => !inside(x))!;
    expect((await g.mod.get<Record<string, unknown[]>>(`/m/lookup?signal_type=pdq&signal=${out}`)).body.rollout).toBeUndefined();
    expect((await g.mod.get<Record<string, unknown[]>>(`/m/lookup?signal_type=pdq&signal=${out}&bypass_coinflip=true`)).body.rollout).toHaveLength(1);
  });
});
