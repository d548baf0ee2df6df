import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Tests that run `bin/modgate.js` (the CLI, `serve`) exercise the compiled dist/, as users run it. After an
 * edit dist/ is stale and the bin script would fall back to tsx, so bring it up to date first (esbuild,
 * about a second; nothing when it is current).
 */
export default function setup(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
}
