import os from 'node:os';
import type { Command } from 'commander';
import type { Config } from '../config.ts';
import type { Store } from '../store/db.ts';

/**
 * What every command shares: the global options, output, the actor and the database. This module and the
 * command declarations (*-commands.ts) import commander and nothing heavy: `modgate --help` or a typo
 * must not load zod, kysely, SQLite or ONNX. Each action imports what it needs when it runs.
 */

export interface GlobalOpts {
  config?: string;
  dataDir?: string;
  db?: string;
  json?: boolean;
}

export interface CliKit {
  withGlobals(cmd: Command): Command;
  withStore<T>(opts: object, fn: (store: Store) => Promise<T>): Promise<T>;
  out(opts: object, json: unknown, human: string): void;
  actor(): string;
  /** The effective configuration (config file, then flags). */
  config(opts: object): Promise<Config>;
}

export async function configFrom(opts: GlobalOpts & { rtmpPort?: number; httpPort?: number }): Promise<Config> {
  const { loadConfig } = await import('../config.ts');
  return loadConfig({
    file: opts.config,
    overrides: [
      [['dataDir'], opts.dataDir],
      [['db'], opts.db],
      [['rtmp', 'port'], opts.rtmpPort],
      [['http', 'port'], opts.httpPort],
    ],
  });
}

export const actor = () => ({ id: `cli:${os.userInfo().username}` });

/** Output: human lines by default, one JSON document with --json. */
export function out(opts: GlobalOpts, json: unknown, human: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

export async function withStore<T>(opts: GlobalOpts, fn: (store: Store) => Promise<T>): Promise<T> {
  const [{ databaseUrl }, { openStore }, config] = await Promise.all([import('../config.ts'), import('../store/db.ts'), configFrom(opts)]);
  const store = await openStore(databaseUrl(config));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function withGlobals(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (JSON or YAML)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .option('--db <url>', 'database URL: sqlite:PATH or postgres://…')
    .option('--json', 'machine-readable output on stdout');
}

export const kit: CliKit = { withGlobals, withStore, out, actor: () => actor().id, config: configFrom };
