import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * libjpeg-turbo's TurboJPEG API compiled to WebAssembly, as shipped by @cwasm/jpeg-turbo — the same
 * decoder (accurate integer IDCT, "fancy" triangular chroma upsampling, integer YCbCr→RGB tables) that
 * Meta's reference tool links through CImg, so the pixels are byte-identical to the reference's
 * (checked on every JPEG in shared/pdq-vectors). jpeg-js, the pure-JS decoder, uses its own IDCT,
 * nearest-neighbour chroma upsampling and truncating colour conversion: measured 10 bits off the
 * reference on labelme q0122.jpg and 4 on q0746.jpg, past the 2-bit conformance bound.
 *
 * This is the one place that reaches past the package's public `decode()`, which cannot be used as is:
 * it turns libjpeg *warnings* (e.g. "extraneous bytes before marker", common in camera files, which
 * the reference decodes and hashes) into failures, always decodes to RGBA, and on a fatal error throws out
 * of WebAssembly through its `longjmp` stub, leaking the decoder. Here the package's .wasm is instantiated
 * with our own imports: a fatal error still unwinds through `longjmp` (there is no setjmp in this build),
 * after which the instance is dropped and a fresh one made; a non-zero status without an unwind is a
 * warning, and the image is kept. The exact version is pinned in package.json and checked here.
 */

const PACKAGE = '@cwasm/jpeg-turbo';
const PINNED_VERSION = '0.1.3';
const REQUIRED_EXPORTS = ['memory', 'malloc', 'free', 'tjInitDecompress', 'tjDecompressHeader3', 'tjDecompress2', 'tjDestroy'] as const;

/** TurboJPEG pixel formats (turbojpeg.h TJPF_*). */
const TJPF_RGB = 0;
const TJPF_GRAY = 6;

/** TurboJPEG colour spaces of the JPEG itself (turbojpeg.h TJCS_*). */
export const TJCS = { RGB: 0, YCbCr: 1, GRAY: 2, CMYK: 3, YCCK: 4 } as const;

/** The slice of the WebAssembly JS API used here (the project's lib settings carry no DOM/wasm types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: { new (bytes: Uint8Array): object; exports(module: object): Array<{ name: string }> };
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface TurboExports {
  memory: WasmMemory;
  malloc(size: number): number;
  free(ptr: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(handle: number, buf: number, size: number, w: number, h: number, subsamp: number, colorspace: number): number;
  tjDecompress2(
    handle: number,
    buf: number,
    size: number,
    dst: number,
    width: number,
    pitch: number,
    height: number,
    pixelFormat: number,
    flags: number,
  ): number;
  tjDestroy(handle: number): number;
}

/** libjpeg's error_exit ended in longjmp: the decode was abandoned. */
export class JpegFatalError extends Error {}

let wasmModule: object | null = null;
let instance: TurboExports | null = null;

function loadModule(): object {
  if (wasmModule) return wasmModule;
  const req = createRequire(import.meta.url);
  const pkgJson = req.resolve(`${PACKAGE}/package.json`);
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string }).version;
  if (version !== PINNED_VERSION) {
    throw new Error(
      `${PACKAGE} ${version} is installed; modgate's JPEG adapter (gateway/media/image/libjpeg-turbo.ts) is written for exactly ${PINNED_VERSION}`,
    );
  }
  const mod = new WebAssembly.Module(readFileSync(path.join(path.dirname(pkgJson), 'jpeg-turbo.wasm')));
  const names = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  const missing = REQUIRED_EXPORTS.filter((n) => !names.has(n));
  if (missing.length) throw new Error(`${PACKAGE} ${version}: its jpeg-turbo.wasm lacks ${missing.join(', ')}`);
  wasmModule = mod;
  return mod;
}

function turbo(): TurboExports {
  if (instance) return instance;
  let memory: WasmMemory | null = null;
  const unsupported = (name: string) => () => {
    throw new Error(`libjpeg-turbo called ${name}, which this adapter does not provide`);
  };
  const inst = new WebAssembly.Instance(loadModule(), {
    env: {
      setjmp: () => 0,
      longjmp: () => {
        throw new JpegFatalError('libjpeg-turbo: fatal decode error');
      },
    },
    wasi_snapshot_preview1: {
      // Messages libjpeg would print: swallowed (TurboJPEG keeps them in its own buffer).
      fd_write: (_fd: number, iovs: number, count: number, written: number) => {
        const view = new DataView(memory!.buffer);
        let total = 0;
        for (let i = 0; i < count; i++) total += view.getUint32(iovs + i * 8 + 4, true);
        view.setUint32(written, total, true);
        return 0;
      },
      environ_sizes_get: (countPtr: number, sizePtr: number) => {
        const view = new DataView(memory!.buffer);
        view.setUint32(countPtr, 0, true);
        view.setUint32(sizePtr, 0, true);
        return 0;
      },
      environ_get: () => 0,
      fd_close: () => 0,
      fd_seek: unsupported('fd_seek'),
      proc_exit: unsupported('proc_exit'),
    },
  });
  instance = inst.exports as unknown as TurboExports;
  memory = instance.memory;
  return instance;
}

export interface JpegHeader {
  width: number;
  height: number;
  /** One of TJCS. */
  colorspace: number;
}

export interface DecodedJpeg extends JpegHeader {
  channels: 1 | 3;
  data: Uint8Array;
  /** libjpeg reported a warning (the pixels are still what libjpeg produces, as the reference hashes them). */
  warning: boolean;
}

/**
 * Runs `fn` against the instance; a fatal libjpeg error (longjmp) drops the instance, since the decoder
 * and buffers it abandoned are unreachable.
 */
function withTurbo<T>(fn: (t: TurboExports) => T): T {
  const t = turbo();
  try {
    return fn(t);
  } catch (err) {
    if (err instanceof JpegFatalError) instance = null;
    throw err;
  }
}

/**
 * Decodes a JPEG to grey (1 channel) for greyscale files or RGB otherwise. `checkHeader` runs before any
 * pixel memory is allocated (size limits). Throws JpegFatalError for data libjpeg cannot decode, and a
 * plain Error for a header TurboJPEG refuses.
 */
export function decodeJpegTurbo(bytes: Uint8Array, checkHeader: (h: JpegHeader) => void): DecodedJpeg {
  return withTurbo((t) => {
    const input = t.malloc(bytes.length);
    const meta = t.malloc(16);
    const handle = t.tjInitDecompress();
    let output = 0;
    let fatal = false;
    try {
      if (!input || !meta || !handle) throw new Error('libjpeg-turbo: out of memory');
      new Uint8Array(t.memory.buffer, input, bytes.length).set(bytes);
      if (t.tjDecompressHeader3(handle, input, bytes.length, meta, meta + 4, meta + 8, meta + 12) !== 0) {
        throw new Error('libjpeg-turbo: cannot read the JPEG header');
      }
      const view = new DataView(t.memory.buffer);
      const header: JpegHeader = { width: view.getInt32(meta, true), height: view.getInt32(meta + 4, true), colorspace: view.getInt32(meta + 12, true) };
      checkHeader(header);
      const channels = header.colorspace === TJCS.GRAY ? 1 : 3;
      const size = header.width * header.height * channels;
      output = t.malloc(size);
      if (!output) throw new Error(`libjpeg-turbo: cannot allocate ${size} bytes`);
      const status = t.tjDecompress2(
        handle,
        input,
        bytes.length,
        output,
        header.width,
        header.width * channels,
        header.height,
        channels === 1 ? TJPF_GRAY : TJPF_RGB,
        0,
      );
      // A fatal error would have unwound through longjmp: a non-zero status here is a warning.
      const data = new Uint8Array(size);
      data.set(new Uint8Array(t.memory.buffer, output, size));
      return { ...header, channels, data, warning: status !== 0 };
    } catch (err) {
      fatal = err instanceof JpegFatalError;
      throw err;
    } finally {
      // After a longjmp the decoder is mid-flight: leave it; withTurbo drops the whole instance.
      if (!fatal) cleanup();
    }
    function cleanup(): void {
      if (output) t.free(output);
      if (handle) t.tjDestroy(handle);
      if (meta) t.free(meta);
      if (input) t.free(input);
    }
  });
}
