import { readFileSync } from 'node:fs';
import { readFlvTags, replayPublish, type ReplayPublisher } from '../../test/helpers/flv-replay.ts';

/**
 * Load generator for the capacity benchmark, run as a child process so its CPU is measured apart from
 * the gateway's: publishes one looped FLV file to many stream keys over real RTMP connections, paced in
 * real time (like `ffmpeg -re -c copy`, at a fraction of the cost of one ffmpeg per stream).
 *
 * argv[2]: JSON { port, file, keys: string[], staggerMs? }. Prints one JSON line per publish
 * ({ published: key } or { refused: key, error }) and { ready: n } when all have been tried; runs until
 * killed.
 */

interface Args {
  port: number;
  file: string;
  keys: string[];
  staggerMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const tags = readFlvTags(readFileSync(args.file));
const publishers: ReplayPublisher[] = [];
const say = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

let ok = 0;
for (const [i, key] of args.keys.entries()) {
  try {
    // Start offsets spread the streams' keyframes over the GOP, as independent publishers would be.
    const p = await replayPublish({ port: args.port, streamKey: key, tags, loop: true, startOffsetMs: (i * 397) % 2000 });
    await p.published;
    publishers.push(p);
    ok++;
    say({ published: key });
  } catch (err) {
    say({ refused: key, error: err instanceof Error ? err.message : String(err) });
  }
  await new Promise((r) => setTimeout(r, args.staggerMs ?? 50));
}
say({ ready: ok });

const stop = (): void => {
  for (const p of publishers) p.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 60_000);
