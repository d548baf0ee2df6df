import { defineConfig } from 'vitest/config';

/**
 * Two projects, run in this order by `npm test` (`vitest run`):
 *
 *   unit         in-process only: no child process, no socket, no PostgreSQL, no ffmpeg, no browser, no
 *                worker thread (files and SQLite are fine). Seconds. `npx vitest run --project unit`.
 *   integration  everything else: real ffmpeg publishers over real sockets, gateway processes, PostgreSQL,
 *                ONNX worker threads, Chromium.
 *
 * A new test file is integration unless it is listed here: the safe default for a file that might spawn
 * something. Move a file to UNIT only when it does none of the above and takes seconds.
 * test/classifiers/hash-index.test.ts is in-process but builds million-entry indexes (187 s at load 20 on
 * 2 cores), so it runs with the integration tests.
 */
const UNIT = [
  'test/classifiers/bank-index.test.ts',
  'test/classifiers/hashlist-format.test.ts',
  'test/classifiers/onnx-preprocess.test.ts',
  'test/classifiers/pdq.test.ts',
  'test/classifiers/rate-and-reuse.test.ts',
  'test/classifiers/regions.test.ts',
  'test/console/units.test.ts',
  'test/gateway/api-conventions.test.ts',
  'test/gateway/nms-adapter.test.ts',
  'test/gateway/relay.test.ts',
  'test/hooks/units.test.ts',
  'test/live/arrivals.test.ts',
  'test/live/latest-frames.test.ts',
  'test/media/image-decode.test.ts',
  'test/policy/**/*.test.ts',
  'test/policy-ops/backtest.test.ts',
  'test/sampler/unit/**/*.test.ts',
  'test/sampler/units.test.ts',
];

export default defineConfig({
  test: {
    // Real ffmpeg publishers and real servers: generous timeouts; files run in parallel across 2 cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: UNIT,
          sequence: { groupOrder: 1 },
          // Builds dist/ when a source changed: tests that spawn bin/modgate.js run the compiled CLI.
          globalSetup: ['./test/global-setup.ts'],
        },
      },
    ],
  },
});
