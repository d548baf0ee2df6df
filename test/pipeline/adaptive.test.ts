import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../../classifiers/signal.ts';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { ConfigSchema } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { findFfmpeg } from '../../gateway/media/ffmpeg-path.ts';
import {
  AdaptiveController,
  DEFAULT_ADAPTIVE,
  hotReason,
  initialState,
  observe,
  tick,
  type AdaptiveOptions,
  type ModeChange,
} from '../../gateway/pipeline/adaptive.ts';
import type { Gateway } from '../../gateway/server.ts';
import { writeOnnxFixtures, type OnnxFixtures } from '../fixtures/onnx-fixtures.ts';
import { startPublisher, type Publisher } from '../helpers/ffmpeg-publisher.ts';
import { bankImage, renderKnownImage, sleep, startPipelineGateway, waitFor } from './setup.ts';

const O: AdaptiveOptions = { ...DEFAULT_ADAPTIVE, escalateAt: 0.3, nearDistance: 48, calmForMs: 30_000, warmupMs: 0 };

const score = (streamId: string, value: number, source = 'violence'): Signal => ({
  streamId,
  frameTimeMs: 0,
  observedAt: 0,
  source,
  label: source,
  score: value,
  version: 't@1',
  evidenceRef: null,
});
const match = (streamId: string, distance: number): Signal => ({
  streamId,
  frameTimeMs: 0,
  observedAt: 0,
  source: 'hash_match',
  label: 'terrorist-violent-extremism',
  match: {
    bank: 'tve',
    entryId: 'e1',
    distance,
    variant: 'original',
    category: 'terrorist-violent-extremism',
    severity: 'critical',
    frameHash: '0'.repeat(64),
    quality: 100,
  },
  version: 'banks@1',
  evidenceRef: null,
});
const stall = (streamId: string): Signal => ({ ...score(streamId, 1, 'sampler'), label: 'stall' });

describe('adaptive controller (pure)', () => {
  it('what is hot: scores at or above escalateAt, hash matches within nearDistance; never stalls', () => {
    expect(hotReason(score('s', 0.29), O)).toBeNull();
    expect(hotReason(score('s', 0.3), O)).toMatch(/violence/);
    expect(hotReason(score('s', 0.95, 'nsfw'), O)).toMatch(/nsfw/);
    expect(hotReason(match('s', 0), O)).toMatch(/hash_match d=0/);
    expect(hotReason(match('s', 48), O)).toMatch(/d=48/);
    expect(hotReason(match('s', 49), O)).toBeNull();
    expect(hotReason(stall('s'), O)).toBeNull();
  });

  it('starts in keyframe mode, escalates at once on a hot signal, stays while signals keep coming, calms down after calmForMs', () => {
    let s = initialState(0, O);
    expect(s.mode).toBe('keyframe');
    s = observe(s, score('s', 0.1), 1_000, O);
    expect(s.mode).toBe('keyframe');
    s = observe(s, score('s', 0.4), 2_000, O);
    expect(s).toMatchObject({ mode: 'full', since: 2_000, lastHotAt: 2_000, escalations: 1 });
    // Hysteresis: hot again at 20 s restarts the calm clock.
    s = observe(s, score('s', 0.5), 20_000, O);
    expect(tick(s, 49_999, O).mode).toBe('full');
    // Cool signals do not keep it up.
    s = observe(s, score('s', 0.05), 45_000, O);
    const calm = tick(s, 50_000, O);
    expect(calm).toMatchObject({ mode: 'keyframe', since: 50_000 });
    // And it can escalate again.
    expect(observe(calm, match('s', 10), 51_000, O)).toMatchObject({ mode: 'full', escalations: 2 });
  });

  it('unchanged state is returned as the same object (cheap to ignore)', () => {
    const s = initialState(0, O);
    expect(observe(s, score('s', 0.1), 1, O)).toBe(s);
    expect(tick(s, 1e9, O)).toBe(s);
  });

  it('warm-up: full rate for the first warmupMs, then down unless hot', () => {
    const o = { ...O, warmupMs: 10_000, calmForMs: 5_000 };
    let s = initialState(0, o);
    expect(s.mode).toBe('full');
    expect(tick(s, 9_999, o).mode).toBe('full');
    expect(tick(s, 10_000, o).mode).toBe('keyframe');
    s = observe(s, score('s', 0.9), 8_000, o);
    expect(tick(s, 12_999, o).mode).toBe('full');
    expect(tick(s, 13_000, o).mode).toBe('keyframe');
  });

  it('controller: per-stream modes and mode changes; unknown streams ignored; tick returns calm-downs', () => {
    const c = new AdaptiveController({ calmForMs: 5_000 });
    expect(c.add('a', 0)).toBe('keyframe');
    expect(c.add('b', 0)).toBe('keyframe');
    expect(c.observe(score('zz', 1), 1)).toEqual([]);
    expect(c.observe(score('a', 0.2), 100)).toEqual([]);
    const up = c.observe(match('a', 20), 200);
    expect(up).toEqual<ModeChange[]>([{ streamId: 'a', mode: 'full', reason: 'hash_match d=20', at: 200 }]);
    expect(c.observe(score('a', 0.9), 300)).toEqual([]); // already full
    expect(c.mode('a')).toBe('full');
    expect(c.mode('b')).toBe('keyframe');
    expect(c.tick(5_299)).toEqual([]);
    expect(c.tick(5_300)).toEqual([expect.objectContaining({ streamId: 'a', mode: 'keyframe' })]);
    expect(c.stats()).toMatchObject({ streams: 2, escalated: 0, escalations: 1, deescalations: 1 });
    c.remove('a');
    expect(c.mode('a')).toBeUndefined();
  });

  it('capacity guard: at maxEscalated a new escalation pre-empts a stream calm for ≥ 5 s, else waits and is counted', () => {
    const c = new AdaptiveController({ calmForMs: 60_000, maxEscalated: 1 });
    c.add('a', 0);
    c.add('b', 0);
    c.observe(score('a', 0.5), 1_000);
    // b hot 2 s later: a was hot too recently to give way.
    expect(c.observe(score('b', 0.5), 3_000)).toEqual([]);
    expect(c.stats()).toMatchObject({ escalated: 1, refused: 1 });
    expect(c.mode('b')).toBe('keyframe');
    // b hot again at 7 s: a has been calm for 6 s, b takes its place.
    const changes = c.observe(score('b', 0.5), 7_000);
    expect(changes.map((x) => [x.streamId, x.mode])).toEqual([
      ['a', 'keyframe'],
      ['b', 'full'],
    ]);
    expect(c.stats()).toMatchObject({ escalated: 1, preempted: 1 });
    // maxEscalated 0: adaptive never escalates (keyframe-only with stats).
    const none = new AdaptiveController({ maxEscalated: 0 });
    none.add('x', 0);
    expect(none.observe(match('x', 0), 1)).toEqual([]);
    expect(none.stats().refused).toBe(1);
  });

  it('undefined options keep their defaults; bad options are refused', () => {
    expect(new AdaptiveController({ maxEscalated: undefined }).opts.maxEscalated).toBe(Number.POSITIVE_INFINITY);
    expect(() => new AdaptiveController({ escalateAt: 2 })).toThrow(RangeError);
  });

  it('config: sampling.mode adaptive with thresholds validates; defaults are in place', () => {
    const c = ConfigSchema.parse({ sampling: { mode: 'adaptive', adaptive: { escalateAt: 0.4 } } });
    expect(c.sampling.mode).toBe('adaptive');
    expect(c.sampling.adaptive).toMatchObject({ escalateAt: 0.4, nearDistance: 48, calmForMs: 30_000, warmupMs: 0 });
    expect(ConfigSchema.parse({}).sampling.adaptive.calmForMs).toBe(30_000);
    expect(() => ConfigSchema.parse({ sampling: { mode: 'sometimes' } })).toThrow();
  });
});

const ffmpeg = await findFfmpeg();
if (!ffmpeg) console.warn('skipping adaptive end-to-end tests: no ffmpeg found');

describe.skipIf(!ffmpeg)('adaptive sampling end to end (real ffmpeg over RTMP)', () => {
  let dir: string;
  let gw: Gateway;
  let fixtures: OnnxFixtures;
  let image: string;
  const keys: Record<string, string> = {};
  const publishers: Publisher[] = [];
  const changes: Array<ModeChange & { handle?: string }> = [];
  let opToken = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-adaptive-'));
    fixtures = await writeOnnxFixtures();
    image = await renderKnownImage(ffmpeg!.path, path.join(dir, 'known.png'));
    gw = await startPipelineGateway(dir, {
      sampling: { mode: 'adaptive', adaptive: { calmForMs: 30_000 } },
      // The red detector: violence = sigmoid(8·(meanR − meanG) − 2): slate blue ~0.16, red ~1.
      classifiers: { models: [fixtures.redNchw] },
    });
    gw.watcher!.onModeChange((c) => changes.push(c));
    const db = gw.store.db;
    opToken = (await issueToken(db, 'test', 'op', 'operator')).token;
    for (const handle of ['benign', 'banked', 'redder', 'longgop']) {
      await addAccount(db, { id: 'test' }, { handle, verified: true, subject: `person-${handle}` });
      keys[handle] = (await issueKey(db, { id: 'test' }, handle)).key;
    }
    await gw.gate.refresh();
    await bankImage(db, image);
    await gw.banks.refresh();
  });

  afterAll(async () => {
    for (const p of publishers) await p.stop();
    await gw?.stop();
    await fixtures?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = (handle: string, extra: Partial<Parameters<typeof startPublisher>[0]>, durationSec = 90): Publisher => {
    const p = startPublisher({
      ffmpegPath: ffmpeg!.path,
      url: `rtmp://127.0.0.1:${gw.rtmpPort}/live/${keys[handle]}`,
      width: 640,
      height: 360,
      durationSec,
      gopSec: 2,
      pattern: { color: 'darkslateblue' },
      ...extra,
    });
    publishers.push(p);
    return p;
  };
  it('a benign stream stays in keyframe mode; banked content and a stream turning red are escalated to full rate and cut', async () => {
    const benign = publish('benign', {});
    const banked = publish('banked', { image: { path: image, afterSec: 7, transform: 'hflip' } });
    const redder = publish('redder', { switchColor: { afterSec: 7, color: 'red' } });
    // Keyframes 6 s apart (longer than the 4 s limit): watching only them would leave 6 s unseen.
    const longgop = publish('longgop', { gopSec: 6 });
    const liveId = async (handle: string) => gw.registry.list().find((s) => s.handle === handle)?.id;
    const ids: Record<string, string> = {};
    for (const h of ['benign', 'banked', 'redder', 'longgop']) ids[h] = await waitFor(() => liveId(h), 30_000, `${h} to go live`);

    const [bankedExit, redExit] = await Promise.all([
      Promise.race([banked.done, sleep(60_000).then(() => null)]),
      Promise.race([redder.done, sleep(60_000).then(() => null)]),
    ]);
    expect(bankedExit, 'banked publisher disconnected').not.toBeNull();
    expect(redExit, 'red publisher disconnected').not.toBeNull();
    expect(bankedExit!.code).not.toBe(0);
    expect(redExit!.code).not.toBe(0);

    // Escalated from keyframe mode (the only way to a 'full' change), by the signal kind expected.
    const up = (h: string) => changes.find((c) => c.streamId === ids[h] && c.mode === 'full');
    // A banked picture on a keyframe usually cuts at once (the keyframe itself matches); if the stream was
    // escalated first, it was for the near match.
    const bankedUp = up('banked');
    if (bankedUp) expect(bankedUp.reason).toMatch(/hash_match/);
    expect(up('redder')?.reason).toMatch(/violence/);
    const decisions = await gw.store.db.selectFrom('decisions').select(['stream_id', 'rule_id']).execute();
    const rules = (h: string) => decisions.filter((d) => d.stream_id === ids[h]).map((d) => d.rule_id);
    expect(rules('banked')).toContain('tve-known-content');
    // (graphic-violence-medium, review only, fires first: 2 of 4 frames ≥ 0.6.)
    expect(rules('redder')).toContain('graphic-violence-high');
    expect(rules('benign')).toEqual([]);

    // The benign stream: still live, never escalated, still sampled (keyframes, through the shared
    // decoder: no ffmpeg process of its own).
    const s = gw.watcher!.stats(ids.benign!);
    expect(s).toMatchObject({ mode: 'keyframe', via: 'shared', modeSwitches: 0, pid: null, unwatchable: null });
    expect(s?.framesEmitted).toBeGreaterThan(0);
    expect(gw.watcher!.sampler(ids.benign!)).toBeUndefined();
    expect(changes.some((c) => c.streamId === ids.benign)).toBe(false);
    // The long-GOP stream was handed to a full-rate sampler of its own for good, and is still live.
    expect(gw.watcher!.stats(ids.longgop!)).toMatchObject({ mode: 'full', via: 'ffmpeg', unwatchable: expect.stringMatching(/keyframe interval 6\.\d s/) });
    expect(gw.watcher!.stats(ids.longgop!)!.framesEmitted).toBeGreaterThan(0);
    expect(rules('longgop')).toEqual([]);
    expect(gw.watcher!.adaptiveStats()).toMatchObject({ escalations: 3 });
    // Operators see the same on /metrics: the benign stream on keyframes, the long-GOP one at full rate.
    const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${opToken}` } })).text();
    expect(metrics).toMatch(/modgate_sampled_streams_by_mode\{mode="keyframe",node="[^"]+"\} 1\b/);
    expect(metrics).toMatch(/modgate_sampled_streams_by_mode\{mode="full",node="[^"]+"\} 1\b/);
    expect(metrics).toMatch(/modgate_adaptive_escalations\{kind="cumulative",node="[^"]+"\} 3\b/);
    expect(metrics).toMatch(/modgate_keyframe_decoder_events\{event="decoded",node="[^"]+"\} [1-9]/);
    expect(metrics).toMatch(/modgate_keyframe_decoder_quarantined_streams\{node="[^"]+"\} 0\b/);
    await benign.stop();
    await longgop.stop();
  }, 120_000);
});
