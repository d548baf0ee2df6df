// policy/load.ts (shared with the gateway) imports node:fs/promises for its CLI file reader; the browser
// build replaces it (vite.config.ts alias → src/shims/no-fs.ts). This declaration is the shim's type.
declare module 'node:fs/promises' {
  export function readFile(path: string, encoding: 'utf8'): Promise<string>;
}
