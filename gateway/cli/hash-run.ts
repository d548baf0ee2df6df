import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { PdqHasher } from '../../classifiers/pdq.ts';
import { hashMedia, type ImageHashes, type MediaHashes } from '../media/hash-file.ts';
import { MediaError } from '../media/image/raster.ts';
import { expandInputs } from '../media/media-files.ts';

export interface HashCommandOptions {
  fps: number;
  fullResolution?: boolean;
  json?: boolean;
}

/** Exit code when some inputs could not be hashed (as `bank import` with invalid lines). */
export const EXIT_SOME_FAILED = 3;

type JsonResult =
  | ({ file: string } & ImageHashes)
  | { file: string; kind: 'video'; fps: number; width: number; height: number; frames: Array<{ hash: string; quality: number; timestamp: number }> }
  | { file: string; error: { code: string; message: string } };

/** Hashes every input in order, streaming text lines (or collecting one JSON document); returns the exit code. */
export async function runHash(
  inputs: readonly string[],
  opts: HashCommandOptions,
  io: { stdin: Readable; stdout: Writable; stderr: Writable },
): Promise<number> {
  const hasher = new PdqHasher();
  const json: JsonResult[] = [];
  let failed = 0;
  const stdinLines = () => createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const input of expandInputs(inputs, stdinLines)) {
    const { file } = input;
    let result: MediaHashes;
    try {
      if ('error' in input) throw new MediaError(input.error.code, input.error.message);
      result = await hashMedia(file, { hasher, fps: opts.fps, fullResolution: opts.fullResolution });
    } catch (err) {
      failed++;
      const code = err instanceof MediaError ? err.code : 'unsupported';
      const message = err instanceof Error ? err.message : String(err);
      io.stderr.write(`modgate hash: ${code}: ${oneLine(file)}: ${oneLine(message)}\n`);
      if (opts.json) json.push({ file, error: { code, message } });
      continue;
    }
    if (opts.json) json.push(toJson(file, result));
    else io.stdout.write(textLines(file, result));
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  return failed > 0 ? EXIT_SOME_FAILED : 0;
}

/**
 * Images: `hash,quality,file`, byte for byte the line Meta's pdq-photo-hasher prints. Videos: a comment
 * naming the file, then the vPDQ line `hash,quality,timestamp` per frame, as vpdq's CLI prints it
 * (python/vpdq.pyx `_cli`: f"{hex},{quality},{timestamp:.3f}"; timestamps in seconds, as vpdq/cpp
 * io/vpdqio.cpp writes them with 3 decimals). `bank import` reads both and skips the comments.
 */
export function textLines(file: string, r: MediaHashes): string {
  if (r.kind === 'image') return `${r.hash},${r.quality},${oneLine(file)}\n`;
  const head = `# ${oneLine(file)}: vPDQ, ${r.fps} frame(s) per second, ${r.frames.length} frame(s); hash,quality,timestamp in seconds\n`;
  return head + r.frames.map((f) => `${f.hash},${f.quality},${f.timeSec.toFixed(3)}\n`).join('');
}

function toJson(file: string, r: MediaHashes): JsonResult {
  if (r.kind === 'image') return { file, ...r };
  return {
    file,
    kind: 'video',
    fps: r.fps,
    width: r.width,
    height: r.height,
    frames: r.frames.map((f) => ({ hash: f.hash, quality: f.quality, timestamp: f.timeSec })),
  };
}

/** File names and messages stay on one line (a name with a newline would break every line format). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]/g, '?');
}
