import { describe, expect, it } from 'vitest';
import type { Frame } from '../../classifiers/frame.ts';
import type { Signal } from '../../classifiers/signal.ts';
import { LatestFrames, SCORES_MAX_AGE_MS } from '../../gateway/live/latest.ts';

const frame = (seq: number, at: number): Frame => ({
  streamId: 'str_a',
  seq,
  mediaTimeMs: seq * 100,
  receivedAt: at,
  width: 2,
  height: 2,
  rgb: Buffer.alloc(12),
});
const score = (label: string, value: number, at: number): Signal => ({
  streamId: 'str_a',
  frameTimeMs: 0,
  observedAt: at,
  source: 'nsfw',
  label,
  score: value,
  version: 'm1',
  evidenceRef: null,
});

describe('the latest frame of a live stream', () => {
  it("keeps the models' latest scores on the hash-only frames between two scored ones, and the timeline only each frame's own", () => {
    const latest = new LatestFrames();
    latest.record(frame(0, 1_000), [score('unsafe', 0.2, 1_000)]);
    latest.record(frame(1, 1_100), []);
    latest.record(frame(2, 1_200), []);
    expect(latest.get('str_a')).toMatchObject({ seq: 2, scores: { nsfw: { unsafe: 0.2 } } });
    expect(latest.recent('str_a').map((s) => s.scores)).toEqual([{ nsfw: { unsafe: 0.2 } }, {}, {}]);
    latest.record(frame(3, 1_300), [score('unsafe', 0.4, 1_300)]);
    expect(latest.get('str_a')?.scores).toEqual({ nsfw: { unsafe: 0.4 } });
  });

  it('shows no scores once the last scored frame is older than the maximum age (the models stopped seeing the stream)', () => {
    const latest = new LatestFrames();
    latest.record(frame(0, 1_000), [score('unsafe', 0.2, 1_000)]);
    latest.record(frame(1, 1_000 + SCORES_MAX_AGE_MS), []);
    expect(latest.get('str_a')?.scores).toEqual({ nsfw: { unsafe: 0.2 } });
    latest.record(frame(2, 1_001 + SCORES_MAX_AGE_MS), []);
    expect(latest.get('str_a')?.scores).toEqual({});
    // and it does not come back on the next unscored frame
    latest.record(frame(3, 1_002 + SCORES_MAX_AGE_MS), []);
    expect(latest.get('str_a')?.scores).toEqual({});
  });
});
