import { describe, expect, it } from 'vitest';
import { fromHex, type PdqHash } from '../../classifiers/pdq.ts';
import { RecentHashes } from '../../classifiers/recent-hashes.ts';
import { withOverlay } from '../../policy/overlay.ts';
import { loadPolicy } from '../../policy/load.ts';
import type { Policy } from '../../policy/schema.ts';
import { flipBits, seededHash } from '../helpers/hashes.ts';

/** Crisis mode's pure parts: the per-stream ring of recent frame hashes (injected times) and the policy overlay. */

const MIN = 60_000;
const T0 = 1_700_000_000_000;
const h = (seed: number): PdqHash => fromHex(seededHash(seed));

describe('recent frame hashes (retroactive scan)', () => {
  it('a picture two minutes ago in keyframe mode (one hash per 2 s): found on the live stream and on one that ended since; gone after the window', () => {
    const r = new RecentHashes({ windowMs: 10 * MIN });
    const picture = seededHash(1);
    // Both streams show the picture for 6 s from T0 (keyframes every 2 s), then other scenes.
    for (let t = 0; t < 6_000; t += 2_000) {
      r.record('live', fromHex(flipBits(picture, 3)), 90, T0 + t, t);
      r.record('ended', fromHex(picture), 90, T0 + t, t);
    }
    for (let t = 6_000; t < 2 * MIN; t += 2_000) r.record('live', h(100 + t), 90, T0 + t, t);
    r.record('other', h(5), 90, T0, 0);
    r.end('ended', T0 + 30_000);

    const hits = r.scan(fromHex(picture), 31, T0 + 2 * MIN);
    expect(hits.map((x) => [x.streamId, x.distance, x.endedAt])).toEqual([
      ['ended', 0, T0 + 30_000],
      ['live', 3, null],
    ]);
    // Equally close keyframes: the first is named.
    expect(hits[1]!.firstSeenAt).toBe(T0);
    expect(hits[1]!.mediaTimeMs).toBe(0);
    // Ten minutes after it was last shown it is out of the window; the ended stream is dropped once its window is over.
    expect(r.scan(fromHex(picture), 31, T0 + 4_000 + 10 * MIN + 1)).toEqual([]);
    expect(r.prune(T0 + 30_000 + 10 * MIN + 1)).toBe(1);
    expect(r.size('ended')).toBe(0);
  });

  it('a still scene is merged (one entry per minIntervalMs), a scene change is always kept; the ring is bounded and says when it overflowed', () => {
    const r = new RecentHashes({ windowMs: 10 * MIN, minIntervalMs: 500, mergeDistance: 8, maxPerStream: 10 });
    const still = seededHash(2);
    for (let i = 0; i < 10; i++) r.record('s', fromHex(flipBits(still, i % 3)), 90, T0 + i * 100, i * 100); // 10 fps for 1 s
    expect(r.size('s')).toBe(2);
    expect(r.last('s')!.lastSeenAt).toBe(T0 + 900);
    r.record('s', h(3), 90, T0 + 950, 950); // a flash: another scene, 50 ms later
    expect(r.size('s')).toBe(3);
    for (let i = 0; i < 20; i++) r.record('s', h(200 + i), 90, T0 + 1_000 + i * 1_000, 1_000 + i * 1_000);
    expect(r.size('s')).toBe(10);
    expect(r.stats().overflowed).toBe(1);
    expect(r.scan(fromHex(still), 31, T0 + 30_000)).toEqual([]);
    expect(r.scan(h(219), 0, T0 + 30_000).map((x) => x.streamId)).toEqual(['s']);
  });

  it('a short stream holds a ring of its size, not of maxPerStream: 1,000 ended 5-hash streams hold 16 slots each; a long one grows to the bound and wraps', () => {
    // An hour's window, so that all of the long stream below is inside it.
    const r = new RecentHashes({ windowMs: 60 * MIN, maxPerStream: 2_400, minIntervalMs: 0 });
    for (let s = 0; s < 1_000; s++) {
      for (let k = 0; k < 5; k++) r.record(`short${s}`, h(s * 10 + k), 90, T0 + k * 2_000, k * 2_000, k === 4 ? h(9_000_000 + s) : undefined);
      r.end(`short${s}`, T0 + 10_000);
    }
    // 16 slots: 8 hash words, 3 times and a quality each, and the trimmed hash of the one letterboxed frame.
    const perSlot = 8 * 4 + 3 * 8 + 1;
    expect(r.bytes('short0')).toBe(16 * perSlot + 16 * (8 * 4 + 1));
    expect(r.bytes()).toBe(1_000 * r.bytes('short0'));
    // Before: 2,400 slots each from the first hash, ~137 KiB a stream held ten minutes past its end.
    expect(r.bytes()).toBeLessThan((1_000 * 2_400 * perSlot) / 50);
    // A long stream: every hash is kept in order while it grows, then the ring wraps at 2,400 as before.
    for (let k = 0; k < 3_000; k++) r.record('long', h(50_000 + k), 90, T0 + k * 1_000, k * 1_000, k === 10 ? h(7) : undefined);
    expect(r.size('long')).toBe(2_400);
    expect(r.bytes('long')).toBe(2_400 * perSlot + 2_400 * (8 * 4 + 1));
    expect(r.last('long')!.mediaTimeMs).toBe(2_999_000);
    const found = r.scan(h(50_000 + 700), 0, T0 + 3_000_000);
    expect(found.map((x) => [x.streamId, x.mediaTimeMs])).toEqual([['long', 700_000]]);
    expect(r.scan(h(50_000 + 500), 0, T0 + 3_000_000)).toEqual([]); // overwritten when it wrapped
    expect(r.scan(h(40), 0, T0 + 3_000_000).map((x) => x.streamId)).toEqual(['short4']);
    expect(r.stats().overflowed).toBe(1);
  });

  it("a letterboxed stream's inner picture is kept beside its whole frame and found by the scan (region: trimmed)", () => {
    const r = new RecentHashes({ windowMs: 10 * MIN, minIntervalMs: 500, mergeDistance: 8 });
    const picture = seededHash(40);
    // The whole frame carries the bars (far from the banked picture); the inside of the bars is the picture.
    for (let t = 0; t < 4_000; t += 2_000) r.record('letterboxed', h(41), 90, T0 + t, t, fromHex(flipBits(picture, 2)));
    r.record('plain', h(42), 90, T0, 0);
    const [hit, ...rest] = r.scan(fromHex(picture), 31, T0 + MIN);
    expect(rest).toEqual([]);
    expect(hit).toMatchObject({ streamId: 'letterboxed', distance: 2, region: 'trimmed', firstSeenAt: T0 });
    expect(hit!.frameHash).toEqual(fromHex(flipBits(picture, 2)));
    // The whole frame still matches as itself.
    expect(r.scan(h(41), 0, T0 + MIN)).toEqual([expect.objectContaining({ streamId: 'letterboxed', region: 'full' })]);
    expect(r.scan(h(42), 0, T0 + MIN)).toEqual([expect.objectContaining({ streamId: 'plain', region: 'full' })]);
    // Same bars, another picture inside them 100 ms later: a new entry, not merged into the last one.
    r.record('letterboxed', h(41), 90, T0 + 4_100, 4_100, h(43));
    expect(r.size('letterboxed')).toBe(3);
    expect(r.scan(h(43), 0, T0 + MIN)).toEqual([expect.objectContaining({ streamId: 'letterboxed', region: 'trimmed', firstSeenAt: T0 + 4_100 })]);
    // The bars go (no trimmed hash): that slot holds none, and nothing matches the inner picture there.
    r.record('letterboxed', h(44), 90, T0 + 6_000, 6_000);
    expect(r.scan(h(44), 0, T0 + MIN)).toEqual([expect.objectContaining({ region: 'full', firstSeenAt: T0 + 6_000 })]);
  });

  it('the scan agrees with a naive scan of every kept hash (random streams)', () => {
    const r = new RecentHashes({ windowMs: 10 * MIN, minIntervalMs: 0 });
    const kept: Array<{ id: string; hex: string }> = [];
    for (let s = 0; s < 30; s++)
      for (let i = 0; i < 40; i++) {
        const hex = i === 7 && s % 4 === 0 ? flipBits(seededHash(9), s % 20) : seededHash(1000 + s * 100 + i);
        kept.push({ id: `s${s}`, hex });
        r.record(`s${s}`, fromHex(hex), 80, T0 + i * 1000, i * 1000);
      }
    const q = fromHex(seededHash(9));
    const naive = new Map<string, number>();
    for (const k of kept) {
      const d = [...fromHex(k.hex)].reduce((n, w, i) => n + [...((w ^ q[i]!) >>> 0).toString(2)].filter((b) => b === '1').length, 0);
      if (d <= 31 && d < (naive.get(k.id) ?? 999)) naive.set(k.id, d);
    }
    const got = new Map(r.scan(q, 31, T0 + 60_000).map((x) => [x.streamId, x.distance]));
    expect(got).toEqual(naive);
    expect(got.size).toBe(8);
  });
});

const parse = (text: string): Policy => {
  const r = loadPolicy(text, 'yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
};

describe('crisis policy overlay', () => {
  const base = parse(`version: 1
name: base
rules:
  - { id: a, description: a, severity: low, match: { source: violence, minScore: 0.9 }, actions: { review: {} } }
  - { id: b, description: b, severity: low, match: { source: nsfw, minScore: 0.9 }, actions: { review: {} } }
stall:
  - { id: st, source: sampler, afterSeconds: 30, mode: fail_open }
`);
  const overlay = parse(`version: crisis-1
name: crisis
rules:
  - { id: strict, description: s, severity: high, match: { source: violence, minScore: 0.5 }, actions: { cut: true } }
  - { id: b, description: b stricter, severity: low, match: { source: nsfw, minScore: 0.7 }, actions: { review: {} } }
stall:
  - { id: st, source: sampler, afterSeconds: 10, mode: fail_closed }
`);
  it("the overlay's rules come first, replace the base's by id, and the decisions name both versions", () => {
    const p = withOverlay(base, overlay);
    expect(p.rules.map((r) => [r.id, r.description])).toEqual([
      ['strict', 's'],
      ['b', 'b stricter'],
      ['a', 'a'],
    ]);
    expect(p.stall).toEqual([expect.objectContaining({ id: 'st', mode: 'fail_closed', afterSeconds: 10 })]);
    expect([p.name, p.version]).toEqual(['base+crisis', '1+crisis-1']);
    expect(base.rules.map((r) => r.id)).toEqual(['a', 'b']);
  });
});

describe('full-rate sampling for an incident (adaptive controller)', () => {
  it("pinned with the incident's reason: never calmed down; unpinned at its end, it calms down calmForMs later; another reason's pin stays", async () => {
    const { AdaptiveController } = await import('../../gateway/pipeline/adaptive.ts');
    const c = new AdaptiveController({ calmForMs: 2_000 });
    c.add('a', 0);
    c.add('b', 0);
    expect(c.mode('a')).toBe('keyframe');
    c.pin('a', 1_000, 'incident inc_1');
    c.pin('b', 1_000, 'viewer report');
    expect(c.tick(60_000)).toEqual([]);
    expect([c.mode('a'), c.mode('b')]).toEqual(['full', 'full']);
    c.unpin('a', 'incident inc_1', 60_000);
    c.unpin('b', 'incident inc_1', 60_000);
    expect(c.tick(61_000)).toEqual([]);
    expect(c.tick(62_000).map((x) => [x.streamId, x.mode])).toEqual([['a', 'keyframe']]);
    expect(c.mode('b')).toBe('full');
  });
});
