/**
 * Messages between the pool (main thread) and an inference worker. Pixel buffers travel as transferred
 * ArrayBuffers (moved, not cloned) and are moved back with the result for reuse, because allocating a
 * fresh ~0.5 MB ArrayBuffer per frame costs far more than the copy into it (measured: 0.8–3 ms vs 7 µs).
 */
import type { ResolvedManifest } from './manifest.ts';

export interface WorkerInit {
  manifest: ResolvedManifest;
  intraOpThreads: number;
  interOpThreads: number;
  /** ONNX Runtime execution providers in order of preference, e.g. ['cuda', 'cpu']. Default ['cpu']. */
  executionProviders?: string[];
  /** Also fetch the manifest's embedding output (one forward pass yields scores and the pooled features). */
  embeddings?: boolean;
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
  | { type: 'result'; id: number; scores: Float32Array; embedding?: Float32Array; preprocessMs: number; inferenceMs: number; buffers: ArrayBuffer[] }
  | { type: 'error'; id: number; message: string; buffers: ArrayBuffer[] }
  | { type: 'closed' };
