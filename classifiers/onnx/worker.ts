/**
 * Inference worker thread: owns one ORT session and one reusable batch tensor. Preprocessing happens here,
 * not on the main thread, so the event loop only pays for one memcpy of the frame (see pool.ts).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { OnnxModel } from './model.ts';
import { Preprocessor, specFromManifest } from './preprocess.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

function serve(port: MessagePort, init: WorkerInit, model: OnnxModel): void {
  const send = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);
  const pre = new Preprocessor(specFromManifest(init.manifest));
  /** Grown on demand, never shrunk: batch sizes are bounded by the pool's maxBatch. */
  let batch = new Float32Array(0);

  const runBatch = async (id: number, frames: Extract<ToWorker, { type: 'run' }>['frames']) => {
    // Returned to the pool for reuse once the pixels have been read.
    const buffers = frames.map((f) => f.rgb.buffer as ArrayBuffer);
    try {
      const need = frames.length * pre.sampleLength;
      if (batch.length < need) batch = new Float32Array(need);
      const t0 = performance.now();
      frames.forEach((f, i) => pre.run(f.rgb, f.width, f.height, batch, i));
      const preprocessMs = performance.now() - t0;
      const out = await model.run(batch, frames.length, init.embeddings === true);
      if (out.scores.some((v) => !Number.isFinite(v))) throw new Error('model produced non-finite scores');
      if (out.embedding?.some((v) => !Number.isFinite(v))) throw new Error('model produced a non-finite embedding');
      const moved = [out.scores.buffer as ArrayBuffer, ...(out.embedding ? [out.embedding.buffer as ArrayBuffer] : []), ...buffers];
      const msg: FromWorker = { type: 'result', id, scores: out.scores, preprocessMs, inferenceMs: out.inferenceMs, buffers };
      send(out.embedding ? { ...msg, embedding: out.embedding } : msg, moved);
    } catch (e) {
      send({ type: 'error', id, message: (e as Error).message, buffers }, buffers);
    }
  };

  // The pool sends a worker its next batch only after the previous result, so runs never overlap here.
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'close') {
      void model.release().finally(() => {
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
    void runBatch(msg.id, msg.frames);
  });
  send({ type: 'ready', fixedBatch: model.fixedBatch });
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('worker.ts must run in a worker thread');
  const init = workerData as WorkerInit;
  let model: OnnxModel;
  try {
    model = await OnnxModel.load(init.manifest, {
      intraOpThreads: init.intraOpThreads,
      interOpThreads: init.interOpThreads,
      executionProviders: init.executionProviders,
    });
  } catch (e) {
    const err = e as Error;
    port.postMessage({ type: 'failed', errorName: err.name, message: err.message } satisfies FromWorker);
    port.close();
    return;
  }
  serve(port, init, model);
}

await main();
