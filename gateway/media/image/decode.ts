import { decodeJpeg } from './jpeg.ts';
import { decodePng } from './png.ts';
import { decodePnm } from './pnm.ts';
import type { Raster } from './raster.ts';
import type { InProcessFormat } from './sniff.ts';

/** Full-resolution pixels of a JPEG, PNG or PNM, decoded in this process. Throws MediaError or NotInProcess. */
export function decodeImage(format: InProcessFormat, bytes: Uint8Array): Raster {
  switch (format) {
    case 'jpeg':
      return decodeJpeg(bytes);
    case 'png':
      return decodePng(bytes);
    case 'pnm':
      return decodePnm(bytes);
  }
}
