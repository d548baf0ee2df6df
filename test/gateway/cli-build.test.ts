import { mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distState, ROOT } from '../../bin/dist-state.js';
import { COMPILED, PACKAGE_ROOT, packagePath } from '../../package/root.ts';
import { runCli } from '../helpers/gateway.ts';

describe('the compiled CLI (dist/)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'modgate-dist-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** A package with one source file and a dist/ built at `startedAt`. */
  function fakePackage(name: string, startedAt: number): string {
    const root = path.join(tmp, name);
    mkdirSync(path.join(root, 'src'), { recursive: true });
    mkdirSync(path.join(root, 'dist'), { recursive: true });
    writeFileSync(path.join(root, 'src/a.ts'), 'export {};\n');
    writeFileSync(path.join(root, 'dist/cli.js'), '');
    writeFileSync(path.join(root, 'dist/build-info.json'), JSON.stringify({ startedAt, entries: ['cli.js'], inputs: ['src/a.ts'] }));
    return root;
  }

  it('is fresh when every input is older than the build, stale when one changed, went missing, or dist/ is absent', () => {
    const now = Date.now();
    const root = fakePackage('p', now);
    utimesSync(path.join(root, 'src/a.ts'), new Date(now - 60_000), new Date(now - 60_000));
    expect(distState(root)).toEqual({ fresh: true });

    utimesSync(path.join(root, 'src/a.ts'), new Date(now + 60_000), new Date(now + 60_000));
    expect(distState(root)).toMatchObject({ fresh: false, reason: expect.stringContaining('src/a.ts changed') });

    rmSync(path.join(root, 'src/a.ts'));
    expect(distState(root)).toMatchObject({ fresh: false, reason: expect.stringContaining('src/a.ts was removed') });

    const bare = path.join(tmp, 'bare');
    mkdirSync(bare);
    expect(distState(bare)).toMatchObject({ fresh: false, reason: 'dist/ is not built' });

    const noEntry = fakePackage('q', now + 120_000);
    rmSync(path.join(noEntry, 'dist/cli.js'));
    expect(distState(noEntry)).toMatchObject({ fresh: false, reason: 'dist/cli.js is missing' });
  });

  it('is up to date with the sources when the suite runs (the global setup builds it), so spawned CLIs run JavaScript', async () => {
    expect(distState()).toEqual({ fresh: true });
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    // The bin script warns on stderr whenever it falls back to tsx.
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("finds the package's own files from the sources as from dist/ (package/root.ts)", () => {
    expect(PACKAGE_ROOT).toBe(ROOT);
    expect(packagePath('policy', 'default.yaml')).toBe(path.join(ROOT, 'policy', 'default.yaml'));
    // Under vitest the TypeScript sources run; the esbuild build defines the flag.
    expect(COMPILED).toBe(false);
  });

  it('no runtime module finds a file relative to itself (that path is wrong from dist/): package/root.ts does', () => {
    // createRequire(import.meta.url) resolves packages, which works from dist/ too; the ONNX pool picks
    // its worker entry by COMPILED. Anything else relative to a module's own URL breaks in the bundle.
    const allowed = new Set(['package/root.ts', 'classifiers/onnx/pool.ts', 'classifiers/onnx/worker-entry.mjs']);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(rel);
        } else if (/\.(ts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') && !allowed.has(rel) && rel !== 'console/vite.config.ts') {
          const text = readFileSync(path.join(ROOT, rel), 'utf8');
          for (const line of text.split('\n')) {
            if (/import\.meta\.(url|dirname|filename)|__dirname/.test(line) && !/createRequire\(import\.meta\.url\)/.test(line))
              offenders.push(`${rel}: ${line.trim()}`);
          }
        }
      }
    };
    for (const dir of ['gateway', 'classifiers', 'policy', 'console']) walk(dir);
    expect(offenders).toEqual([]);
  });
});
