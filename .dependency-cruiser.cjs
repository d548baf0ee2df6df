/**
 * The layering the tree promises (GUIDE.md, "How the code should feel"), checked by `npm run lint:layers`:
 * the policy engine is pure, classifiers never reach into the gateway, and no module imports itself back.
 * Rules look through type-only imports too: a type from gateway/ is still a dependency on it.
 */

/** Node built-ins that do I/O, spawn or talk to the outside (and `process`, for the environment and clock). */
const IO_BUILTINS =
  '^(node:)?(fs|fs/promises|net|http|https|http2|tls|dgram|dns|dns/promises|child_process|worker_threads|cluster|readline|inspector|process|os|vm|repl|module)$';

/** The only packages policy/ may use: validation and the policy file's syntax, both pure. */
const POLICY_PACKAGES = '^node_modules/(zod|yaml)/';

module.exports = {
  forbidden: [
    {
      name: 'classifiers-not-to-gateway',
      severity: 'error',
      comment: 'classifiers/ is the pure side of matching and models; the gateway adapts it (gateway/banks implements BankStore), never the reverse.',
      from: { path: '^classifiers/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'policy-no-io-builtins',
      severity: 'error',
      comment:
        'policy/ is a deterministic function from signals and history to decisions: no files, sockets, processes or threads, not even through a module it imports. File reading lives in gateway/ (e.g. gateway/enforcement/policy-file.ts).',
      from: { path: '^policy/' },
      to: { path: IO_BUILTINS, reachable: true },
    },
    {
      name: 'policy-only-pure-packages',
      severity: 'error',
      comment:
        'policy/ may use zod and yaml only, directly or through what it imports (no database, network, ffmpeg or ONNX library); add a package here only if it is pure.',
      from: { path: '^policy/' },
      to: { path: '^node_modules/', pathNot: POLICY_PACKAGES, reachable: true },
    },
    {
      name: 'policy-not-to-adapters',
      severity: 'error',
      comment: 'policy/ may read the Signal shape (classifiers/signal.ts) but nothing of the gateway, the ONNX adapter or the bank index.',
      from: { path: '^policy/' },
      to: { path: ['^gateway/', '^classifiers/', '^scripts/', '^test/', '^bin/'], pathNot: '^classifiers/signal\\.ts$', reachable: true },
    },
    {
      name: 'nms-internals-only-in-adapter',
      severity: 'error',
      comment:
        "node-media-server's internals are overridden in one place, with a version pin and a start-up check (gateway/ingest/nms-adapter.ts); everything else uses the adapter.",
      from: { pathNot: ['^gateway/ingest/nms-adapter\\.ts$', '^test/', '^types/'] },
      to: { path: '^node_modules/node-media-server/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes load order matter and the layering unreadable; break it with an interface in the lower module.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
