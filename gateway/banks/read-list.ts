import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { HashListParser, type HashListError, type HashListFormat } from '../../classifiers/hashlist-format.ts';
import type { NewEntry } from './schema.ts';

export interface ReadList {
  /** The format used: forced, or detected from the first content line (null for an empty list). */
  format: HashListFormat | null;
  /** Lines read (blank lines and comments included). */
  lines: number;
  entries: NewEntry[];
  errors: HashListError[];
  /** Lines skipped for a PDQ quality below `minQuality` (lines that carry one). */
  lowQuality: number;
}

/**
 * A hash list read line by line from a stream (a file, stdin, an HTTP upload): the text is never held whole,
 * only the parsed entries are. The CLI's `bank import` and the API's import route both read through here.
 */
export async function readHashListStream(
  input: Readable,
  opts: { format?: HashListFormat; minQuality?: number; onLine?: (n: number) => void } = {},
): Promise<ReadList> {
  const parser = new HashListParser(opts.format ? { format: opts.format } : {});
  const entries: NewEntry[] = [];
  const errors: HashListError[] = [];
  let lowQuality = 0;
  let lines = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    const item = parser.pushLine(line, ++lines);
    if (item?.kind === 'error') errors.push(item.error);
    else if (item?.kind === 'entry') {
      if ((item.entry.quality ?? 100) < (opts.minQuality ?? 0)) lowQuality++;
      else entries.push(item.entry);
    }
    if (lines % 50_000 === 0) opts.onLine?.(lines);
  }
  return { format: parser.format, lines, entries, errors, lowQuality };
}
