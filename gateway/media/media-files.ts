import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { MediaErrorCode } from './image/raster.ts';

/**
 * The files a `modgate hash` call names: files as given, folders walked recursively, `-` for a list of
 * paths on standard input (one a line, as the reference tool's `-i`). Order is stable: inputs in the order
 * given, each folder's entries by name (UTF-16 code units, not locale), depth first.
 */

/** What a folder walk picks up (files named on the command line or stdin are hashed whatever their name). */
export const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([
  ...['jpg', 'jpeg', 'jpe', 'jfif', 'jif', 'png', 'ppm', 'pgm', 'pnm', 'pbm', 'gif', 'webp', 'bmp', 'tif', 'tiff'],
  ...['mp4', 'm4v', 'mov', 'mkv', 'webm', 'avi', 'flv', 'ts', 'mts', 'm2ts', 'mpg', 'mpeg', 'wmv', '3gp', 'ogv'],
]);

export type MediaInput = { file: string } | { file: string; error: { code: Extract<MediaErrorCode, 'unreadable' | 'no_files'>; message: string } };

export async function* expandInputs(inputs: readonly string[], stdinLines: () => AsyncIterable<string>): AsyncGenerator<MediaInput> {
  let stdinRead = false;
  for (const input of inputs) {
    if (input === '-') {
      if (stdinRead) continue;
      stdinRead = true;
      for await (const line of stdinLines()) {
        const name = line.replace(/\r$/, '');
        if (name.trim() !== '') yield* expandPath(name);
      }
    } else {
      yield* expandPath(input);
    }
  }
}

async function* expandPath(file: string): AsyncGenerator<MediaInput> {
  const info = await stat(file).catch(() => null);
  // Anything but a folder is hashed as named (a missing file then reports not_found).
  if (!info?.isDirectory()) {
    yield { file };
    return;
  }
  let files = 0;
  for await (const item of walk(file)) {
    if (!('error' in item)) files++;
    yield item;
  }
  if (files === 0)
    yield { file, error: { code: 'no_files', message: `no image or video files (by extension: ${[...MEDIA_EXTENSIONS].slice(0, 6).join(', ')}, …)` } };
}

async function* walk(dir: string): AsyncGenerator<MediaInput> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    yield { file: dir, error: { code: 'unreadable', message: `cannot list the folder (${(err as { code?: string }).code ?? String(err)})` } };
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    // Symbolic links to folders are not followed (no cycles); links to files are hashed.
    if (e.isDirectory()) yield* walk(p);
    else if ((e.isFile() || e.isSymbolicLink()) && MEDIA_EXTENSIONS.has(path.extname(e.name).slice(1).toLowerCase())) {
      if (e.isSymbolicLink() && !(await stat(p).catch(() => null))?.isFile()) continue;
      yield { file: p };
    }
  }
}
