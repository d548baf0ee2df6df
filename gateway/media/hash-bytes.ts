import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PdqHasher } from '../../classifiers/pdq.ts';
import { hashMedia, hashRaster, type ImageHashes } from './hash-file.ts';
import { decodeImage } from './image/decode.ts';
import { MediaError, NotInProcess } from './image/raster.ts';
import { isInProcess, sniffFormat } from './image/sniff.ts';

/**
 * The PDQ hash of a picture held in memory (an upload, a fetched URL), by the same rule as a file
 * (gateway/media/hash-file.ts: the reference photo hasher's 512×512 resize). JPEG, PNG and PNM decode in
 * process; other stills go to ffmpeg through a temporary file that is removed at once. Anything that is not
 * a still picture is refused (`unsupported`): this is the photo hasher.
 */
export async function hashImageBytes(bytes: Uint8Array, hasher = new PdqHasher()): Promise<ImageHashes> {
  if (bytes.length === 0) throw new MediaError('corrupt', 'empty upload');
  const format = sniffFormat(bytes);
  if (format === null) throw new MediaError('unsupported', 'not a picture modgate can decode (JPEG, PNG, PNM, GIF, WebP, BMP, TIFF)');
  if (isInProcess(format)) {
    try {
      return hashRaster(decodeImage(format, bytes), hasher);
    } catch (err) {
      if (!(err instanceof NotInProcess)) throw err;
    }
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'modgate-hash-'));
  try {
    const file = path.join(dir, `upload.${format}`);
    await writeFile(file, bytes);
    const r = await hashMedia(file, { hasher });
    if (r.kind !== 'image') throw new MediaError('unsupported', 'not a still picture');
    return r;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
