/**
 * Runs one ONNX model in worker threads and batches frames from all streams into shared inference calls.
 *
 * - Never blocks the main event loop: the main thread only copies the frame's bytes (the frame's own Buffer
 *   is shared with other consumers, e.g. PDQ and thumbnails, and may live in Node's buffer pool, so it cannot
 *   be transferred) and posts them; resizing, normalisation and inference happen in a worker.
 * - Batching: a batch goes to an idle worker as soon as maxBatch frames wait, or when the oldest waiting
 *   frame has waited maxWaitMs. While every worker is busy, frames accumulate, so batches grow under load.
 * - Backpressure: at most maxQueue frames wait; beyond that classify() rejects at once with QueueFullError
 *   and the drop is counted. Dropping the newest frame keeps queued frames' latency bounded and never
 *   wastes work already waited for; the next sampled frame of that stream will try again.
 * - No cross-talk: each request keeps its own slot index in its batch and resolves with that row only.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { COMPILED, packagePath } from '../../package/root.ts';
import type { Frame } from '../frame.ts';
import { loadManifest, type ResolvedManifest } from './manifest.ts';
import { ModelMismatchError, PoolClosedError, QueueFullError } from './errors.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';
import { mapSignals, scoresRecord, type SignalScore } from './scores.ts';

export interface PoolOptions {
  /** A resolved manifest, or a path to a manifest file or its directory. */
  manifest: ResolvedManifest | string;
  /** Worker threads, each with its own ORT session. Default 1. */
  workers?: number;
  /** ORT intra-op threads per worker. Default 1. */
  intraOpThreads?: number;
  /** ONNX Runtime execution providers, e.g. ['cuda', 'cpu']. Default ['cpu']. */
  executionProviders?: string[];
  /** Largest batch sent to a worker. Default 8. */
  maxBatch?: number;
  /** Longest a frame waits for batch-mates while a worker is idle. Default 4 ms. */
  maxWaitMs?: number;
  /** Frames allowed to wait (not counting those in flight). Default 64. */
  maxQueue?: number;
  /**
   * Also return each frame's embedding (the manifest's `embedding` output, e.g. MobileNetV2's pooled 1280-d
   * features) from the same forward pass, for the copy descriptor (classifiers/copy). Default false.
   */
  embeddings?: boolean;
}

export interface ClassifyResult {
  /** Per-label scores after the manifest's activation. */
  scores: Record<string, number>;
  /** The manifest's signal mappings applied: ready to become Signals. */
  signals: SignalScore[];
  /** Manifest version (goes into Signal.version). */
  version: string;
  /** ORT time of the batch this frame was part of. */
  inferenceMs: number;
  /** Frames in that batch. */
  batchSize: number;
  /** classify() call to result. */
  latencyMs: number;
  /** The frame's embedding (manifest `embedding.dim` floats), when the pool was created with `embeddings`. */
  embedding?: Float32Array;
}

export interface PoolStats {
  queued: number;
  inFlight: number;
  completed: number;
  dropped: number;
  failed: number;
  batches: number;
}

export { ModelMismatchError, PoolClosedError, QueueFullError };

/** What classify() needs of a Frame; any packed RGB24 Uint8Array (a Buffer is one) will do. */
export type FrameInput = Pick<Frame, 'width' | 'height'> & { rgb: Uint8Array };

interface Pending {
  width: number;
  height: number;
  rgb: Uint8Array;
  enqueuedAt: number;
  resolve: (r: ClassifyResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending[] | null;
  batchId: number;
  alive: boolean;
}

/**
 * The worker's entry: compiled, dist/onnx-worker.js (a separate entry point of the esbuild build);
 * from sources, a plain-JS bootstrap that loads worker.ts through tsx.
 */
const ENTRY = COMPILED ? pathToFileURL(packagePath('dist', 'onnx-worker.js')) : new URL('./worker-entry.mjs', import.meta.url);

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  return x;
}

export class OnnxPool {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private nextBatchId = 1;
  private closing = false;
  private readonly counters = { completed: 0, dropped: 0, failed: 0, batches: 0 };
  private drained: (() => void) | null = null;
  /** Frame buffers handed back by workers, by byte length, reused instead of allocating per frame. */
  private readonly spare = new Map<number, ArrayBuffer[]>();
  private readonly maxSpare: number;

  private constructor(
    readonly manifest: ResolvedManifest,
    private readonly slots: Slot[],
    readonly maxBatch: number,
    private readonly maxWaitMs: number,
    private readonly maxQueue: number,
  ) {
    for (const s of slots) this.attach(s);
    this.maxSpare = maxQueue + maxBatch * slots.length;
  }

  /** Starts the workers and waits until each has loaded and self-tested the model. */
  static async create(opts: PoolOptions): Promise<OnnxPool> {
    const manifest = typeof opts.manifest === 'string' ? await loadManifest(opts.manifest) : opts.manifest;
    const nWorkers = positiveInt('workers', opts.workers, 1);
    const init: WorkerInit = {
      manifest,
      intraOpThreads: positiveInt('intraOpThreads', opts.intraOpThreads, 1),
      executionProviders: opts.executionProviders,
      interOpThreads: 1,
      ...(opts.embeddings ? { embeddings: true } : {}),
    };
    if (opts.embeddings && !manifest.embedding)
      throw new ModelMismatchError(`model ${manifest.name}: embeddings asked for but its manifest declares no embedding output`);
    let maxBatch = positiveInt('maxBatch', opts.maxBatch, 8);
    const maxWaitMs = opts.maxWaitMs ?? 4;
    if (!(maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${maxWaitMs}`);
    const maxQueue = positiveInt('maxQueue', opts.maxQueue, 64);

    const started = await Promise.allSettled(Array.from({ length: nWorkers }, () => startWorker(init)));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.worker.terminate() : undefined)));
      throw failure.reason as Error;
    }
    const ok = started as PromiseFulfilledResult<{ worker: Worker; fixedBatch: number | null }>[];
    // A model with a fixed batch dim still benefits from queueing; the worker splits larger batches.
    const fixed = ok[0]?.value.fixedBatch ?? null;
    if (fixed !== null && fixed > maxBatch) maxBatch = fixed;
    const slots = ok.map((r) => ({ worker: r.value.worker, busy: null, batchId: 0, alive: true }));
    return new OnnxPool(manifest, slots, maxBatch, maxWaitMs, maxQueue);
  }

  /**
   * Classifies one frame. Rejects with QueueFullError when the queue is full (counted as dropped),
   * PoolClosedError after close(), or the worker's error message if inference failed.
   */
  classify(frame: FrameInput): Promise<ClassifyResult> {
    if (this.closing) return Promise.reject(new PoolClosedError('ONNX pool is closed'));
    const { width, height, rgb } = frame;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || rgb.length !== width * height * 3) {
      return Promise.reject(new RangeError(`frame must be packed RGB24: ${width}x${height} needs ${width * height * 3} bytes, got ${rgb.length}`));
    }
    if (!this.slots.some((s) => s.alive)) return Promise.reject(new Error('ONNX pool has no live workers'));
    if (this.queue.length >= this.maxQueue) {
      this.counters.dropped++;
      return Promise.reject(new QueueFullError(`ONNX queue full (${this.maxQueue} frames waiting); frame dropped`));
    }
    return new Promise<ClassifyResult>((resolve, reject) => {
      // Copy now: the caller's Buffer may be reused or shared, and the copy's ArrayBuffer can be moved.
      const copy = new Uint8Array(this.spare.get(rgb.length)?.pop() ?? new ArrayBuffer(rgb.length));
      copy.set(rgb);
      this.queue.push({ width, height, rgb: copy, enqueuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  stats(): PoolStats {
    return {
      queued: this.queue.length,
      inFlight: this.slots.reduce((n, s) => n + (s.busy?.length ?? 0), 0),
      ...this.counters,
    };
  }

  /**
   * Stops accepting frames, lets queued and in-flight frames finish, then shuts the workers down.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.pump();
    }
    if (this.queue.length > 0 || this.slots.some((s) => s.busy)) {
      await new Promise<void>((resolve) => {
        const prev = this.drained;
        this.drained = () => {
          prev?.();
          resolve();
        };
      });
    }
    await Promise.all(this.slots.map((s) => this.stopWorker(s)));
  }

  private async stopWorker(s: Slot): Promise<void> {
    if (!s.alive) return;
    s.alive = false;
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      s.worker.on('message', (m: FromWorker) => {
        if (m.type === 'closed') {
          clearTimeout(t);
          resolve();
        }
      });
      s.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    s.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await closed;
    await s.worker.terminate();
  }

  private attach(s: Slot): void {
    s.worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      if (m.id !== s.batchId || !s.busy) return;
      const batch = s.busy;
      s.busy = null;
      this.recycle(m.buffers);
      if (m.type === 'error') {
        this.counters.failed += batch.length;
        for (const p of batch) p.reject(new Error(`ONNX inference failed: ${m.message}`));
      } else {
        this.deliver(batch, m.scores, m.inferenceMs, m.embedding);
      }
      this.pump();
    });
    const die = (why: string) => {
      if (!s.alive) return;
      s.alive = false;
      const batch = s.busy;
      s.busy = null;
      if (batch) {
        this.counters.failed += batch.length;
        for (const p of batch) p.reject(new Error(`ONNX worker died: ${why}`));
      }
      if (!this.slots.some((x) => x.alive)) {
        // Nobody left to serve the queue: fail it rather than leave callers hanging.
        for (const p of this.queue.splice(0)) p.reject(new Error(`ONNX pool has no live workers (${why})`));
      }
      this.pump();
    };
    s.worker.on('error', (e) => die(e.message));
    s.worker.on('exit', (code) => die(`exit code ${code}`));
  }

  private recycle(buffers: readonly ArrayBuffer[]): void {
    for (const b of buffers) {
      let list = this.spare.get(b.byteLength);
      if (!list) {
        // Streams rarely change size; keep only a few size classes so a size change cannot pin memory.
        if (this.spare.size >= 4) this.spare.delete(this.spare.keys().next().value as number);
        list = [];
        this.spare.set(b.byteLength, list);
      }
      if (list.length < this.maxSpare) list.push(b);
    }
  }

  private deliver(batch: Pending[], scores: Float32Array, inferenceMs: number, embedding?: Float32Array): void {
    const labels = this.manifest.output.labels;
    const k = labels.length;
    const dim = this.manifest.embedding?.dim ?? 0;
    const now = performance.now();
    this.counters.batches++;
    batch.forEach((p, i) => {
      const rec = scoresRecord(labels, scores.subarray(i * k, (i + 1) * k));
      this.counters.completed++;
      p.resolve({
        scores: rec,
        signals: mapSignals(this.manifest.signals, rec),
        version: this.manifest.version,
        inferenceMs,
        batchSize: batch.length,
        latencyMs: now - p.enqueuedAt,
        // A copy per frame: the batch's buffer is one allocation shared by its rows.
        ...(embedding && dim > 0 ? { embedding: embedding.slice(i * dim, (i + 1) * dim) } : {}),
      });
    });
  }

  /** Dispatches whatever can go now, and arms the timer for what must wait for batch-mates. */
  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.alive && !s.busy);
      if (!slot) break;
      const head = this.queue[0] as Pending;
      const waited = performance.now() - head.enqueuedAt;
      if (!this.closing && this.queue.length < this.maxBatch && waited < this.maxWaitMs) {
        this.timer = setTimeout(() => this.pump(), Math.max(0, this.maxWaitMs - waited));
        break;
      }
      const batch = this.queue.splice(0, this.maxBatch);
      slot.busy = batch;
      slot.batchId = this.nextBatchId++;
      const frames = batch.map((p) => ({ width: p.width, height: p.height, rgb: p.rgb }));
      slot.worker.postMessage(
        { type: 'run', id: slot.batchId, frames } satisfies ToWorker,
        batch.map((p) => p.rgb.buffer as ArrayBuffer),
      );
    }
    if (this.drained && this.queue.length === 0 && !this.slots.some((s) => s.busy)) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }
}

/** Spawns one worker and waits for its model to load; rejects with the worker's own error. */
function startWorker(init: WorkerInit): Promise<{ worker: Worker; fixedBatch: number | null }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: init });
    const onMessage = (m: FromWorker) => {
      if (m.type === 'ready') {
        cleanup();
        resolve({ worker, fixedBatch: m.fixedBatch });
      } else if (m.type === 'failed') {
        cleanup();
        void worker.terminate();
        reject(m.errorName === 'ModelMismatchError' ? new ModelMismatchError(m.message) : new Error(m.message));
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new Error(`ONNX worker failed to start: ${e.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`ONNX worker exited during start (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
