import { describe, expect, it } from 'vitest';
import type { BankEntryRecord } from '../../classifiers/bank-store.ts';
import type { Frame } from '../../classifiers/frame.ts';
import type { FrameClassifier, FrameFindings } from '../../classifiers/frame-classifier.ts';
import { HASH_SUPPRESSED_SOURCE } from '../../classifiers/hash-matcher.ts';
import { fromHex } from '../../classifiers/pdq.ts';
import { matchableFrames, parseVpdqFrames, serializeVpdqFrames, type VpdqFrame } from '../../classifiers/vpdq/frames.ts';
import { sceneNumbers, VideoBankIndex } from '../../classifiers/vpdq/bank-index.ts';
import { VIDEO_MATCH_SOURCE, VideoMatcher } from '../../classifiers/vpdq/matcher.ts';
import { VideoWindows } from '../../classifiers/vpdq/window.ts';
import { flipBits, seededHash } from '../helpers/hashes.ts';
import { MemoryBankStore } from '../helpers/memory-bank-store.ts';

/**
 * vPDQ on a live stream: the window matcher's geometry (80 % of the window's distinct frames, the minimum
 * frame count, frames leaving the window, vPDQ's dedupe), the video index (distance 31 in, 32 out, one hit
 * per entry) and the matcher over both (quality filter, suppression, signal shape).
 */

const windows = (o: Partial<ConstructorParameters<typeof VideoWindows>[0]> = {}) =>
  new VideoWindows({ windowMs: 10_000, minFrames: 3, minScenes: 3, matchPercent: 80, ...o });

/** Pushes frames 1 s apart from t0; `m` marks the ones matching entry `v`. Returns the last push's answer. */
function feed(w: VideoWindows, pattern: string, t0 = 0, stream = 's') {
  let last: ReturnType<VideoWindows['push']> = [];
  [...pattern].forEach((c, i) => {
    last = w.push(stream, t0 + i * 1000, `${stream}-${t0 + i}`, c === 'm' ? ['v'] : []);
  });
  return last;
}

describe('rolling window (vPDQ query_match_percent on the last N seconds)', () => {
  it('matches at exactly 80 % of the distinct frames and not one frame below', () => {
    expect(feed(windows(), 'xmmmm')).toEqual([{ entryId: 'v', matched: 4, distinct: 5, frames: 5, scenes: 4, fraction: 0.8, spanMs: 4000 }]);
    expect(feed(windows(), 'xxmmm')).toEqual([]); // 60 %
    expect(feed(windows(), 'xxmmmmmmmm').map((m) => m.fraction)).toEqual([0.8]); // 8 of 10
    expect(feed(windows(), 'xxxmmmmmmm')).toEqual([]); // 7 of 10
  });

  it('needs minFrames frames: two matching frames are no video yet, the third is', () => {
    const w = windows();
    expect(feed(w, 'mm')).toEqual([]);
    expect(w.push('s', 2000, 'third', ['v'])).toMatchObject([{ matched: 3, frames: 3, fraction: 1 }]);
  });

  it('forgets frames older than the window, so the match comes once the unrelated frames have left', () => {
    const w = windows({ windowMs: 5_000 });
    // 5 unrelated seconds, then the video: at t=7 s the window (2..7 s] holds x,x,m,m,m → 3 of 5.
    expect(feed(w, 'xxxxxmmm')).toEqual([]);
    expect(w.size('s')).toBe(5);
    // t=8 s: (3..8 s] holds x,m,m,m,m: 4 of 5 = 80 %.
    expect(w.push('s', 8000, 'm8', ['v'])).toMatchObject([{ matched: 4, distinct: 5, spanMs: 4000 }]);
  });

  it('counts a repeated hash once, as vPDQ dedupes: a still frame that matches is not 90 % of a window', () => {
    const w = windows();
    for (let i = 0; i < 9; i++) w.push('s', i * 500, 'still', ['v']);
    expect(w.push('s', 4500, 'other', [])).toEqual([]); // 1 of 2 distinct
    expect(windows().push('s', 0, 'a', ['v'])).toEqual([]);
    // The same still three times is one distinct hash of one scene: no video.
    const still = windows();
    for (let i = 0; i < 3; i++) expect(still.push('s', i * 500, 'still', ['v'])).toEqual([]);
  });

  it("a held picture of the banked video (an intro card, a logo) is one scene: its re-encoded live hashes never make a video match, the video's moving scenes do", () => {
    // Ten slightly different live hashes of one card, each matching the entry's scene 0: 100 % of the window, one scene.
    const card = windows();
    for (let i = 0; i < 10; i++) expect(card.push('s', i * 100, `card-${i}`, ['v'], [0])).toEqual([]);
    // The footage after it: frames matching scenes 1 and 2 as well make three scenes.
    expect(card.push('s', 1000, 'shot-1', ['v'], [1])).toEqual([]);
    expect(card.push('s', 1100, 'shot-2', ['v'], [2])).toMatchObject([{ entryId: 'v', matched: 12, scenes: 3, fraction: 1 }]);
    // And a scene leaving the window takes its count with it.
    const short = windows({ windowMs: 1_000 });
    short.push('s', 0, 'a', ['v'], [0]);
    short.push('s', 500, 'b', ['v'], [1]);
    expect(short.push('s', 900, 'c', ['v'], [2])).toHaveLength(1);
    expect(short.push('s', 1200, 'd', ['v'], [2])).toEqual([]); // scene 0 left: scenes 1 and 2 only
  });

  it("groups a banked video's frames into scenes where the picture moves more than the match distance", () => {
    const a = seededHash(1);
    const b = seededHash(2);
    // a, a±10 bits, a±20 bits (all within 31 of a), then b, b±5, then a again: three scenes.
    expect(sceneNumbers([a, flipBits(a, 10), flipBits(a, 20), b, flipBits(b, 5), a].map(fromHex))).toEqual([0, 0, 0, 1, 1, 2]);
    expect(sceneNumbers([])).toEqual([]);
  });

  it('keeps streams apart, and starts over when media time goes back (a new timeline under the same id)', () => {
    const w = windows();
    feed(w, 'mmmm', 0, 'a');
    expect(feed(w, 'xxxx', 0, 'b')).toEqual([]);
    expect(w.push('a', 4000, 'a4', ['v'])).toHaveLength(1);
    expect(w.push('a', 500, 'again', ['v'])).toEqual([]);
    expect(w.size('a')).toBe(1);
  });

  it('holds at most maxFrames per stream and maxStreams streams', () => {
    const w = windows({ maxFrames: 4, maxStreams: 2 });
    feed(w, 'xxxxxxxx');
    expect(w.size('s')).toBe(4);
    w.push('t', 0, 't0', []);
    w.push('u', 0, 'u0', []);
    expect(w.streamCount).toBe(2);
    expect(w.size('s')).toBe(0);
  });

  it('tells several entries apart: each its own share of the window', () => {
    const w = windows();
    const hits = [['v', 'w'], ['v', 'w'], ['v'], ['v', 'w'], ['v', 'w']];
    let last: ReturnType<VideoWindows['push']> = [];
    hits.forEach((e, i) => (last = w.push('s', i * 1000, `f${i}`, e)));
    expect(last.map((m) => [m.entryId, m.fraction])).toEqual([
      ['v', 1],
      ['w', 0.8],
    ]);
  });
});

describe('vPDQ frames as stored', () => {
  it('round-trips compact feature lines and refuses a corrupt one', () => {
    const frames: VpdqFrame[] = [
      { hash: seededHash(1), quality: 100, timestampSec: 0 },
      { hash: seededHash(2), quality: 49, timestampSec: 1 },
    ];
    expect(serializeVpdqFrames(frames)).toBe(`${seededHash(1)},100,0.000\n${seededHash(2)},49,1.000`);
    expect(parseVpdqFrames(serializeVpdqFrames(frames))).toEqual(frames);
    expect(parseVpdqFrames(`${seededHash(1)},100,0.000\nnot a frame`)).toBeNull();
  });

  it("drops frames below quality 50 and repeated hashes, as vpdq_util's quality_filter(dedupe(…))", () => {
    const a = seededHash(1);
    const b = seededHash(2);
    const frames = [
      { hash: a, quality: 80, timestampSec: 0 },
      { hash: a, quality: 80, timestampSec: 1 },
      { hash: b, quality: 49, timestampSec: 2 },
      { hash: seededHash(3), quality: 50, timestampSec: 3 },
    ];
    expect(matchableFrames(frames).map((f) => f.timestampSec)).toEqual([0, 3]);
  });
});

const video = (id: string, hashes: string[], over: Partial<BankEntryRecord> = {}): BankEntryRecord => ({
  id,
  bank: 'videos',
  signalType: 'vpdq',
  hash: `vpdq:${id}`,
  category: 'terrorist-violent-extremism',
  severity: 'critical',
  frames: serializeVpdqFrames(hashes.map((h, i) => ({ hash: h, quality: 90, timestampSec: i }))),
  ...over,
});

async function indexed(entries: BankEntryRecord[], banks: Array<{ name: string; kind?: 'negative' }> = [{ name: 'videos' }]) {
  const store = new MemoryBankStore();
  for (const b of banks) store.putBank({ name: b.name, enabled: true, radius: 31, ...(b.kind ? { kind: b.kind } : {}) });
  for (const e of entries) store.putEntry(e);
  const index = new VideoBankIndex(store);
  await index.loadAll();
  return { store, index };
}

describe('video bank index', () => {
  it('finds an entry by any of its frames within 31 bits, not 32, one hit per entry at its closest frame', async () => {
    const frames = [seededHash(10), seededHash(11), seededHash(12)];
    const { index } = await indexed([video('bke_v1', frames), { ...video('bke_p', []), signalType: 'pdq', hash: seededHash(10), frames: null }]);
    expect(index.entries).toBe(1);
    expect(index.match(fromHex(flipBits(frames[1]!, 31)), 10)).toEqual([{ entryId: 'bke_v1', distance: 31, scene: 1 }]); // three unrelated frames: three scenes
    expect(index.match(fromHex(flipBits(frames[1]!, 32)), 10)).toEqual([]);
    expect(index.match(fromHex(frames[2]!), 10)).toEqual([{ entryId: 'bke_v1', distance: 0, scene: 2 }]);
  });

  it('follows the store: an entry added, one disabled, a corrupt one counted and skipped', async () => {
    const { store, index } = await indexed([video('bke_v1', [seededHash(1)])]);
    store.putEntry(video('bke_v2', [seededHash(2)]));
    store.putEntry({ ...video('bke_bad', []), frames: 'garbage' });
    store.putEntry(video('bke_v1', [seededHash(1)]), false);
    await index.refresh();
    expect(index.match(fromHex(seededHash(1)), 10)).toEqual([]);
    expect(index.match(fromHex(seededHash(2)), 10)).toEqual([{ entryId: 'bke_v2', distance: 0, scene: 0 }]);
    expect(index.stats.corrupt).toBe(1);
  });

  it('holds an entry the flood guard tripped on as quarantined until the store says quarantined or exempt', async () => {
    const { store, index } = await indexed([video('bke_v1', [seededHash(1)]), video('bke_v2', [seededHash(2)], { floodExempt: true })]);
    index.hold('bke_v1');
    expect(index.entry('bke_v1')).toMatchObject({ quarantined: true });
    expect(index.entry('bke_v2')).toMatchObject({ floodExempt: true });
    expect(index.entry('bke_v2')?.quarantined).toBeUndefined();
    // A moderator cleared it: exempt from then on, no longer held.
    store.putEntry(video('bke_v1', [seededHash(1)], { floodExempt: true }));
    await index.refresh();
    expect(index.entry('bke_v1')).toMatchObject({ floodExempt: true });
    expect(index.entry('bke_v1')?.quarantined).toBeUndefined();
  });
});

/** Stands for the hash matcher: its findings carry the frame's whole hash and quality as `pdq` facts. */
class FixedHashes implements FrameClassifier {
  readonly name = 'pdq';
  next: { hash: string; quality: number } = { hash: seededHash(0), quality: 100 };
  classify(): FrameFindings {
    return { signals: [], facts: { pdq: { ...this.next }, matches: [] } };
  }
}

const frame = (t: number, streamId = 'live_1'): Frame => ({ streamId, seq: t, mediaTimeMs: t, receivedAt: t, width: 8, height: 8, rgb: Buffer.alloc(192) });

describe('video matcher on live frames', () => {
  const banked = Array.from({ length: 6 }, (_, i) => seededHash(100 + i));

  it('emits one video_match signal per matched video, score = share of the window, once the window is 80 % the video', async () => {
    const { index } = await indexed([video('bke_v1', banked)]);
    const inner = new FixedHashes();
    const m = new VideoMatcher(inner, index, { minQuality: 50, maxEntriesPerFrame: 8, windowMs: 10_000, minFrames: 3 });
    const out: FrameFindings[] = [];
    // One unrelated frame, then the video re-encoded (a few bits off each frame).
    const shown = [seededHash(999), ...banked.map((h, i) => flipBits(h, 10 + i))];
    shown.forEach((h, i) => {
      inner.next = { hash: h, quality: 90 };
      out.push(m.classify(frame(i * 1000), { observedAt: 1_000_000 + i }) as FrameFindings);
    });
    // Frames 1..3: 1/2, 2/3, 3/4 matched; frame 4 (t=4 s): 4 of 5 = 80 %.
    expect(out.map((f) => f.signals.length)).toEqual([0, 0, 0, 0, 1, 1, 1]);
    const s = out[4]!.signals[0]!;
    expect(s).toMatchObject({ source: VIDEO_MATCH_SOURCE, label: 'terrorist-violent-extremism', score: 0.8, streamId: 'live_1', frameTimeMs: 4000 });
    expect(s.detail).toMatchObject({ bank: 'videos', entryId: 'bke_v1', matchedFrames: 4, distinctFrames: 5, windowFrames: 5, entryFrames: 6 });
    expect(out[6]!.signals[0]!.score).toBeCloseTo(6 / 7);
  });

  it('leaves frames below quality 50 out of the window: they neither match nor dilute it', async () => {
    const { index } = await indexed([video('bke_v1', banked)]);
    const inner = new FixedHashes();
    const m = new VideoMatcher(inner, index, { minQuality: 50, maxEntriesPerFrame: 8, windowMs: 10_000, minFrames: 3 });
    const seen: number[] = [];
    const run = (hash: string, quality: number, t: number) => {
      inner.next = { hash, quality };
      seen.push((m.classify(frame(t), { observedAt: t }) as FrameFindings).signals.length);
    };
    run(banked[0]!, 90, 0);
    run(seededHash(7), 10, 500); // dark, blurry: not part of the window
    run(seededHash(8), 49, 1000);
    run(banked[1]!, 90, 1500);
    run(banked[2]!, 50, 2000);
    expect(seen).toEqual([0, 0, 0, 0, 1]);
    expect(m.windows.size('live_1')).toBe(3);
  });

  it('reports a quarantined video, or one a negative bank also matches, as suppressed', async () => {
    const { index } = await indexed(
      [
        video('bke_q', banked, { quarantined: true }),
        video('bke_ok', banked.slice(0, 3), { bank: 'other' }),
        video('bke_neg', banked.slice(0, 3), { bank: 'neg' }),
      ],
      [{ name: 'videos' }, { name: 'other' }, { name: 'neg', kind: 'negative' }],
    );
    const inner = new FixedHashes();
    const m = new VideoMatcher(inner, index, { minQuality: 50, maxEntriesPerFrame: 8, windowMs: 10_000, minFrames: 3 });
    let last: FrameFindings = { signals: [] };
    banked.slice(0, 3).forEach((h, i) => {
      inner.next = { hash: h, quality: 90 };
      last = m.classify(frame(i * 1000), { observedAt: i }) as FrameFindings;
    });
    expect(last.signals.map((s) => [s.detail?.entryId, s.source, s.detail?.suppressed])).toEqual([
      ['bke_ok', HASH_SUPPRESSED_SOURCE, 'negative_bank'],
      ['bke_q', HASH_SUPPRESSED_SOURCE, 'negative_bank'],
    ]);
  });

  it('passes the hash matcher findings on unchanged and does nothing while no video is banked', async () => {
    const { index } = await indexed([]);
    const inner = new FixedHashes();
    const m = new VideoMatcher(inner, index, { minQuality: 50, maxEntriesPerFrame: 8 });
    expect(m.classify(frame(0), { observedAt: 0 })).toEqual(inner.classify());
    expect(m.stats.lookups).toBe(0);
  });
});
