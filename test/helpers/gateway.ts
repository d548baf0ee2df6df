import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueToken, type Role } from '../../gateway/admin/tokens.ts';
import { ConfigSchema, type Config, type ConfigInput } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { DEADLINE_MS, sleep, waitFor as wait } from './wait.ts';

/**
 * A real gateway for tests: `startGateway` on ports 0 (127.0.0.1) in a temporary data directory, with
 * helpers to create accounts, keys and tokens through the domain functions (as the CLI does), an API
 * client, and a `stop` that can keep the data directory for a restart.
 */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FFMPEG = process.env.MODGATE_TEST_FFMPEG ?? '/usr/bin/ffmpeg';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export type JsonBody = Record<string, unknown> | unknown[] | string | number | boolean | null;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | null,
  ) {}

  withToken(token: string | null): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  /** `body`: a JSON value, or `{ raw }` to send exact bytes (malformed JSON, webhook payloads). */
  async request<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    urlPath: string,
    body?: JsonBody | { raw: string; contentType?: string },
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'raw' in body && typeof body.raw === 'string') {
        payload = body.raw;
        h['content-type'] = typeof body.contentType === 'string' ? body.contentType : 'application/json';
      } else {
        payload = JSON.stringify(body);
        h['content-type'] = 'application/json';
      }
    }
    const res = await fetch(`${this.baseUrl}${urlPath}`, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: res.status, body: parsed as T };
  }

  get<T = Record<string, unknown>>(urlPath: string): Promise<ApiResponse<T>> {
    return this.request<T>('GET', urlPath);
  }

  post<T = Record<string, unknown>>(
    urlPath: string,
    body?: JsonBody | { raw: string; contentType?: string },
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>> {
    return this.request<T>('POST', urlPath, body ?? {}, headers);
  }
}

export interface StreamView {
  id: string;
  account: string;
  protocol: 'rtmp' | 'websocket';
  startedAt: string;
  playPath: string | null;
}

export interface TestAccount {
  handle: string;
  streamKey: string;
  keyId: string;
}

/** Config overrides, merged one level deep into the test defaults. */
export interface TestGatewayOptions {
  dataDir?: string;
  db?: string;
  rtmp?: Partial<Config['rtmp']>;
  ws?: Partial<Config['ingest']['ws']>;
  identity?: Partial<Config['identity']>;
  eligibility?: Partial<Config['eligibility']>;
  accountability?: ConfigInput['accountability'];
  syncIntervalMs?: number;
  logLevel?: Config['log']['level'];
  /** Run the sampler and the default classifier models (off: these tests are about ingest and the gate). */
  pipeline?: boolean;
  /** Any other top-level config keys, over the test defaults. */
  extra?: Partial<ConfigInput>;
  /** The abuse limits' clock (StartOptions.now): tests advance it rather than wait out a window. */
  now?: () => number;
}

export interface TestGateway {
  gw: Gateway;
  config: Config;
  dataDir: string;
  rtmpPort: number;
  httpPort: number;
  httpUrl: string;
  wsUrl: string;
  /** Operator-token API client. */
  api: ApiClient;
  /** Moderator-token API client. */
  mod: ApiClient;
  /** API client without a token. */
  anon: ApiClient;
  operatorToken: string;
  moderatorToken: string;
  publishUrl(streamKey: string): string;
  playUrl(streamId: string): string;
  /** Creates an account (verified by default) with one stream key; the gate sees it at once. */
  account(handle: string, opts?: { verified?: boolean; subject?: string }): Promise<TestAccount>;
  issueKey(handle: string): Promise<TestAccount>;
  token(role: Role, name?: string): Promise<string>;
  /** Live streams as the API lists them. */
  streams(): Promise<StreamView[]>;
  /** Polls GET /api/v1/streams until one of `handle` is live. */
  waitForStream(handle: string, timeoutMs?: number): Promise<StreamView>;
  waitForNoStream(handle: string, timeoutMs?: number): Promise<void>;
  /** Stops the gateway (cutting live streams as gateway_shutdown); removes the data dir unless `keepData`. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export function testConfig(dataDir: string, o: TestGatewayOptions = {}): Config {
  const input: ConfigInput = {
    dataDir,
    db: o.db,
    rtmp: { host: '127.0.0.1', port: 0, idleTimeoutMs: 15_000, handshakeTimeoutMs: 10_000, maxConnections: 1000, ...o.rtmp },
    // Every API response is checked against its route's schema: a mismatch is a 500 that fails the test.
    http: { host: '127.0.0.1', port: 0, checkResponses: true },
    ingest: { ws: { maxMessageBytes: 4 * 1024 * 1024, authTimeoutMs: 5_000, idleTimeoutMs: 10_000, ...o.ws } },
    identity: { webhookToleranceSeconds: 300, ...o.identity },
    ...(o.eligibility ? { eligibility: o.eligibility } : {}),
    ...(o.accountability ? { accountability: o.accountability } : {}),
    syncIntervalMs: o.syncIntervalMs ?? 500,
    log: { level: o.logLevel ?? (process.env.MODGATE_TEST_LOG === '1' ? 'debug' : 'silent') },
    demo: false,
    // Sampling and ONNX models cost CPU per stream and are covered by test/pipeline and test/sampler.
    ...(o.pipeline ? {} : { sampling: { enabled: false }, classifiers: { models: [] } }),
    ...o.extra,
  };
  return ConfigSchema.parse(input);
}

export async function startTestGateway(o: TestGatewayOptions = {}): Promise<TestGateway> {
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'modgate-gw-'));
  const config = testConfig(dataDir, o);
  const gw = await startGateway(config, { log: createLogger(config.log.level), ...(o.now ? { now: o.now } : {}) });
  const db = gw.store.db;
  const operatorToken = (await issueToken(db, 'test', `op-${Date.now()}`, 'operator')).token;
  const moderatorToken = (await issueToken(db, 'test', `mod-${Date.now()}`, 'moderator')).token;
  const httpUrl = `http://127.0.0.1:${gw.httpPort}`;
  const api = new ApiClient(httpUrl, operatorToken);
  const actor = { id: 'test' };

  const streams = async (): Promise<StreamView[]> => {
    const res = await api.get<{ streams: StreamView[] }>('/api/v1/streams');
    if (res.status !== 200) throw new Error(`GET /api/v1/streams: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.streams;
  };

  const t: TestGateway = {
    gw,
    config,
    dataDir,
    rtmpPort: gw.rtmpPort,
    httpPort: gw.httpPort,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${gw.httpPort}/ingest`,
    api,
    mod: new ApiClient(httpUrl, moderatorToken),
    anon: new ApiClient(httpUrl, null),
    operatorToken,
    moderatorToken,
    publishUrl: (key) => `rtmp://127.0.0.1:${gw.rtmpPort}/live/${key}`,
    playUrl: (id) => `rtmp://127.0.0.1:${gw.rtmpPort}/live/${id}`,
    async account(handle, opts = {}) {
      await addAccount(db, actor, { handle, verified: opts.verified ?? true, subject: opts.subject ?? null });
      return t.issueKey(handle);
    },
    async issueKey(handle) {
      const { key, record } = await issueKey(db, actor, handle);
      await gw.gate.refresh();
      return { handle, streamKey: key, keyId: record.id };
    },
    async token(role, name = `${role}-${Date.now()}`) {
      return (await issueToken(db, 'test', name, role)).token;
    },
    streams,
    // Deadlines for broken runs only (test/helpers/wait.ts): shorter ones are raised to DEADLINE_MS.
    async waitForStream(handle, timeoutMs = DEADLINE_MS) {
      return wait(async () => (await streams()).find((x) => x.account === handle), {
        timeoutMs: Math.max(timeoutMs, DEADLINE_MS),
        intervalMs: 100,
        describe: `a live stream of '${handle}'`,
      });
    },
    async waitForNoStream(handle, timeoutMs = DEADLINE_MS) {
      await wait(async () => !(await streams()).some((x) => x.account === handle), {
        timeoutMs: Math.max(timeoutMs, DEADLINE_MS),
        intervalMs: 100,
        describe: `'${handle}' to be off the live list`,
      });
    },
    async stop(opts = {}) {
      await gw.stop();
      if (ownDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

export { sleep };

/**
 * Polls `fn` until it returns a truthy value (test/helpers/wait.ts). `timeoutMs` is a deadline for broken
 * runs, not a claim about speed: anything under DEADLINE_MS (30 s) is raised to it, so a figure written
 * for a quiet machine cannot fail the suite on a loaded one.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = DEADLINE_MS, what = 'condition'): Promise<NonNullable<T>> {
  return wait(fn, { timeoutMs: Math.max(timeoutMs, DEADLINE_MS), describe: what });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/modgate.js ARGS` as a separate process. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/modgate.js'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, MODGATE_LOG_LEVEL: 'silent', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`modgate ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 90_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ReadResult {
  /** Video frames read from the stream. */
  frames: number;
  code: number | null;
  stderr: string;
}

/**
 * A real player: ffmpeg reads `url` (RTMP) and counts decoded video frames (framecrc lines), stopping
 * after `frames` or `timeoutMs`. A refused or empty path gives 0 frames.
 */
export function readFrames(url: string, opts: { frames?: number; timeoutMs?: number; ffmpegPath?: string } = {}): Promise<ReadResult> {
  const want = opts.frames ?? 5;
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-rw_timeout',
    '4000000',
    '-analyzeduration',
    '1000000',
    '-probesize',
    '500000',
    '-i',
    url,
    '-map',
    '0:v:0',
    '-frames:v',
    String(want),
    '-f',
    'framecrc',
    'pipe:1',
  ];
  return new Promise((resolve) => {
    const child = spawn(opts.ffmpegPath ?? FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEADLINE_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      const frames = out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).length;
      resolve({ frames, code, stderr });
    });
  });
}
