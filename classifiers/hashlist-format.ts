/**
 * Hash-list files as real PDQ lists come: plain 64-hex lines, HMA `signal_type value` lines, CSV with a
 * header naming a hash column, or vPDQ-style `hash,quality,…` lines (see parseVpdq). Parsing is line by line (a `HashListParser` keeps the state: detected
 * format and CSV header), so files can be streamed; blank lines and `#` comments are skipped everywhere.
 */

export type HashListFormat = 'plain' | 'hma' | 'csv' | 'vpdq';
/** Formats a list can be written in (vPDQ lines carry a quality a bank does not keep). */
export type HashListExportFormat = Exclude<HashListFormat, 'vpdq'>;

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface HashListEntry {
  /** 1-based line number in the input. */
  line: number;
  /** 64 lowercase hex characters. */
  hash: string;
  category?: string;
  note?: string;
  source?: string;
  severity?: Severity;
  /** PDQ quality 0..100, where the line carries one (vPDQ and pdq-photo-hasher lines). */
  quality?: number;
  /** A video frame's timestamp in seconds (vPDQ lines): the line is a frame of a video, not a picture. */
  timestampSec?: number;
}

export interface HashListError {
  line: number;
  /** Self-contained message, starting with "line N: ". */
  reason: string;
}

export type HashListItem = { kind: 'entry'; entry: HashListEntry } | { kind: 'error'; error: HashListError };

export interface HashListParseOptions {
  /** Skip auto-detection (which looks at the first non-comment line). */
  format?: HashListFormat;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;
/** vPDQ compact feature or pdq-photo-hasher line (`hash,quality,…`), or a vPDQ C++ file line (`frame,quality,hash,…`). */
const VPDQ_LINE = /^(?:[0-9a-fA-F]{64},\s*\d+\s*(?:,|$)|\d+,\s*\d+\s*,\s*[0-9a-fA-F]{64}\s*(?:,|$))/;
const HASH_COLUMNS = ['hash', 'pdq', 'signal_value'] as const;
const META_COLUMNS = ['category', 'note', 'source', 'severity'] as const;
type MetaColumn = (typeof META_COLUMNS)[number];
/** HMA signal types that are not PDQ: reported as unsupported rather than as malformed. */
const HMA_SIGNAL_TYPE = /^[a-z][a-z0-9_]*$/;

/** Guesses the format from the first non-comment line; null when it fits none. */
export function detectHashListFormat(firstLine: string): HashListFormat | null {
  const line = firstLine.trim();
  if (HEX64.test(line)) return 'plain';
  if (VPDQ_LINE.test(line)) return 'vpdq';
  if (line.includes(',')) {
    const header = splitCsvLine(line);
    if (header.ok && header.fields.some((f) => isHashColumn(f))) return 'csv';
  }
  const [type, value] = line.split(/\s+/);
  if (type !== undefined && value !== undefined && HMA_SIGNAL_TYPE.test(type.toLowerCase())) return 'hma';
  return null;
}

function isHashColumn(name: string): boolean {
  return (HASH_COLUMNS as readonly string[]).includes(name.trim().toLowerCase());
}

function quoteForReason(text: string): string {
  return `'${text.length > 80 ? `${text.slice(0, 80)}…` : text}'`;
}

/** Stateful line parser: feed lines in order with their 1-based numbers. */
export class HashListParser {
  private detected: HashListFormat | null;
  private csvColumns: { hash: number; meta: Partial<Record<MetaColumn, number>>; count: number } | null = null;

  constructor(opts: HashListParseOptions = {}) {
    this.detected = opts.format ?? null;
  }

  /** The format in use: forced, or detected from the first content line (null before it). */
  get format(): HashListFormat | null {
    return this.detected;
  }

  /** Parses one line; null for blank lines, comments and the CSV header. */
  pushLine(rawLine: string, lineNumber: number): HashListItem | null {
    const line = rawLine.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return null;
    if (this.detected === null) {
      this.detected = detectHashListFormat(trimmed);
      if (this.detected === null) {
        this.detected = 'plain'; // keep going: later lines get their own per-line errors
        return error(
          lineNumber,
          `cannot tell the list format from ${quoteForReason(trimmed)} (expected a 64-hex hash, 'pdq <hash>', or a CSV header with a hash column)`,
        );
      }
    }
    switch (this.detected) {
      case 'plain':
        return this.parsePlain(trimmed, lineNumber);
      case 'hma':
        return this.parseHma(trimmed, lineNumber);
      case 'csv':
        return this.parseCsv(line, lineNumber);
      case 'vpdq':
        return parseVpdq(trimmed, lineNumber);
    }
  }

  private parsePlain(text: string, lineNumber: number): HashListItem {
    return HEX64.test(text) ? entry({ line: lineNumber, hash: text.toLowerCase() }) : notAHash(lineNumber, text);
  }

  private parseHma(text: string, lineNumber: number): HashListItem {
    const match = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
    if (!match) return error(lineNumber, `expected 'signal_type value', got ${quoteForReason(text)}`);
    const [, type = '', value = '', rest] = match;
    if (type.toLowerCase() !== 'pdq') return error(lineNumber, `unsupported signal type '${type}' (only pdq)`);
    if (!HEX64.test(value)) return notAHash(lineNumber, value);
    const parsed: HashListEntry = { line: lineNumber, hash: value.toLowerCase() };
    if (rest !== undefined && rest.trim() !== '') parsed.note = rest.trim();
    return entry(parsed);
  }

  private parseCsv(line: string, lineNumber: number): HashListItem | null {
    const split = splitCsvLine(line);
    if (!split.ok) return error(lineNumber, split.reason);
    const fields = split.fields;
    if (this.csvColumns === null) return this.readHeader(fields, lineNumber);
    const cols = this.csvColumns;
    if (fields.length !== cols.count) {
      return error(lineNumber, `expected ${cols.count} CSV fields as in the header, got ${fields.length}`);
    }
    const hash = (fields[cols.hash] ?? '').trim();
    if (!HEX64.test(hash)) return notAHash(lineNumber, hash);
    const parsed: HashListEntry = { line: lineNumber, hash: hash.toLowerCase() };
    for (const name of META_COLUMNS) {
      const index = cols.meta[name];
      const value = index === undefined ? '' : (fields[index] ?? '').trim();
      if (value === '') continue;
      if (name === 'severity') {
        const severity = value.toLowerCase();
        if (!isSeverity(severity)) return error(lineNumber, `severity must be one of ${SEVERITIES.join(', ')}: '${value}'`);
        parsed.severity = severity;
      } else {
        parsed[name] = value;
      }
    }
    return entry(parsed);
  }

  private readHeader(fields: string[], lineNumber: number): HashListItem | null {
    const names = fields.map((f) => f.trim().toLowerCase());
    const hash = names.findIndex((n) => isHashColumn(n));
    if (hash < 0) {
      return error(lineNumber, `CSV header has no hash column (one of ${HASH_COLUMNS.join(', ')}): ${quoteForReason(fields.join(','))}`);
    }
    const meta: Partial<Record<MetaColumn, number>> = {};
    for (const name of META_COLUMNS) {
      const index = names.indexOf(name);
      if (index >= 0) meta[name] = index;
    }
    this.csvColumns = { hash, meta, count: fields.length };
    return null;
  }
}

/**
 * One frame or image hash with its quality, in the line shapes Meta's tools print:
 * - vPDQ compact feature `pdq_hex,quality,timestamp` (vpdq's CLI, python/vpdq.pyx `_cli`, and
 *   python-threatexchange's VpdqCompactFeature): timestamp in seconds;
 * - vPDQ C++ hash file `frame_number,quality,pdq_hex,timestamp` (vpdq/cpp/vpdq/cpp/io/vpdqio.cpp);
 * - pdq-photo-hasher output `pdq_hex,quality,filename` (pdq/cpp/bin/pdq-photo-hasher.cpp), which is also
 *   what `modgate hash` prints for an image: the file name may hold commas (it is the rest of the line).
 * The note becomes `t=<seconds>s` for a frame (with `frame N` for the C++ shape) or the file name.
 */
function parseVpdq(text: string, lineNumber: number): HashListItem {
  const parts = text.split(',');
  const cpp = !HEX64.test((parts[0] ?? '').trim()) && HEX64.test((parts[2] ?? '').trim());
  const [hashField, qualityField, rest] = cpp ? [parts[2], parts[1], parts.slice(3).join(',')] : [parts[0], parts[1], parts.slice(2).join(',')];
  const hash = (hashField ?? '').trim();
  if (!HEX64.test(hash)) return error(lineNumber, `expected 'pdq_hex,quality,timestamp' (vPDQ) or 'pdq_hex,quality,file', got ${quoteForReason(text)}`);
  const qualityText = (qualityField ?? '').trim();
  const quality = Number(qualityText);
  if (!/^\d{1,3}$/.test(qualityText) || quality > 100) return error(lineNumber, `quality must be an integer 0..100: ${quoteForReason(qualityText)}`);
  const parsed: HashListEntry = { line: lineNumber, hash: hash.toLowerCase(), quality };
  const third = rest.trim();
  if (cpp) {
    const timestamp = Number(third);
    if (third === '' || !Number.isFinite(timestamp) || timestamp < 0) return error(lineNumber, `vPDQ timestamp must be seconds >= 0: ${quoteForReason(third)}`);
    parsed.note = `frame ${(parts[0] ?? '').trim()}, t=${timestamp.toFixed(3)}s`;
    parsed.timestampSec = timestamp;
  } else if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(third)) {
    const timestamp = Number(third);
    if (timestamp < 0) return error(lineNumber, `vPDQ timestamp must be seconds >= 0: ${quoteForReason(third)}`);
    parsed.note = `t=${timestamp.toFixed(3)}s`;
    parsed.timestampSec = timestamp;
  } else if (third !== '') {
    parsed.note = third;
  }
  return entry(parsed);
}

function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

function entry(value: HashListEntry): HashListItem {
  return { kind: 'entry', entry: value };
}

function error(line: number, reason: string): HashListItem {
  return { kind: 'error', error: { line, reason: `line ${line}: ${reason}` } };
}

function notAHash(line: number, text: string): HashListItem {
  return error(line, `not a 64-hex PDQ hash: ${quoteForReason(text)}`);
}

type CsvSplit = { ok: true; fields: string[] } | { ok: false; reason: string };

/** RFC 4180 fields of one line: quotes around fields, "" for a quote inside. Multi-line fields are refused. */
export function splitCsvLine(line: string): CsvSplit {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) return { ok: false, reason: 'unterminated quoted CSV field' };
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i];
        i++;
      }
      const next = line.indexOf(',', i);
      const trailing = next < 0 ? line.slice(i) : line.slice(i, next);
      if (trailing.trim() !== '') return { ok: false, reason: `text after a closing quote: ${quoteForReason(trailing)}` };
      fields.push(value);
      if (next < 0) return { ok: true, fields };
      i = next + 1;
    } else {
      const next = line.indexOf(',', i);
      const raw = next < 0 ? line.slice(i) : line.slice(i, next);
      if (raw.includes('"') && !raw.trim().startsWith('"')) return { ok: false, reason: `stray quote in unquoted CSV field ${quoteForReason(raw)}` };
      if (raw.trim().startsWith('"')) {
        // Leading spaces before a quoted field: re-parse from the quote.
        i += raw.indexOf('"');
        continue;
      }
      fields.push(raw);
      if (next < 0) return { ok: true, fields };
      i = next + 1;
    }
  }
}

// ---------------------------------------------------------------- whole inputs

export interface HashListParseResult {
  format: HashListFormat | null;
  entries: HashListEntry[];
  errors: HashListError[];
}

/** Parses a whole text (any line endings). */
export function parseHashList(text: string, opts: HashListParseOptions = {}): HashListParseResult {
  const parser = new HashListParser(opts);
  const entries: HashListEntry[] = [];
  const errors: HashListError[] = [];
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const item = parser.pushLine(line, i + 1);
    if (item?.kind === 'entry') entries.push(item.entry);
    else if (item?.kind === 'error') errors.push(item.error);
  });
  return { format: parser.format, entries, errors };
}

/** Streams items from lines (e.g. `readline.createInterface({ input })`), numbering them from 1. */
export async function* parseHashListLines(lines: AsyncIterable<string> | Iterable<string>, opts: HashListParseOptions = {}): AsyncGenerator<HashListItem> {
  const parser = new HashListParser(opts);
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    const item = parser.pushLine(line, lineNumber);
    if (item !== null) yield item;
  }
}

// ---------------------------------------------------------------- export

export type HashListRecord = Omit<HashListEntry, 'line'>;

const CSV_HEADER = ['hash', 'category', 'note', 'source', 'severity'] as const;

function csvField(value: string | undefined): string {
  if (value === undefined) return '';
  return /[",\r\n]|^\s|\s$|^#/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Serialises records in one of the formats, newline-terminated. Plain and HMA keep only the hash (HMA
 * appends nothing else, so a round trip through them drops metadata); CSV keeps every field.
 * Throws on a record whose hash is not 64 hex characters.
 */
export function serializeHashList(records: Iterable<HashListRecord>, format: HashListExportFormat): string {
  const lines: string[] = format === 'csv' ? [CSV_HEADER.join(',')] : [];
  for (const r of records) {
    if (!HEX64.test(r.hash)) throw new Error(`not a 64-hex PDQ hash: ${quoteForReason(r.hash)}`);
    const hash = r.hash.toLowerCase();
    if (format === 'plain') lines.push(hash);
    else if (format === 'hma') lines.push(`pdq ${hash}`);
    else lines.push([hash, csvField(r.category), csvField(r.note), csvField(r.source), csvField(r.severity)].join(','));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
