import type { Frame } from './frame.ts';
import type { EvidenceFacts, FrameClassifier, FrameFindings } from './frame-classifier.ts';
import { SignalSchema, type Signal } from './signal.ts';

/** Where a frame's evidence goes (gateway/evidence/store.ts); null when nothing is kept. */
export type EvidenceSink = (frame: Frame, facts: EvidenceFacts) => Promise<string | null>;

export interface StageOptions {
  /** Frames with any signal scored at or above this (or any bank match) keep a thumbnail as evidence. */
  evidenceFloor: number;
  /** Wall clock (epoch ms) stamped on the frame's signals. */
  now?: () => number;
}

/**
 * Every classifier run on one frame, side by side. Returns the frame's Signals; a classifier that fails or
 * drops the frame under load is counted and simply produces none (the policy's stall rules notice a source
 * that stays silent). Evidence is kept when a signal is worth it, with the facts every classifier added.
 */
export class ClassifierStage {
  readonly stats = { frames: 0, classifierErrors: 0, evidence: 0 };
  private readonly now: () => number;
  /** Frames of each stream being classified now (a stream is absent when none is). */
  private readonly inFlight = new Map<string, number>();
  /** Streams that ended with frames still being classified: their classifiers' state goes when those settle. */
  private readonly ending = new Set<string>();

  constructor(
    private readonly classifiers: readonly FrameClassifier[],
    private readonly evidence: EvidenceSink | null,
    private readonly opts: StageOptions,
    private readonly onError: (err: unknown, classifier: string) => void = () => {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The stream ended: every classifier drops what it keeps for it (classifiers' per-stream caches are
   * bounded by stream count, not by time, so without this each ended stream's last frame, findings and
   * slots stayed until thousands of later streams pushed them out). A frame still being classified could
   * put some back as it settles, so the classifiers are told again once the stream's last frame has.
   * The samplers deliver nothing after a stream's end (gateway/pipeline/watcher.ts stops them at once).
   */
  end(streamId: string): void {
    this.forget(streamId);
    if (this.inFlight.has(streamId)) this.ending.add(streamId);
  }

  /** Streams with frames being classified, and ended ones waiting for them (tests). */
  get tracked(): { inFlight: number; ending: number } {
    return { inFlight: this.inFlight.size, ending: this.ending.size };
  }

  private forget(streamId: string): void {
    for (const c of this.classifiers) {
      try {
        c.end?.(streamId);
      } catch (err) {
        this.onError(err, c.name);
      }
    }
  }

  async process(frame: Frame): Promise<Signal[]> {
    const id = frame.streamId;
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    try {
      return await this.classify(frame);
    } finally {
      const n = this.inFlight.get(id)! - 1;
      if (n > 0) this.inFlight.set(id, n);
      else {
        this.inFlight.delete(id);
        if (this.ending.delete(id)) this.forget(id);
      }
    }
  }

  private async classify(frame: Frame): Promise<Signal[]> {
    this.stats.frames++;
    const ctx = { observedAt: this.now() };
    const results = await Promise.all(
      this.classifiers.map(async (c): Promise<{ signals: Signal[]; facts?: EvidenceFacts } | null> => {
        try {
          return validated(await c.classify(frame, ctx));
        } catch (err) {
          this.stats.classifierErrors++;
          this.onError(err, c.name);
          return null;
        }
      }),
    );
    const ok = results.filter((r) => r !== null);
    const signals = ok.flatMap((r) => r.signals);
    const worth = signals.some((s) => s.match !== undefined || (s.score ?? 0) >= this.opts.evidenceFloor);
    if (!worth || !this.evidence) return signals;
    const ref = await this.evidence(frame, mergeFacts(ok.map((r) => r.facts))).catch((err: unknown) => {
      this.onError(err, 'evidence');
      return null;
    });
    if (ref === null) return signals;
    this.stats.evidence++;
    return signals.map((s) => ({ ...s, evidenceRef: ref }));
  }
}

/** The findings as Signals (evidence ref not yet known); throws when one does not fit the schema. */
function validated(f: FrameFindings): { signals: Signal[]; facts?: EvidenceFacts } {
  return { signals: f.signals.map((s) => SignalSchema.parse({ ...s, evidenceRef: null })), facts: f.facts };
}

/** One evidence record from every classifier's facts, in classifier order; objects under one key merge. */
export function mergeFacts(all: ReadonlyArray<EvidenceFacts | undefined>): EvidenceFacts {
  const out: EvidenceFacts = {};
  for (const facts of all) {
    for (const [key, value] of Object.entries(facts ?? {})) {
      const prev = out[key];
      out[key] = isPlainObject(prev) && isPlainObject(value) ? { ...prev, ...value } : value;
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
