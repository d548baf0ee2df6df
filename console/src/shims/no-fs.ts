/** Stands in for node:fs/promises in the browser build: policy/load.ts's file reader is CLI-only. */
export function readFile(): Promise<never> {
  return Promise.reject(new Error('no file system in the browser'));
}
