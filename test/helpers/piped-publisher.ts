import { spawn, type ChildProcess } from 'node:child_process';

/**
 * An RTMP publisher whose picture the test changes while it runs: ffmpeg encodes PNG frames written to its
 * stdin (image2pipe) at `fps`, and `show` swaps the picture from the next frame on. Lets a test put a
 * banked image on a stream that has been live for a while at a moment it chooses (during a fault), where
 * a timed overlay would race the machine's load.
 */
export interface PipedPublisher {
  proc: ChildProcess;
  show(png: Buffer): void;
  /** True once ffmpeg has exited (the server cut the stream, or `stop`). */
  ended(): boolean;
  stop(): Promise<void>;
  stderr(): string;
}

export function startPipedPublisher(o: { url: string; ffmpegPath: string; picture: Buffer; fps?: number }): PipedPublisher {
  const fps = o.fps ?? 10;
  const proc = spawn(
    o.ffmpegPath,
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'image2pipe', '-framerate', String(fps), '-i', '-'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(fps), '-f', 'flv', o.url],
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-8000)));
  // A write after the server cut the stream fails with EPIPE: that is the end, not an error of the test.
  proc.stdin!.on('error', () => {});
  let picture = o.picture;
  const ended = () => proc.exitCode !== null || proc.signalCode !== null;
  const timer = setInterval(() => {
    if (ended()) return clearInterval(timer);
    // Skip a frame rather than queue them without bound when ffmpeg falls behind on a loaded machine.
    if (proc.stdin!.writableLength < 4 * picture.length) proc.stdin!.write(picture);
  }, 1000 / fps);
  proc.once('exit', () => clearInterval(timer));
  return {
    proc,
    show: (png) => (picture = png),
    ended,
    stderr: () => err,
    async stop() {
      clearInterval(timer);
      if (ended()) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
