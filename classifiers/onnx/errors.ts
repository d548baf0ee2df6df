/**
 * Error classes of the ONNX stage, in a module of their own so the main thread can recognise them without
 * loading onnxruntime (only the workers need the native binding).
 */

/** The model file cannot be loaded, or its inputs/outputs contradict the manifest. */
export class ModelMismatchError extends Error {
  override name = 'ModelMismatchError';
}

/** The pool's bounded queue was full; the frame was dropped (and counted). */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

export class PoolClosedError extends Error {
  override name = 'PoolClosedError';
}
