// Whether dist/ (the compiled CLI, gateway and ONNX worker; scripts/build-cli.mjs) matches the sources.
// Plain JavaScript with no dependencies: bin/modgate.js runs this before anything else is loaded.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
export const BUILD_INFO = path.join(DIST, 'build-info.json');

/**
 * `{ fresh: true }` when dist/ was built after the last change to every file it was built from (the build
 * records the esbuild inputs and the time it started reading them); otherwise `{ fresh: false, reason }`.
 * A stat per input (about 130 files): a millisecond or two, so every start can afford it.
 */
export function distState(root = ROOT) {
  const dist = path.join(root, 'dist');
  let info;
  try {
    info = JSON.parse(readFileSync(path.join(dist, 'build-info.json'), 'utf8'));
  } catch {
    return { fresh: false, reason: 'dist/ is not built' };
  }
  if (!info || typeof info.startedAt !== 'number' || !Array.isArray(info.inputs)) return { fresh: false, reason: 'dist/build-info.json is unreadable' };
  for (const input of info.inputs) {
    const st = statSync(path.join(root, input), { throwIfNoEntry: false });
    if (!st) return { fresh: false, reason: `${input} was removed after dist/ was built` };
    if (st.mtimeMs > info.startedAt) return { fresh: false, reason: `${input} changed after dist/ was built` };
  }
  for (const out of info.entries ?? []) {
    if (!statSync(path.join(dist, out), { throwIfNoEntry: false })) return { fresh: false, reason: `dist/${out} is missing` };
  }
  return { fresh: true };
}
