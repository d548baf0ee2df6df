import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Two entries: the console (index.html) and the streamer's page (broadcast.html), which shares only the
 * small API client and styles. The policy editor (zod + yaml, for validation in the browser with the
 * gateway's own policy/load.ts) is a lazy chunk that moderators never load.
 */
export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: {
    // policy/load.ts reads policy files with node:fs in the CLI; the browser only uses its text parser.
    alias: { 'node:fs/promises': here('src/shims/no-fs.ts') },
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    reportCompressedSize: false,
    rolldownOptions: { input: { console: here('index.html'), broadcast: here('broadcast.html') } },
  },
});
