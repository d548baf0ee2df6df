import { HashListParser, type HashListEntry, type HashListError, type HashListFormat } from '../../../classifiers/hashlist-format.ts';

/**
 * A hash-list file read in the browser with the gateway's own parser (classifiers/hashlist-format.ts, the one
 * `modgate bank import` uses), so the per-line report is exactly the CLI's before anything is sent.
 */
export interface ParsedList {
  format: HashListFormat | null;
  entries: HashListEntry[];
  errors: HashListError[];
  /** Lines in the file (for the summary). */
  lines: number;
}

export function parseHashList(text: string): ParsedList {
  const parser = new HashListParser();
  const entries: HashListEntry[] = [];
  const errors: HashListError[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const item = parser.pushLine(line, i + 1);
    if (item?.kind === 'entry') entries.push(item.entry);
    else if (item?.kind === 'error') errors.push(item.error);
  });
  return { format: parser.format, entries, errors, lines: text.endsWith('\n') ? lines.length - 1 : lines.length };
}

/** One POST /entries call is one transaction of at most this many entries (the API's limit). */
export const MAX_ENTRIES_PER_REQUEST = 10_000;
