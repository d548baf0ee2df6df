import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ when a source changed: tests that spawn bin/modgate.js run the compiled CLI.
    globalSetup: ['./test/global-setup.ts'],
    // Real ffmpeg publishers and real servers: generous timeouts; files run in parallel across 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
