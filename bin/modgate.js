#!/usr/bin/env node
// modgate runs the compiled JavaScript in dist/, which `npm install` builds (scripts/build-cli.mjs): no
// TypeScript is compiled at start. In a checkout whose sources changed after that build (or with
// MODGATE_FROM_SOURCE=1), it runs the sources through tsx instead, slower to start, and says so.
import { distState } from './dist-state.js';

const fromSource = process.env.MODGATE_FROM_SOURCE === '1';
const state = fromSource ? { fresh: false } : distState();
let main;
if (state.fresh) {
  ({ main } = await import('../dist/cli.js'));
} else {
  if (!fromSource) {
    process.stderr.write(
      `modgate: ${state.reason}; running the TypeScript sources through tsx (slower start). \`npm run build:cli\` brings dist/ up to date.\n`,
    );
  }
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../gateway/cli/main.ts'));
}
await main(process.argv);
