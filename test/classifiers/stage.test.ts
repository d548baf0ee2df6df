import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import type { Frame } from '../../classifiers/frame.ts';
import type { ClassifyContext, FrameClassifier, FrameFindings } from '../../classifiers/frame-classifier.ts';
import { HashMatcher } from '../../classifiers/hash-matcher.ts';
import { OnnxClassifier } from '../../classifiers/onnx/classifier.ts';
import { PdqHasher, toHex } from '../../classifiers/pdq.ts';
import { ClassifierStage, type EvidenceSink } from '../../classifiers/stage.ts';
import { evidenceHashes } from '../../gateway/enforcement/review.ts';
import { EvidenceStore } from '../../gateway/evidence/store.ts';
import { thumbnailFromFrame } from '../../gateway/media/thumbnail.ts';
import { solidFrame, writeOnnxFixtures, type OnnxFixtures } from '../fixtures/onnx-fixtures.ts';
import { MemoryBankStore } from '../helpers/memory-bank-store.ts';

/**
 * A third kind of classifier, plugged into the stage without touching it: how much of the frame is one
 * flat colour (a blanked or frozen feed), with its own evidence facts.
 */
class FlatColourClassifier implements FrameClassifier {
  readonly name = 'flat-colour';

  classify(frame: Frame, ctx: ClassifyContext): FrameFindings {
    const n = frame.width * frame.height;
    const mean = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let i = c; i < frame.rgb.length; i += 3) sum += frame.rgb[i]!;
      return Math.round(sum / n);
    });
    let flat = 0;
    for (let i = 0; i < frame.rgb.length; i += 3) {
      if ([0, 1, 2].every((c) => Math.abs(frame.rgb[i + c]! - mean[c]!) <= 16)) flat++;
    }
    const score = flat / n;
    return {
      signals: [
        {
          streamId: frame.streamId,
          frameTimeMs: frame.mediaTimeMs,
          observedAt: ctx.observedAt,
          source: 'flat_colour',
          label: 'flat',
          score,
          version: 'flat-colour@1',
        },
      ],
      facts: { flat: { fraction: score, mean } },
    };
  }
}

/** Fails the way a classifier can: it throws, or reports a signal that is not a Signal. */
class BrokenClassifier implements FrameClassifier {
  constructor(
    readonly name: string,
    private readonly how: 'throws' | 'bad-signal',
  ) {}

  async classify(frame: Frame, ctx: ClassifyContext): Promise<FrameFindings> {
    if (this.how === 'throws') throw new Error('model crashed');
    return {
      signals: [
        { streamId: frame.streamId, frameTimeMs: frame.mediaTimeMs, observedAt: ctx.observedAt, source: 'Not A Source', label: 'x', score: 2, version: 'v' },
      ],
    };
  }
}

/** A mostly red, textured frame (blocks of two shades): high red-detector score, PDQ quality well above 50. */
function texturedRedFrame(): Frame {
  const width = 128,
    height = 96;
  const rgb = Buffer.alloc(width * height * 3);
  let s = 12345;
  const dark: boolean[] = Array.from({ length: 16 * 12 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) % 2 === 0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      rgb[p] = 240;
      rgb[p + 1] = dark[(y >> 3) * 16 + (x >> 3)] ? 0 : 80;
      rgb[p + 2] = 20;
    }
  }
  return { streamId: 'str_cam1', seq: 7, mediaTimeMs: 1400, receivedAt: 1_700_000_000_000, width, height, rgb };
}

describe('the classifier stage runs classifiers it does not know', () => {
  let fx: OnnxFixtures;
  let models: OnnxClassifier[];
  let dir: string;
  let evidence: EvidenceStore;
  const frame = texturedRedFrame();
  const pdq = new PdqHasher().fromRgb(frame.rgb, frame.width, frame.height);
  const frameHash = toHex(pdq.hash);
  const bankStore = new MemoryBankStore();
  const banks = new HashBankIndex(bankStore);
  const clock = () => 1_700_000_000_500;

  beforeAll(async () => {
    fx = await writeOnnxFixtures();
    models = [
      await OnnxClassifier.open({ manifest: fx.redNhwc, workers: 1, maxWaitMs: 0 }),
      await OnnxClassifier.open({ manifest: fx.rgbSoftmax, workers: 1, maxWaitMs: 0 }),
    ];
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-stage-'));
    evidence = new EvidenceStore({ dir, liveRetentionMs: 3600_000, decisionRetentionMs: 86400_000 }, (f) => thumbnailFromFrame(f).jpeg);
    bankStore.putBank({ name: 'tve', enabled: true, radius: 31 });
    bankStore.putEntry({ id: 'bke_1', bank: 'tve', signalType: 'pdq', hash: frameHash, category: 'terrorist-violent-extremism', severity: 'critical' });
    await banks.loadAll();
  });
  afterAll(async () => {
    await Promise.allSettled((models ?? []).map((m) => m.close()));
    await fx?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a bank match, two ONNX models and a plugged-in third classifier: their signals, and one evidence record with every classifier’s facts', async () => {
    expect(pdq.quality, 'the test frame is matchable').toBeGreaterThanOrEqual(50);
    const matcher = new HashMatcher(banks, { dihedral: true, minQuality: 50 });
    const stage = new ClassifierStage([matcher, ...models, new FlatColourClassifier()], (f, facts) => evidence.save(f, facts), {
      evidenceFloor: 0.5,
      now: clock,
    });
    const signals = await stage.process(frame);

    const ref = 'live/str_cam1/7';
    expect(signals.map((s) => [s.source, s.label, s.evidenceRef, s.observedAt])).toEqual([
      ['hash_match', 'terrorist-violent-extremism', ref, clock()],
      ['violence', 'violence', ref, clock()],
      ['colour', 'warm', ref, clock()],
      ['colour', 'cool', ref, clock()],
      ['flat_colour', 'flat', ref, clock()],
    ]);
    const match = {
      bank: 'tve',
      entryId: 'bke_1',
      distance: 0,
      variant: 'original',
      category: 'terrorist-violent-extremism',
      severity: 'critical',
      frameHash,
      quality: pdq.quality,
    };
    expect(signals[0]).toMatchObject({ match, version: `banks@${banks.revision}` });
    expect(signals[1]!.score).toBeGreaterThan(0.9);
    expect(stage.stats).toEqual({ frames: 1, classifierErrors: 0, evidence: 1 });

    // The record as review and the API read it: the frame's PDQ (what "confirm + add to bank" takes),
    // every match, each model's scores under its name, and the plug-in's own facts.
    const stored = await evidence.read(ref);
    expect(stored?.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(stored?.facts).toEqual({
      streamId: 'str_cam1',
      seq: 7,
      mediaTimeMs: 1400,
      receivedAt: frame.receivedAt,
      pdq: { hash: frameHash, quality: pdq.quality },
      matches: [match],
      scores: {
        'red-detector-nhwc': { violence: signals[1]!.score },
        'rgb-softmax': { red: expect.any(Number), green: expect.any(Number), blue: expect.any(Number) },
      },
      flat: { fraction: 0, mean: [240, expect.any(Number), 20] },
    });
    expect(evidenceHashes([stored?.facts])).toEqual([frameHash]);
  });

  it('a classifier that throws or reports a malformed signal is counted; the others’ signals still come', async () => {
    const errors: string[] = [];
    const stage = new ClassifierStage(
      [new BrokenClassifier('crashy', 'throws'), new FlatColourClassifier(), new BrokenClassifier('sloppy', 'bad-signal')],
      null,
      { evidenceFloor: 0.5, now: clock },
      (_err, name) => errors.push(name),
    );
    const signals = await stage.process(solidFrame([10, 10, 10]));
    expect(signals).toEqual([expect.objectContaining({ source: 'flat_colour', score: 1, evidenceRef: null })]);
    expect(errors).toEqual(['crashy', 'sloppy']);
    expect(stage.stats).toEqual({ frames: 1, classifierErrors: 2, evidence: 0 });
  });

  it('keeps no evidence for a frame nobody finds notable: scores under the floor and no match', async () => {
    const saved: unknown[] = [];
    const sink: EvidenceSink = async (_f, facts) => (saved.push(facts), 'never');
    const stage = new ClassifierStage([new HashMatcher(banks), models[0]!], sink, { evidenceFloor: 0.5, now: clock });
    const signals = await stage.process(solidFrame([0, 200, 0]));
    expect(signals).toEqual([expect.objectContaining({ source: 'violence', evidenceRef: null })]);
    expect(signals[0]!.score).toBeLessThan(0.01);
    expect(saved).toEqual([]);
  });
});
