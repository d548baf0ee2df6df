import type { Frame } from './frame.ts';
import type { Signal } from './signal.ts';

/**
 * The one interface every classifier of sampled frames implements (bank matching, ONNX models, whatever
 * comes next), so the stage runs them without knowing what they are. Modelled on python-threatexchange's
 * SignalType: a named kind of signal with one way to compute it from content; here the content is a frame.
 */

/** A Signal as a classifier reports it: the stage adds the evidence reference once evidence is kept. */
export type FrameSignal = Omit<Signal, 'evidenceRef'>;

/**
 * Facts a classifier adds to the frame's evidence record (JSON, read back by review and the API). Values
 * that are objects under the same key are merged one level deep, so several models share `scores` keyed by
 * model name; other keys belong to one classifier (`pdq`, `matches`).
 */
export type EvidenceFacts = Record<string, unknown>;

export interface FrameFindings {
  /** Validated by the stage; a classifier whose signal does not fit the Signal schema counts as failed. */
  signals: FrameSignal[];
  facts?: EvidenceFacts;
}

export interface ClassifyContext {
  /** Wall-clock time (epoch ms) the stage took the frame; every signal of the frame carries it. */
  observedAt: number;
}

export interface FrameClassifier {
  /** Stable name for logs and errors (`pdq`, a model's manifest name). */
  readonly name: string;
  /**
   * Classifies one frame. May reject or throw (a model's queue full under load, a broken model): the stage
   * counts it and goes on without this classifier's findings for the frame.
   */
  classify(frame: Frame, ctx: ClassifyContext): FrameFindings | Promise<FrameFindings>;
  /**
   * The stream ended (and none of its frames is still being classified): drop whatever is kept for it.
   * Stream ids are not reused, so state kept past the end is only memory (ClassifierStage.end calls it).
   */
  end?(streamId: string): void;
}
