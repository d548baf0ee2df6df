import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, ftruncateSync, appendFileSync } from 'node:fs';
import path from 'node:path';

/**
 * An append-only file of records, one line each: `<checksum> <json>\n`, written with one `write` and made
 * durable with `fsync` before `append` returns. Why a plain file rather than an embedded SQLite database:
 * the journal is written only while the database is away and read back once, in order; a line per record
 * with its own checksum is the whole format, can be read with `tail`, and a torn last line (kill -9 or a
 * power cut mid-write) is found by its missing newline or wrong checksum and skipped, never parsed.
 *
 * The checksum is the first 16 hex digits of the record's SHA-256 (crypto is in every Node 20; zlib.crc32
 * only from 20.15).
 */

export interface JournalOpenResult {
  file: JournalFile;
  /** Every intact record, in the order written. */
  records: unknown[];
  /** A torn last record (cut mid-write) was found and dropped. */
  tornTail: boolean;
  /** Records before the last that failed their checksum or did not parse (damage, not a crash): set aside. */
  corrupt: number;
}

export function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function frame(body: unknown): string {
  const json = JSON.stringify(body);
  return `${checksum(json)} ${json}\n`;
}

/** Parses one line; null when its checksum or JSON is wrong. */
function parseLine(line: string): { ok: true; body: unknown } | { ok: false } {
  const space = line.indexOf(' ');
  if (space !== 16) return { ok: false };
  const json = line.slice(space + 1);
  if (checksum(json) !== line.slice(0, space)) return { ok: false };
  try {
    return { ok: true, body: JSON.parse(json) as unknown };
  } catch {
    return { ok: false };
  }
}

export class JournalFile {
  private fd: number;

  private constructor(
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Opens (or creates) the journal and reads what it holds. A torn tail is cut off the file before anything
   * is appended (a new record must never be glued to half of an old one); records that fail their checksum
   * elsewhere are copied to `<file>.rejected` for an operator and left out.
   */
  static open(file: string): JournalOpenResult {
    mkdirSync(path.dirname(file), { recursive: true });
    const fresh = !existsSync(file);
    const text = fresh ? '' : readFileSync(file, 'utf8');
    const lines = text.split('\n');
    // After the last newline: empty when the last record is whole, otherwise a torn record.
    const tail = lines.pop() ?? '';
    const records: unknown[] = [];
    const rejected: string[] = [];
    let tornTail = tail.length > 0;
    lines.forEach((line, i) => {
      if (line.length === 0) return;
      const parsed = parseLine(line);
      if (parsed.ok) records.push(parsed.body);
      // The last whole line failing its checksum is a torn write too (its newline made it to disk, not all of it).
      else if (i === lines.length - 1) tornTail = true;
      else rejected.push(line);
    });
    if (tornTail || rejected.length > 0) {
      if (rejected.length > 0) appendFileSync(`${file}.rejected`, rejected.map((l) => `${l}\n`).join(''));
      // Rewrite the intact records (write, fsync, rename): the file is never seen half-rewritten.
      const tmp = `${file}.tmp`;
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, records.map(frame).join(''));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    }
    const fd = openSync(file, 'a');
    if (fresh || tornTail || rejected.length > 0) syncDir(path.dirname(file));
    return { file: new JournalFile(file, fd), records, tornTail, corrupt: rejected.length };
  }

  /** Appends one record and returns once it is on disk. */
  append(body: unknown): void {
    writeSync(this.fd, frame(body));
    fsyncSync(this.fd);
  }

  /** Empties the journal (every record is in the database). */
  reset(): void {
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A new or renamed file's directory entry is durable only once the directory itself is synced. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file's own fsync still holds its contents.
  }
}
