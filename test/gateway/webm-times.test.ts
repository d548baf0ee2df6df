import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebmBlockTimes } from '../../gateway/ingest/webm-times.ts';
import { ffmpegForTests } from '../sampler/helpers.ts';

/**
 * The WebSocket ingest's reader of WebM block times (the browser stream's time to cut starts at each
 * block's arrival), against ffmpeg's own demuxer on real VP8 + Vorbis files, chunked every which way.
 */
const ff = await ffmpegForTests({ libvpx: true });

describe.skipIf(!ff)('WebM block times, as the WebSocket ingest reads them', () => {
  let dir: string;
  const files: Record<'live' | 'seekable', Buffer> = { live: Buffer.alloc(0), seekable: Buffer.alloc(0) };
  const expected: Record<'live' | 'seekable', number[]> = { live: [], seekable: [] };

  const run = (args: string[]) => {
    const r = spawnSync(ff!.path, ['-hide_banner', '-loglevel', 'error', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'modgate-webm-times-'));
    for (const kind of ['live', 'seekable'] as const) {
      const file = path.join(dir, `${kind}.webm`);
      // `-live 1`: Segment and Clusters of unknown size, as MediaRecorder writes them; short clusters so chunks split many.
      run([
        ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=f=440', '-t', '4'],
        ...['-c:v', 'libvpx', '-b:v', '400k', '-deadline', 'realtime', '-c:a', 'vorbis', '-strict', 'experimental', '-ac', '2'],
        ...['-cluster_time_limit', '500', ...(kind === 'live' ? ['-live', '1'] : []), '-y', '-f', 'webm', file],
      ]);
      files[kind] = readFileSync(file);
      // framecrc: one line per video packet, "stream, dts, pts, …" in the stream's time base (1 ms for WebM).
      expected[kind] = run(['-i', file, '-map', '0:v', '-c', 'copy', '-f', 'framecrc', '-'])
        .split('\n')
        .filter((l) => /^0,/.test(l))
        .map((l) => Number(l.split(',')[2]));
    }
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  function scan(bytes: Buffer, sizes: () => number): { times: number[]; failed: string | null } {
    const r = new WebmBlockTimes();
    const times: number[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = Math.max(1, sizes());
      times.push(...r.push(bytes.subarray(at, at + n)));
      at += n;
    }
    return { times, failed: r.failed };
  }

  it('reads every video block time ffmpeg demuxes, skipping the audio, in one piece or split anywhere', () => {
    let seed = 12_345;
    const random = (max: number) => () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % max;
    for (const kind of ['live', 'seekable'] as const) {
      expect(expected[kind].length, `${kind}: ffmpeg's packets`).toBeGreaterThan(100);
      for (const sizes of [() => files[kind].length, () => 1, random(7), random(4_096), () => 16_384]) {
        const { times, failed } = scan(files[kind], sizes);
        expect(failed, kind).toBeNull();
        expect(times, kind).toEqual(expected[kind]);
      }
    }
  });

  it('bytes that are not WebM, or WebM that turns to garbage, stop the reader with a reason: it never throws, and reads no time after', () => {
    let seed = 7;
    const noise = Buffer.alloc(50_000);
    for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) & 0xff;
    expect(scan(noise, () => 1_000).failed).not.toBeNull();
    expect(scan(Buffer.alloc(5_000), () => 100)).toEqual({ times: [], failed: expect.any(String) });

    const live = files.live;
    const cut = Math.floor(live.length / 2);
    const broken = Buffer.concat([live.subarray(0, cut), Buffer.alloc(4_096), live.subarray(cut)]);
    const r = scan(broken, () => 1_500);
    expect(r.failed).not.toBeNull();
    // What came before the garbage is still read, and nothing after it.
    expect(r.times.length).toBeGreaterThan(0);
    expect(r.times.length).toBeLessThan(expected.live.length);
    expect(r.times).toEqual(expected.live.slice(0, r.times.length));
  });
});
