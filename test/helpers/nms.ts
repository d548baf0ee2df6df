import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quietNmsLog } from '../../gateway/ingest/nms-adapter.ts';
import { DEADLINE_MS } from './wait.ts';

/**
 * A bare node-media-server (RTMP only, no HTTP, no recording) on a free port, for sampler tests.
 *
 * node-media-server 4.x keeps its config in a module-level singleton (Context), so only one
 * instance can run per process; vitest runs each test file in its own fork, so one per file is fine.
 */

/** The slice of node-media-server 4.4.3 (CJS, untyped) these tests use. */
interface NmsSession {
  streamPath: string;
}
interface NmsInstance {
  on(event: 'postPublish' | 'donePublish' | 'postPlay' | 'donePlay', cb: (s: NmsSession) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
}
type NmsCtor = new (config: Record<string, unknown>) => NmsInstance;

export interface TestNms {
  port: number;
  /** rtmp://127.0.0.1:PORT/live/NAME */
  url(name: string): string;
  /** Resolves when a publisher is accepted on live/NAME. */
  waitForPublish(name: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

let running = false;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startNms(): Promise<TestNms> {
  if (running) throw new Error('one node-media-server per process (its config is a module singleton)');
  const require = createRequire(import.meta.url);
  const NodeMediaServer = require('node-media-server') as NmsCtor;
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'modgate-nms-'));
  const nms = new NodeMediaServer({
    bind: '127.0.0.1',
    rtmp: { port },
    store: { path: dataDir },
    webadmin: { enable: false },
  });
  // The constructor forces debug logging; tests want only problems.
  quietNmsLog();
  const published = new Set<string>();
  const waiters = new Map<string, Array<() => void>>();
  nms.on('postPublish', (s) => {
    published.add(s.streamPath);
    for (const w of waiters.get(s.streamPath) ?? []) w();
    waiters.delete(s.streamPath);
  });
  nms.on('donePublish', (s) => published.delete(s.streamPath));
  await nms.run();
  running = true;
  // run() starts listening without waiting; give the listener a moment to be bound.
  await waitForPort(port);
  return {
    port,
    url: (name) => `rtmp://127.0.0.1:${port}/live/${name}`,
    waitForPublish: (name, timeoutMs = 15_000) => {
      const path = `/live/${name}`;
      if (published.has(path)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no publish on ${path} within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(path) ?? [];
        list.push(() => {
          clearTimeout(t);
          resolve();
        });
        waiters.set(path, list);
      });
    },
    stop: async () => {
      await nms.stop();
      running = false;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, timeoutMs = DEADLINE_MS): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`RTMP port ${port} not listening`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
