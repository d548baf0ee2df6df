import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.ts';
import type { Database, Dialect } from './schema.ts';

export type { Dialect } from './schema.ts';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  url: string;
  /** The raw SQLite handle, for the few bulk paths where kysely's per-query cost dominates (hash-list imports). */
  sqlite: SqliteDatabase.Database | null;
  close(): Promise<void>;
}

// PostgreSQL returns int8 as strings; every bigint column here is an epoch-ms time or a sequence, well
// inside Number's safe range, so parse them as numbers to keep both dialects' rows the same shape.
pg.types.setTypeParser(20, (v: string) => Number(v));

/**
 * SQLite transactions begin IMMEDIATE (take the write lock up front). With kysely's plain BEGIN (deferred),
 * two processes (the gateway and a CLI command) that both read then write in a transaction deadlock on the
 * lock upgrade, and SQLite fails one at once with "database is locked" whatever the busy_timeout.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqliteConfig: SqliteDialectConfig) {
    super(sqliteConfig);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig);
  }
}

/** Opens the database named by `url` (`sqlite:PATH`, a bare path, or `postgres://…`) and migrates it. */
export async function openStore(url: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await migrateToLatest(db as Kysely<unknown>, 'postgres');
    return { db, dialect: 'postgres', url, sqlite: null, close: () => db.destroy() };
  }
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  // WAL lets the CLI write while a running gateway reads; busy_timeout makes the two wait, not fail.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  await migrateToLatest(db as Kysely<unknown>, 'sqlite');
  return { db, dialect: 'sqlite', url: `sqlite:${file}`, sqlite, close: () => db.destroy() };
}
