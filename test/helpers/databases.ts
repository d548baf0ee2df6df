import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';

/**
 * Databases for storage tests, on both backends: SQLite files in a temporary folder, and fresh PostgreSQL
 * databases (created here, dropped after the file) at MODGATE_TEST_PG_URL or
 * postgres://postgres@127.0.0.1:5432/test. When no PostgreSQL server answers, its tests are skipped with a
 * printed reason. Call `testDatabases` once, at the top level of a test file (it registers the clean-up).
 */

export const PG_ADMIN_URL = process.env.MODGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestBackend {
  name: 'sqlite' | 'postgres';
  skip: boolean;
  /** A new, empty database's URL. */
  url: () => Promise<string>;
}

async function probePg(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function testDatabases(prefix: string): Promise<{ pgUnavailable: string | null; freshPgUrl: () => Promise<string>; backends: TestBackend[] }> {
  const pgUnavailable = await probePg();
  if (pgUnavailable) console.warn(`PostgreSQL tests skipped: ${PG_ADMIN_URL} is unreachable (${pgUnavailable}); set MODGATE_TEST_PG_URL to run them`);

  const createdDbs: string[] = [];
  const freshPgUrl = async (): Promise<string> => {
    const name = `modgate_t_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    createdDbs.push(name);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return url.toString();
  };
  afterAll(async () => {
    if (createdDbs.length === 0) return;
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      for (const name of createdDbs) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  });

  const tmpDirs: string[] = [];
  afterAll(() => {
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  });
  const sqliteUrl = async (): Promise<string> => {
    const dir = mkdtempSync(path.join(tmpdir(), `modgate-${prefix}-`));
    tmpDirs.push(dir);
    return `sqlite:${path.join(dir, 'modgate.sqlite')}`;
  };

  return {
    pgUnavailable,
    freshPgUrl,
    backends: [
      { name: 'sqlite', skip: false, url: sqliteUrl },
      { name: 'postgres', skip: pgUnavailable !== null, url: freshPgUrl },
    ],
  };
}
