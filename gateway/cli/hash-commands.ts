import { type Command, InvalidArgumentError } from 'commander';
import type { HashCommandOptions } from './hash-run.ts';

const fps = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 120) throw new InvalidArgumentError('a number of hashes per second, above 0 and at most 120');
  return n;
};

const HELP = `
Output
  image    hash,quality,file                 (the line Meta's pdq-photo-hasher prints)
  video    # file: vPDQ, …                   then per sampled frame:
           hash,quality,timestamp            (vPDQ's line; seconds, 3 decimals)
  error    on stderr: modgate hash: CODE: FILE: message
           CODE is one of not_found, unreadable, corrupt, truncated, too_large, unsupported,
           no_frames, ffmpeg_unavailable, no_files. The other files are still hashed; exit code 3.

Images over 512 px on a side are resized to exactly 512x512 (nearest neighbour, aspect ratio not
kept) before hashing, as the reference tool does; --full-resolution hashes every pixel instead, as the
gateway hashes live frames. Videos are hashed at their own resolution, as vPDQ does.
JPEG, PNG, PGM/PPM decode in-process; other formats (WebP, GIF, BMP, TIFF, videos) need ffmpeg.

Examples
  modgate hash photo.jpg frame.png
  modgate hash known-content/ | modgate bank import tve -
  find . -name '*.jpg' | modgate hash -
  modgate hash --fps 2 clip.mp4 --json
`;

/** `modgate hash`: PDQ hashes of images and videos, in the reference tools' formats. */
export function registerHashCommands(program: Command): void {
  program
    .command('hash')
    .description("PDQ hashes of images (as Meta's pdq-photo-hasher) and videos (as vPDQ), in a format `modgate bank import` reads")
    .addHelpText('after', HELP)
    .argument('<inputs...>', 'image or video files, folders (walked recursively, by extension), or - to read paths from stdin')
    .option('--fps <n>', 'videos: hashes per second', fps, 1)
    .option('--full-resolution', 'images: hash every pixel, no 512x512 pre-resize')
    .option('--json', 'one JSON document on stdout (errors included)')
    .action(async (inputs: string[], opts: HashCommandOptions) => {
      // Loaded here so that other commands never pay for the decoders.
      const { runHash } = await import('./hash-run.ts');
      process.exitCode = await runHash(inputs, opts, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
    });
}
