import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDialectConfig,
  type LogEvent,
} from 'kysely';
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
  /** The PostgreSQL pool (null on SQLite): for a dedicated LISTEN connection's settings and the health check. */
  pgConfig: pg.PoolConfig | null;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /**
   * A connection of the pool failed (the server went away, `pg_terminate_backend`, a network cut). The pool
   * drops that connection and opens a new one on the next query; this is only told, never thrown.
   */
  onConnectionError?: (err: Error) => void;
  /** Every query's duration (kysely's log hook), for the DB latency metric; `ok` false when it failed. */
  onQuery?: (ms: number, ok: boolean) => void;
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
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const log = opts.onQuery ? (e: LogEvent) => opts.onQuery!(e.queryDurationMillis, e.level === 'query') : undefined;
  if (/^postgres(ql)?:\/\//.test(url)) {
    // A query waits at most 5 s for a connection (the server is down or unreachable: fail, don't hang the
    // caller); keepAlive finds a silently dropped connection; statement_timeout bounds a stuck statement.
    const pgConfig: pg.PoolConfig = { connectionString: url, max: 10, connectionTimeoutMillis: 5_000, keepAlive: true, statement_timeout: 30_000 };
    const pool = new pg.Pool(pgConfig);
    const onConnectionError = (err: Error) => opts.onConnectionError?.(err);
    // Without these, a connection ended by the server ("terminating connection due to administrator command",
    // "Connection terminated unexpectedly") is an unhandled 'error' event and ends the process. The pool
    // emits 'error' for an idle connection; a checked-out one emits on the client itself, so every client
    // carries a listener for its whole life (its failed query still rejects to its caller).
    pool.on('error', onConnectionError);
    pool.on('connect', (client) => {
      client.on('error', onConnectionError);
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...(log ? { log } : {}) });
    try {
      await migrateToLatest(db as Kysely<unknown>, 'postgres');
    } catch (err) {
      await db.destroy().catch(() => {});
      throw err;
    }
    return { db, dialect: 'postgres', url, sqlite: null, pgConfig, close: () => db.destroy() };
  }
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  // WAL lets the CLI write while a running gateway reads; busy_timeout makes the two wait, not fail.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }), ...(log ? { log } : {}) });
  await migrateToLatest(db as Kysely<unknown>, 'sqlite');
  return { db, dialect: 'sqlite', url: `sqlite:${file}`, sqlite, pgConfig: null, close: () => db.destroy() };
}
