import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, hamming } from '../../classifiers/pdq.ts';
import { findFfmpeg, fpsModeFromVersion } from '../../gateway/media/ffmpeg-path.ts';
import { openStore } from '../../gateway/store/db.ts';
import { FIXTURE_IMAGES, errorCodes, modgate, parseHashLines, referenceValues } from './cli-process.ts';

/**
 * `modgate hash` as a curator uses it: many files, a folder, a list on stdin, its output piped into
 * `bank import` (a real SQLite file), videos as vPDQ lines, and bad files that get a code each while the
 * rest are still hashed.
 */

const ref = referenceValues().fixtures;
const ffmpeg = await findFfmpeg();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'modgate-hash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixture = (name: string) => path.join(FIXTURE_IMAGES, name);

describe('modgate hash with many inputs', { timeout: 180_000 }, () => {
  it('hashes several files in one call, in the order given, one reference-format line each', async () => {
    const names = ['rgb-444-300x200.jpg', 'grey-256x192.png', 'rgb-160x120.ppm'];
    const run = await modgate(['hash', ...names.map(fixture)]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(names.map((n) => `${ref[n]!.hash},${ref[n]!.quality},${fixture(n)}\n`).join(''));
  });

  it('walks a folder recursively in name order, taking image and video files by extension and skipping hidden ones', async () => {
    const tree = path.join(dir, 'tree');
    mkdirSync(path.join(tree, 'b-sub', 'deeper'), { recursive: true });
    copyFileSync(fixture('rgb-444-300x200.jpg'), path.join(tree, 'c.jpg'));
    copyFileSync(fixture('grey-256x192.png'), path.join(tree, 'a.PNG'));
    copyFileSync(fixture('rgb-160x120.ppm'), path.join(tree, 'b-sub', 'deeper', 'z.ppm'));
    copyFileSync(fixture('palette-256x192.png'), path.join(tree, 'b-sub', 'y.png'));
    copyFileSync(fixture('rgb-444-300x200.jpg'), path.join(tree, '.hidden.jpg'));
    writeFileSync(path.join(tree, 'notes.txt'), 'not an image');
    symlinkSync(path.join(tree, 'b-sub'), path.join(tree, 'loop'));
    const run = await modgate(['hash', tree]);
    expect(run.code, run.stderr).toBe(0);
    const lines = parseHashLines(run.stdout);
    expect(lines.map((l) => path.relative(tree, l.rest))).toEqual(['a.PNG', 'b-sub/deeper/z.ppm', 'b-sub/y.png', 'c.jpg']);
    expect(lines.map((l) => l.hash)).toEqual(['grey-256x192.png', 'rgb-160x120.ppm', 'palette-256x192.png', 'rgb-444-300x200.jpg'].map((n) => ref[n]!.hash));
  });

  it('reads a list of paths from stdin with -, blank lines and CRLF included', async () => {
    const list = `${fixture('rgb-444-300x200.jpg')}\r\n\n${fixture('grey-160x120.pgm')}\n`;
    const run = await modgate(['hash', '-'], { stdin: list });
    expect(run.code, run.stderr).toBe(0);
    expect(parseHashLines(run.stdout).map((l) => [l.hash, l.rest])).toEqual([
      [ref['rgb-444-300x200.jpg']!.hash, fixture('rgb-444-300x200.jpg')],
      [ref['grey-160x120.pgm']!.hash, fixture('grey-160x120.pgm')],
    ]);
  });

  it('pipes straight into bank import: every image becomes an entry with its file as the note, low-quality ones are skipped', async () => {
    const db = `sqlite:${path.join(dir, 'bank.sqlite')}`;
    const images = path.join(dir, 'to-bank');
    mkdirSync(images);
    for (const n of ['rgb-444-300x200.jpg', 'grey-256x192.png', 'rgb16-128x96.png', 'rgb-128x96.bmp']) copyFileSync(fixture(n), path.join(images, n));
    // A featureless picture (quality 0): PDQ can say nothing about it; it must not become a bank entry.
    writeFileSync(path.join(images, 'flat.pgm'), Buffer.concat([Buffer.from('P5\n64 64\n255\n'), Buffer.alloc(64 * 64, 128)]));
    const created = await modgate(['bank', 'create', 'tve', '--category', 'terrorist-violent-extremism', '--db', db]);
    expect(created.code, created.stderr).toBe(0);
    const hashed = await modgate(['hash', images]);
    expect(hashed.code, hashed.stderr).toBe(0);
    const imported = await modgate(['bank', 'import', 'tve', '-', '--json', '--db', db], { stdin: hashed.stdout });
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ bank: 'tve', added: 4, duplicates: 0, lowQuality: 1, invalid: [] });
    const store = await openStore(db);
    try {
      const rows = await store.db.selectFrom('bank_entries').select(['hash', 'note']).where('bank', '=', 'tve').orderBy('note').execute();
      expect(rows).toEqual(
        ['grey-256x192.png', 'rgb-128x96.bmp', 'rgb-444-300x200.jpg', 'rgb16-128x96.png'].map((n) => ({ hash: ref[n]!.hash, note: path.join(images, n) })),
      );
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!ffmpeg)('modgate hash on videos', { timeout: 180_000 }, () => {
  let video: string;
  beforeAll(async () => {
    video = path.join(dir, 'clip 1.mp4');
    await promisify(execFile)(ffmpeg!.path, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=25',
      '-t',
      '3.2',
      '-pix_fmt',
      'yuv420p',
      '-y',
      video,
    ]);
  });

  it('prints one vPDQ line (hash,quality,seconds) per second after a comment naming the file, and more with --fps', async () => {
    const [one, two] = await Promise.all([modgate(['hash', video]), modgate(['hash', '--fps', '2', video])]);
    expect(one.code, one.stderr).toBe(0);
    const lines = one.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^# .*clip 1\.mp4: vPDQ/);
    const frames = lines.slice(1);
    expect(frames.map((l) => l.split(',')[2])).toEqual(['0.000', '1.000', '2.000', '3.000']);
    for (const l of frames) expect(l).toMatch(/^[0-9a-f]{64},\d{1,3},\d+\.\d{3}$/);
    // testsrc2 moves: consecutive seconds are different pictures.
    expect(new Set(frames.map((l) => l.split(',')[0])).size).toBe(4);
    const twice = two.stdout.trimEnd().split('\n').slice(1);
    expect(twice.map((l) => l.split(',')[2])).toEqual(['0.000', '0.500', '1.000', '1.500', '2.000', '2.500', '3.000']);
    expect(twice.filter((_, i) => i % 2 === 0).map((l) => l.split(',')[0])).toEqual(frames.map((l) => l.split(',')[0]));
  });

  it('runs ffmpeg once to identify it and once per file it decodes (a video and a WebP: three runs in all)', async () => {
    // A wrapper that logs each run's arguments, then runs the real binary.
    const log = path.join(dir, 'ffmpeg-runs.log');
    const wrapper = path.join(dir, 'ffmpeg-logged');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${ffmpeg!.path}' "$@"\n`, { mode: 0o755 });
    const saved = process.env.FFMPEG_PATH;
    process.env.FFMPEG_PATH = wrapper;
    try {
      const run = await modgate(['hash', video, path.join(FIXTURE_IMAGES, 'rgb-320x180.webp')]);
      expect(run.code, run.stderr).toBe(0);
      expect(parseHashLines(run.stdout)).toHaveLength(5);
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
    }
    const runs = readFileSync(log, 'utf8').trim().split('\n');
    expect(runs.filter((r) => r.includes('-version'))).toHaveLength(1);
    expect(runs.filter((r) => r.includes(' -i '))).toHaveLength(2);
    expect(runs).toHaveLength(3);
  });

  it('knows -fps_mode from the version: 5.1 and later, and git builds without a release number', () => {
    expect(['4.1', '4.4.2', '5.0.1'].map(fpsModeFromVersion)).toEqual([false, false, false]);
    expect(['5.1.9-0+deb12u1', '6.1', '7.0.2', 'N-113890-g1234abcd'].map(fpsModeFromVersion)).toEqual([true, true, true, true]);
  });

  it('gives frames in --json with timestamps, and bank import takes the vPDQ lines as one video entry, exported back as vPDQ', async () => {
    const run = await modgate(['hash', '--json', video]);
    const [doc] = JSON.parse(run.stdout) as Array<{
      kind: string;
      fps: number;
      width: number;
      frames: Array<{ hash: string; quality: number; timestamp: number }>;
    }>;
    expect(doc).toMatchObject({ kind: 'video', fps: 1, width: 320, height: 240 });
    expect(doc!.frames.map((f) => f.timestamp)).toEqual([0, 1, 2, 3]);
    const data = path.join(dir, 'video-bank');
    await modgate(['bank', 'create', 'clips', '--category', 'terrorist-violent-extremism', '--data-dir', data]);
    const text = await modgate(['hash', video, fixture('rgb-444-300x200.jpg')]);
    const imported = await modgate(['bank', 'import', 'clips', '-', '--json', '--data-dir', data], { stdin: text.stdout });
    // The picture is one PDQ entry, the video one vPDQ entry holding its 4 frames.
    expect(JSON.parse(imported.stdout)).toMatchObject({ added: 1, videos: { valid: 1, added: 1, frames: [4] }, invalid: [] });
    const again = await modgate(['bank', 'import', 'clips', '-', '--json', '--data-dir', data], { stdin: text.stdout });
    expect(JSON.parse(again.stdout)).toMatchObject({ added: 0, duplicates: 1, videos: { added: 0, duplicates: 1 } });
    const csv = await modgate(['bank', 'export', 'clips', '--format', 'csv', '--data-dir', data]);
    expect(csv.stdout.trim().split('\n')).toHaveLength(2); // header + the picture
    expect(csv.stderr).toContain('1 video entry not written (use --format vpdq)');
    const vpdq = await modgate(['bank', 'export', 'clips', '--format', 'vpdq', '--data-dir', data]);
    const lines = doc!.frames.map((f) => `${f.hash},${f.quality},${f.timestamp.toFixed(3)}\n`).join('');
    expect(vpdq.stdout).toBe(`# ${video}: vPDQ, 4 frame(s); hash,quality,timestamp in seconds\n${lines}`);
    // Read back, the export is the same video: nothing new.
    const back = await modgate(['bank', 'import', 'clips', '-', '--json', '--data-dir', data], { stdin: vpdq.stdout });
    expect(JSON.parse(back.stdout)).toMatchObject({ videos: { valid: 1, added: 0, duplicates: 1 } });
  });

  it('reads a vPDQ file without a header as one video, drops frames below quality 50, and keeps the older reading with --frames-as-photos', async () => {
    const data = path.join(dir, 'video-bank-2');
    await modgate(['bank', 'create', 'clips', '--category', 'terrorist-violent-extremism', '--data-dir', data]);
    const h = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
    // As vpdq's CLI prints a file; the second file's timestamps start over: a second video.
    const file = [`${h(1)},100,0.000`, `${h(2)},12,1.000`, `${h(3)},90,2.000`, `${h(4)},90,0.000`, `${h(5)},90,1.000`, `${h(6)},3,0.000`].join('\n');
    const run = await modgate(['bank', 'import', 'clips', '-', '--json', '--data-dir', data], { stdin: file });
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as { videos: { frames: number[] }; lowQuality: number; invalid: Array<{ line: number }> };
    expect(report.videos.frames).toEqual([2, 2]);
    expect(report.lowQuality).toBe(2);
    // The third video holds only a frame below 50: nothing to match, reported on its line.
    expect(report.invalid.map((e) => e.line)).toEqual([6]);
    const photos = await modgate(['bank', 'import', 'clips', '-', '--json', '--frames-as-photos', '--data-dir', data], { stdin: file });
    expect(JSON.parse(photos.stdout)).toMatchObject({ added: 4, lowQuality: 2, videos: { valid: 0 } });
  });
});

describe('modgate hash on bad input', { timeout: 180_000 }, () => {
  it('gives each bad file one stderr line with a stable code, still hashes the good ones, and exits 3', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(path.join(bad, 'empty-folder'), { recursive: true });
    const jpeg = readFileSync(fixture('rgb-444-300x200.jpg'));
    const files: Record<string, Buffer | null> = {
      'truncated.jpg': jpeg.subarray(0, jpeg.length >> 1),
      'garbage.jpg': Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(300, 0x5a), Buffer.from([0xff, 0xd9])]),
      'bad-crc.png': (() => {
        const png = Buffer.from(readFileSync(fixture('grey-256x192.png')));
        const at = png.indexOf('IDAT') + 20; // inside the first IDAT's data: its CRC no longer matches
        png[at] = png[at]! ^ 0xff;
        return png;
      })(),
      'short.ppm': Buffer.from('P6\n100 100\n255\n\x01\x02\x03'),
      'huge.png': (() => {
        const png = Buffer.from(readFileSync(fixture('grey-256x192.png')));
        png.writeUInt32BE(100_000, 16);
        png.writeUInt32BE(100_000, 20);
        return png;
      })(),
      'empty.jpg': Buffer.alloc(0),
      'notes.txt': Buffer.from('just some text\n'),
    };
    for (const [name, bytes] of Object.entries(files)) if (bytes) writeFileSync(path.join(bad, name), bytes);
    const good = fixture('rgb-444-300x200.jpg');
    const inputs = [...Object.keys(files).map((n) => path.join(bad, n)), path.join(bad, 'missing.jpg'), path.join(bad, 'empty-folder'), good];
    const run = await modgate(['hash', ...inputs]);
    expect(run.code).toBe(3);
    expect(errorCodes(run.stderr)).toEqual({
      [path.join(bad, 'truncated.jpg')]: 'truncated',
      [path.join(bad, 'garbage.jpg')]: 'corrupt',
      [path.join(bad, 'bad-crc.png')]: 'corrupt',
      [path.join(bad, 'short.ppm')]: 'corrupt',
      [path.join(bad, 'huge.png')]: 'too_large',
      [path.join(bad, 'empty.jpg')]: 'corrupt',
      [path.join(bad, 'notes.txt')]: ffmpeg ? 'unsupported' : 'ffmpeg_unavailable',
      [path.join(bad, 'missing.jpg')]: 'not_found',
      [path.join(bad, 'empty-folder')]: 'no_files',
    });
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(9);
    expect(parseHashLines(run.stdout)).toEqual([{ hash: ref['rgb-444-300x200.jpg']!.hash, quality: 100, rest: good }]);

    const json = await modgate(['hash', '--json', path.join(bad, 'truncated.jpg'), good]);
    expect(json.code).toBe(3);
    const rows = JSON.parse(json.stdout) as Array<{ file: string; error?: { code: string }; hash?: string }>;
    expect(rows.map((r) => r.error?.code ?? r.hash)).toEqual(['truncated', ref['rgb-444-300x200.jpg']!.hash]);
  });

  it('hashes a JPEG that libjpeg only warns about (extraneous bytes before a marker) exactly as the reference does', async () => {
    const jpeg = readFileSync(fixture('rgb-444-300x200.jpg'));
    const eoi = jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]));
    const file = path.join(dir, 'warned.jpg');
    writeFileSync(file, Buffer.concat([jpeg.subarray(0, eoi), Buffer.from([0x00, 0x12, 0x34]), jpeg.subarray(eoi)]));
    const run = await modgate(['hash', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(hamming(fromHex(parseHashLines(run.stdout)[0]!.hash), fromHex(ref['rgb-444-300x200.jpg']!.hash))).toBe(0);
  });

  it('refuses a bad --fps value and names no files', async () => {
    const run = await modgate(['hash', '--fps', '0', fixture('rgb-444-300x200.jpg')]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
  });
});
