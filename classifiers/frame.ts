/**
 * One decoded frame of a live stream, as the sampler hands it to every consumer (PDQ, ONNX models,
 * evidence thumbnails). Decoded once per stream at the analysis size; each consumer derives what it needs.
 */
export interface Frame {
  streamId: string;
  /** Per-stream sequence number, from 0, increasing by 1 per delivered frame (dropped frames leave gaps). */
  seq: number;
  /** Media timestamp in ms from the stream's first sampled frame. */
  mediaTimeMs: number;
  /** Wall-clock time (epoch ms) the frame came off the decoder. */
  receivedAt: number;
  width: number;
  height: number;
  /** Packed RGB24, row-major, width * height * 3 bytes (for a YUV frame, made on first read: yuv-frame.ts). */
  rgb: Buffer;
  /**
   * The full-range luma plane (width * height bytes, BT.601 weights: what PDQ computes from `rgb`), when the
   * sampler delivered YUV. Hashing reads it instead of `rgb`, so a hash-only frame is never converted to RGB.
   */
  luma?: Uint8Array;
}
