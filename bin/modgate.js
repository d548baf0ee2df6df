#!/usr/bin/env node
// modgate runs its TypeScript sources directly through tsx (no build step between clone and start).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../gateway/cli/main.ts');
await main(process.argv);
