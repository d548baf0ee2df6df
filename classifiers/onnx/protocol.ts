/**
 * Messages between the pool (main thread) and an inference worker. Pixel buffers travel as transferred
 * ArrayBuffers (moved, not cloned); scores come back the same way.
 */
import type { ResolvedManifest } from './manifest.ts';

export interface WorkerInit {
  manifest: ResolvedManifest;
  intraOpThreads: number;
  interOpThreads: number;
}

export interface FramePayload {
  width: number;
  height: number;
  /** Packed RGB24; its buffer is transferred to the worker. */
  rgb: Uint8Array;
}

export type ToWorker = { type: 'run'; id: number; frames: FramePayload[] } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; fixedBatch: number | null }
  | { type: 'failed'; errorName: string; message: string }
  | { type: 'result'; id: number; scores: Float32Array; preprocessMs: number; inferenceMs: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'closed' };
