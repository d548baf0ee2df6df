/**
 * Whether a database error means "the database is away or busy now" (write it to the journal, retry
 * later) rather than "this write is wrong" (a bug or a constraint: retrying would fail forever).
 */

export class DeadlineError extends Error {
  readonly code = 'db_deadline';
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
  }
}

// PostgreSQL SQLSTATEs: class 08 connection exceptions, 57P0x shutdown / cannot connect now, 53300 too many
// connections, 57014 statement timeout, 40001/40P01 serialization failure and deadlock (retry succeeds).
const PG_TRANSIENT = new Set(['57P01', '57P02', '57P03', '53300', '53400', '57014', '40001', '40P01']);
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/;
// node-postgres reports a dropped or unopenable connection with plain Errors (no code).
const PG_MESSAGES = [
  /connection terminated/i,
  /connection timeout/i,
  /timeout exceeded when trying to connect/i,
  /not queryable/i,
  /is not currently accepting connections/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /terminating connection/i,
  /server closed the connection/i,
];

export function isTransientDbError(err: unknown): boolean {
  if (err instanceof DeadlineError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || PG_TRANSIENT.has(code) || NET_CODES.has(code) || SQLITE_TRANSIENT.test(code)) return true;
    // 55000 object_not_in_prerequisite_state: only as "database … is not currently accepting connections".
  }
  if (PG_MESSAGES.some((re) => re.test(err.message))) return true;
  // AggregateError (several addresses refused) and wrapped causes.
  const inner = (err as { errors?: unknown[] }).errors ?? [];
  if (inner.some(isTransientDbError)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isTransientDbError(cause);
}

/** `promise`, or a DeadlineError after `ms` (the promise itself still runs to its end). */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
