import pino, { type Logger } from 'pino';
import type { LiveStream } from './live/registry.ts';

export interface LoggerOptions {
  /** This gateway's node id: a binding on every line, so lines of several nodes can be told apart when merged. */
  node?: string;
  /** `pretty` (pino-pretty) or `json`; default: pretty on a terminal, JSON otherwise (files, collectors). */
  format?: 'json' | 'pretty';
  /** Where lines go (tests); default stdout. */
  destination?: pino.DestinationStream;
}

/**
 * Fields never written: stream keys, tokens, secrets and authorization headers, wherever they sit in a
 * line's object (top level, one level down, request headers). pino's fast-redact takes explicit paths.
 */
export const REDACT_PATHS = [
  'key',
  'streamKey',
  'token',
  'accessToken',
  'secret',
  'password',
  'authorization',
  '*.key',
  '*.streamKey',
  '*.token',
  '*.accessToken',
  '*.secret',
  '*.password',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const pretty = opts.format ? opts.format === 'pretty' : !opts.destination && process.stdout.isTTY === true;
  const options: pino.LoggerOptions = {
    level,
    base: opts.node ? { node: opts.node } : undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  // pino-pretty is a dependency (installed with the gateway, nothing fetched at run time), loaded in
  // pino's transport worker so formatting stays off the main thread.
  if (pretty && !opts.destination)
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A stream's logger: every line carries its stream id, account handle and protocol. */
export function streamLogger(log: Logger, s: Pick<LiveStream, 'id' | 'handle' | 'protocol'>): Logger {
  return log.child({ stream: s.id, account: s.handle, protocol: s.protocol });
}
