import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURE_IMAGES = path.join(REPO_ROOT, 'test/fixtures/pdq/images');
export const SHARED_IMAGES = path.resolve(REPO_ROOT, '../shared/pdq-vectors/images');

export interface ReferenceValue {
  hash: string;
  quality: number;
  /** Set when the tool gives no hash for the file itself: how the value was obtained. */
  via?: string;
}

/** test/fixtures/pdq/reference.json: what Meta's pdq-photo-hasher printed (provenance inside). */
export function referenceValues(): { shared: Record<string, ReferenceValue>; fixtures: Record<string, ReferenceValue> } {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/pdq/reference.json'), 'utf8')) as ReturnType<typeof referenceValues>;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/modgate.js ARGS` from the repository root, as a user's shell would (works whether the
 * bin script runs sources or compiled JavaScript), with optional standard input.
 */
export function modgate(args: string[], opts: { stdin?: string | NodeJS.ReadableStream; cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/modgate.js'), ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, MODGATE_LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const limit = opts.timeoutMs ?? 170_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`modgate ${args.join(' ')} did not finish within ${limit} ms\n${stderr}`));
    }, limit);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (typeof opts.stdin === 'string') child.stdin.end(opts.stdin);
    else if (opts.stdin) opts.stdin.pipe(child.stdin);
    else child.stdin.end();
  });
}

/** `hash,quality,file` lines of `modgate hash` output (comments skipped). */
export function parseHashLines(stdout: string): Array<{ hash: string; quality: number; rest: string }> {
  return stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [hash = '', quality = '', ...rest] = l.split(',');
      return { hash, quality: Number(quality), rest: rest.join(',') };
    });
}

/** Error codes from `modgate hash: CODE: FILE: message` lines on stderr, by file. */
export function errorCodes(stderr: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stderr.split('\n')) {
    const m = /^modgate hash: ([a-z_]+): (.*?): /.exec(line);
    if (m) out[m[2]!] = m[1]!;
  }
  return out;
}
