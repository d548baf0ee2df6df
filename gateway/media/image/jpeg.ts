import { JpegFatalError, TJCS, decodeJpegTurbo } from './libjpeg-turbo.ts';
import { MediaError, NotInProcess, checkSize, type Raster } from './raster.ts';

/**
 * JPEG as the reference decodes it (CImg's load_jpeg over libjpeg with its defaults): greyscale files
 * stay one channel, YCbCr and RGB files become RGB. CMYK/YCCK files give libjpeg four channels, which the
 * reference tool refuses ("Internal coding error", exit 1); here they go to ffmpeg, which converts them
 * to RGB. EXIF orientation is ignored, as the reference ignores it.
 */
export function decodeJpeg(bytes: Uint8Array): Raster {
  // libjpeg fills a cut-off file with grey after a warning; a file with no end-of-image marker after its
  // last scan is refused instead (see MediaError 'truncated').
  if (!hasEndOfImage(bytes)) throw new MediaError('truncated', 'JPEG ends before its end-of-image marker');
  let decoded;
  try {
    decoded = decodeJpegTurbo(bytes, (h) => {
      if (h.colorspace === TJCS.CMYK || h.colorspace === TJCS.YCCK) throw new NotInProcess('CMYK JPEG');
      checkSize(h.width, h.height, 'JPEG');
    });
  } catch (err) {
    if (err instanceof MediaError || err instanceof NotInProcess) throw err;
    throw new MediaError(
      'corrupt',
      err instanceof JpegFatalError || err instanceof Error ? `JPEG data libjpeg cannot decode (${err.message})` : 'JPEG data libjpeg cannot decode',
    );
  }
  return { width: decoded.width, height: decoded.height, channels: decoded.channels, data: decoded.data, decoder: 'libjpeg-turbo' };
}

/**
 * An EOI marker (FF D9) after the start of the last scan. Entropy-coded data stuffs every FF byte with 00,
 * so FF D9 cannot occur inside a scan; bytes after the marker (trailers some cameras append) are fine.
 */
function hasEndOfImage(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= 2; i--) {
    if (bytes[i] !== 0xff) continue;
    const marker = bytes[i + 1];
    if (marker === 0xd9) return true;
    if (marker === 0xda) return false;
  }
  return false;
}
