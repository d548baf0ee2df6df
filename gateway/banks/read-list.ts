import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { HashListParser, type HashListEntry, type HashListError, type HashListFormat } from '../../classifiers/hashlist-format.ts';
import type { NewEntry } from './schema.ts';
import type { VideoImport } from './videos.ts';

export interface ReadList {
  /** The format used: forced, or detected from the first content line (null for an empty list). */
  format: HashListFormat | null;
  /** Lines read (blank lines and comments included). */
  lines: number;
  entries: NewEntry[];
  /** Videos: runs of vPDQ frame lines (`hash,quality,timestamp`), each one entry (unless `framesAsPhotos`). */
  videos: VideoImport[];
  errors: HashListError[];
  /** Lines skipped for a PDQ quality below `minQuality` (lines that carry one; a video's frames included). */
  lowQuality: number;
}

/** The comment `modgate hash` prints before a video's frames: `# FILE: vPDQ, …`. */
const VIDEO_HEADER = /^#\s?(.*): vPDQ,/;

/**
 * A hash list read line by line from a stream (a file, stdin, an HTTP upload): the text is never held whole,
 * only the parsed entries are. The CLI's `bank import` and the API's import route both read through here.
 *
 * vPDQ frame lines (a timestamp in the third field) are a video's frames, not pictures: a run of them is one
 * video, as a vPDQ hash file is one video. A run ends at a `# FILE: vPDQ` comment (the next video of a
 * `modgate hash` output), a picture line, or a timestamp going back (files concatenated). Frames below
 * `minQuality` are dropped from the video, as vPDQ drops them before matching; a video left with none is
 * an error on its first line. `framesAsPhotos` keeps the older reading, each frame its own picture entry
 * (any one frame then matches by itself).
 */
export async function readHashListStream(
  input: Readable,
  opts: { format?: HashListFormat; minQuality?: number; framesAsPhotos?: boolean; onLine?: (n: number) => void } = {},
): Promise<ReadList> {
  const parser = new HashListParser(opts.format ? { format: opts.format } : {});
  const minQuality = opts.minQuality ?? 0;
  const entries: NewEntry[] = [];
  const videos: VideoImport[] = [];
  const errors: HashListError[] = [];
  let lowQuality = 0;
  let lines = 0;
  let video: (VideoImport & { last: number; seen: number }) | null = null;
  let nextName: string | null = null;
  const close = () => {
    if (video === null) return;
    if (video.frames.length > 0) videos.push({ name: video.name, line: video.line, frames: video.frames });
    else
      errors.push({ line: video.line, reason: `line ${video.line}: a video with no frame of quality ${minQuality} or more (${video.seen} frame(s) below it)` });
    video = null;
  };
  const frame = (e: HashListEntry & { timestampSec: number }) => {
    if (video !== null && e.timestampSec < video.last) close();
    if (video === null) {
      video = { name: nextName, line: e.line, frames: [], last: 0, seen: 0 };
      nextName = null;
    }
    video.last = e.timestampSec;
    if ((e.quality ?? 100) < minQuality) {
      lowQuality++;
      video.seen++;
    } else video.frames.push({ hash: e.hash, quality: e.quality ?? 100, timestampSec: e.timestampSec });
  };
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    const item = parser.pushLine(line, ++lines);
    if (item === null) {
      const header = VIDEO_HEADER.exec(line.trim());
      if (header) {
        close();
        nextName = header[1]!.trim() || null;
      }
    } else if (item.kind === 'error') errors.push(item.error);
    else if (item.entry.timestampSec !== undefined && !opts.framesAsPhotos) frame({ ...item.entry, timestampSec: item.entry.timestampSec });
    else {
      close();
      if ((item.entry.quality ?? 100) < minQuality) lowQuality++;
      else entries.push(item.entry);
    }
    if (lines % 50_000 === 0) opts.onLine?.(lines);
  }
  close();
  return { format: parser.format, lines, entries, videos, errors, lowQuality };
}
