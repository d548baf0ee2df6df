import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where modgate's own files are (models/, policy/default.yaml, console/dist, package.json), whether this
 * code runs from its TypeScript sources (tsx, vitest) or from the compiled bundle in dist/ (bin/modgate.js):
 * a module's `import.meta.url` is gateway/… in one case and dist/chunk-….js in the other, so paths
 * relative to a module break in one of them. The root is the nearest folder above this module whose
 * package.json is modgate's.
 */

/** Set by the esbuild build (scripts/build-cli.mjs `define`); absent when the sources run directly. */
declare const __MODGATE_COMPILED__: boolean | undefined;

/** True in the compiled bundle under dist/, false when the TypeScript sources run. */
export const COMPILED: boolean = typeof __MODGATE_COMPILED__ !== 'undefined' && __MODGATE_COMPILED__;

function findRoot(from: string): string {
  for (let dir = from; ;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'modgate') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`modgate's package.json was not found above ${from}`);
    dir = up;
  }
}

export const PACKAGE_ROOT: string = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** An absolute path inside the package: `packagePath('policy', 'default.yaml')`. */
export function packagePath(...segments: string[]): string {
  return path.join(PACKAGE_ROOT, ...segments);
}
