import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { ConfigInput } from '../../gateway/config.ts';
import { REPO_ROOT, waitFor } from './gateway.ts';
import { START_DEADLINE_MS } from './wait.ts';

/**
 * A gateway as its own process (`modgate serve --config … --json`): the shape several nodes on one
 * PostgreSQL take in production, and the only way to see that a fault does not end the process.
 */

export interface GatewayProcess {
  child: ChildProcess;
  dataDir: string;
  httpUrl: string;
  rtmpPort: number;
  /** Everything the process wrote to stderr (its log), for failure messages. */
  stderr(): string;
  /** Its stdout (the start document and its log lines). */
  stdout(): string;
  /** Resolves with the exit code or signal when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  publishUrl(key: string): string;
  /** SIGTERM (graceful) or SIGKILL; waits for the exit. Removes the data directory unless `keepData`. */
  stop(signal?: 'SIGTERM' | 'SIGKILL', opts?: { keepData?: boolean }): Promise<void>;
}

export interface GatewayProcessOptions {
  db: string;
  dataDir?: string;
  /** Merged over the test defaults (ports 0 on 127.0.0.1, no sampling, no models). */
  config?: Partial<ConfigInput>;
  logLevel?: string;
  /** How long `modgate serve` may take to start (a bank of millions is loaded before it listens); default START_DEADLINE_MS. */
  startDeadlineMs?: number;
  /** Node options for the process (before the script), e.g. `--heapsnapshot-signal=SIGUSR2`. */
  execArgv?: string[];
}

export async function startGatewayProcess(o: GatewayProcessOptions): Promise<GatewayProcess> {
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'modgate-node-'));
  const config: ConfigInput = {
    dataDir,
    db: o.db,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0, checkResponses: true },
    log: { level: (o.logLevel ?? (process.env.MODGATE_TEST_LOG === '1' ? 'debug' : 'warn')) as 'warn' },
    demo: false,
    sampling: { enabled: false },
    classifiers: { models: [] },
    ...o.config,
  };
  const configFile = path.join(dataDir, 'test-config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(process.execPath, [...(o.execArgv ?? []), path.join(REPO_ROOT, 'bin/modgate.js'), 'serve', '--config', configFile, '--json'], {
    cwd: REPO_ROOT,
    env: { ...process.env, MODGATE_LOG_LEVEL: config.log?.level ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-200_000);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-200_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const info = await waitFor(
    () => {
      // Log lines (one JSON object each) may share stdout with the pretty-printed start document.
      const at = out.indexOf('{\n  "rtmpUrl"');
      const end = at < 0 ? -1 : out.indexOf('\n}', at);
      try {
        if (end < 0) throw new Error('not yet');
        return JSON.parse(out.slice(at, end + 2)) as { rtmpUrl: string; httpUrl: string };
      } catch {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`modgate serve exited (${child.exitCode ?? child.signalCode}):\n${err.slice(-4000)}`);
        return null;
      }
    },
    o.startDeadlineMs ?? START_DEADLINE_MS,
    'modgate serve to start',
  );
  const rtmpPort = Number(new URL(info.rtmpUrl).port);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    dataDir,
    httpUrl: info.httpUrl.replace('localhost', '127.0.0.1'),
    rtmpPort,
    stderr: () => err,
    stdout: () => out,
    exited,
    alive,
    publishUrl: (key) => `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
    async stop(signal = 'SIGTERM', opts = {}) {
      if (alive()) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      if (ownDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Ends every server process connected to database `dbName` (as `pg_terminate_backend` by an operator would); returns how many. */
export async function terminateBackends(adminUrl: string, dbName: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>(
      'select count(pg_terminate_backend(pid))::text as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [dbName],
    );
    return Number(res.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Server processes connected to `dbName` now. */
export async function backendCount(adminUrl: string, dbName: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>("select count(*)::text as n from pg_stat_activity where datname = $1 and backend_type = 'client backend'", [
      dbName,
    ]);
    return Number(res.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Makes database `dbName` refuse (or accept again) new connections: an outage of that database for its clients. */
export async function allowConnections(adminUrl: string, dbName: string, allow: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`ALTER DATABASE ${pg.escapeIdentifier(dbName)} WITH ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`);
  } finally {
    await client.end();
  }
}

export const dbNameOf = (url: string) => new URL(url).pathname.slice(1);
