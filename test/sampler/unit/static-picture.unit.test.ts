import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../../../classifiers/signal.ts';
import { HashMatcher } from '../../../classifiers/hash-matcher.ts';
import { ClassifierStage } from '../../../classifiers/stage.ts';
import { FrameLiveness } from '../../../gateway/sampler/liveness.ts';
import { Sampler } from '../../../gateway/sampler/sampler.ts';
import { createStreamState, step, tick, type Decision, type EngineContext } from '../../../policy/engine.ts';
import { EMPTY_HISTORY } from '../../../policy/history.ts';
import { loadPolicy } from '../../../policy/load.ts';
import { FAKE_FFMPEG, fakeLauncher } from './fake-ffmpeg.ts';
import { FakeTimers } from './fake-timers.ts';

/**
 * A stream whose picture never changes is not a stalled sampler. The path the gateway runs
 * (gateway/pipeline/watcher.ts): sampler frames → classifier stage (the real PDQ matcher, an empty bank,
 * no ONNX model) → the sampler's sign of life (liveness.ts) → the policy engine with the shipped default
 * policy (sampler-stall: review after 30 s), ticked every second like gateway/enforcement/policy-runner.ts.
 * Everything on a fake clock with a scripted ffmpeg, so minutes of stream take milliseconds.
 */

const W = 64;
const H = 64;
const policyText = readFileSync(new URL('../../../policy/default.yaml', import.meta.url), 'utf8');
const loaded = loadPolicy(policyText, 'yaml');
if (!loaded.ok) throw new Error('the default policy does not load');
const POLICY = loaded.policy;

/** A solid colour: PDQ quality 0, so the matcher skips it and says nothing. */
const SOLID = Buffer.alloc(W * H * 3, 0x55);
/** A detailed still (a looped slide): full PDQ quality, matched against the banks, no match. */
const SLIDE = Buffer.alloc(W * H * 3);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) SLIDE.fill(((x >> 3) + (y >> 3)) % 2 ? 230 : 20, (y * W + x) * 3, (y * W + x) * 3 + 3);

function gatewayPath(o: { liveness: boolean }) {
  const timers = new FakeTimers();
  const fake = fakeLauncher();
  const matcher = new HashMatcher({ revision: 1, match: () => [] });
  const stage = new ClassifierStage([matcher], null, { evidenceFloor: 0.5, now: () => timers.now() });
  const liveness = new FrameLiveness();
  const ctx: EngineContext = { streamId: 'still', accountId: 'acct', personId: null, startedAt: timers.now(), history: EMPTY_HISTORY };
  let state = createStreamState();
  const decisions: Decision[] = [];
  const sent: Signal[] = [];
  const toPolicy = (s: Signal) => {
    sent.push(s);
    const r = step(POLICY, state, s, ctx);
    state = r.state;
    decisions.push(...r.decisions);
  };
  timers.setInterval(() => {
    const r = tick(POLICY, state, ctx, timers.now());
    state = r.state;
    decisions.push(...r.decisions);
  }, 1_000);
  const sampler = new Sampler({
    streamId: 'still',
    input: { kind: 'url', url: 'rtmp://127.0.0.1/live/still' },
    ffmpeg: FAKE_FFMPEG,
    width: W,
    height: H,
    timers,
    launcher: fake.launcher,
    hostLoad: () => 0,
  });
  sampler.onFrame(async (frame) => {
    const signals = await stage.process(frame);
    for (const s of signals) toPolicy(s);
    const alive = o.liveness ? liveness.afterFrame(frame, signals, timers.now()) : null;
    if (alive) toPolicy(alive);
  });
  sampler.onStall(toPolicy);
  return { timers, fake, sampler, matcher, decisions, sent };
}

const stallDecisions = (ds: Decision[]) => ds.filter((d) => d.ruleId === 'sampler-stall');

describe('a static picture is watched, not stalled', () => {
  for (const [name, picture, lowQuality] of [
    ['a solid colour', SOLID, 360],
    ['a looped detailed slide', SLIDE, 0],
  ] as const) {
    it(`${name} streamed for 3 minutes gets no sampler-stall decision`, async () => {
      const g = gatewayPath({ liveness: true });
      await g.sampler.start();
      const run = g.fake.last();
      await g.timers.run(180_000, 500, (t) => run.frame(t, picture));
      expect(g.sampler.stats()).toMatchObject({ framesEmitted: 360, stalls: 0 });
      // The matcher looked at every frame and had nothing to say about any of them.
      expect(g.matcher.stats).toMatchObject({ frames: 360, lowQuality, matches: 0 });
      expect(g.sent.some((s) => s.source !== 'sampler')).toBe(false);
      expect(stallDecisions(g.decisions)).toEqual([]);
      expect(g.decisions).toEqual([]);
      // About one sign of life a second, not one per frame.
      const life = g.sent.filter((s) => s.label === 'frames');
      expect(life.length).toBeGreaterThanOrEqual(170);
      expect(life.length).toBeLessThanOrEqual(181);
      await g.sampler.stop();
    });
  }

  it('without the sign of life the same stream was taken for a stall at 30 s (the bug this pins)', async () => {
    const g = gatewayPath({ liveness: false });
    const startedAt = g.timers.now();
    await g.sampler.start();
    const run = g.fake.last();
    await g.timers.run(60_000, 500, (t) => run.frame(t, SOLID));
    expect(g.sampler.stats().framesEmitted).toBe(120);
    const stalls = stallDecisions(g.decisions);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]!.decidedAt - startedAt).toBeGreaterThanOrEqual(30_000);
    expect(stalls[0]!.decidedAt - startedAt).toBeLessThanOrEqual(31_000);
    await g.sampler.stop();
  });

  it('a static picture that stops arriving still stalls: review after 30 s of no frames', async () => {
    const g = gatewayPath({ liveness: true });
    await g.sampler.start();
    const run = g.fake.last();
    await g.timers.run(20_000, 500, (t) => run.frame(t, SOLID));
    const stoppedAt = g.timers.now();
    // The publisher's picture freezes for real: no frames at all (ffmpeg restarts find nothing either).
    await g.timers.advance(29_000);
    expect(stallDecisions(g.decisions)).toEqual([]);
    await g.timers.advance(2_000);
    const stalls = stallDecisions(g.decisions);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]!.decidedAt - stoppedAt).toBeGreaterThanOrEqual(29_000);
    expect(stalls[0]!.decidedAt - stoppedAt).toBeLessThanOrEqual(31_000);
    expect(stalls[0]!.actions).toMatchObject({ cut: false, review: { priority: 'high' } });
    await g.sampler.stop();
  });
});
