// Plain-JS bootstrap for the inference worker thread: registers tsx inside the worker, then loads the
// TypeScript worker. Passing `execArgv: ['--import', 'tsx']` to the Worker was unreliable on Node 20
// (the .ts entry sometimes loaded before tsx's hooks were active: ERR_UNKNOWN_FILE_EXTENSION), and it
// resolved `tsx` against the process cwd. tsImport awaits its own hooks and resolves from this file.
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker.ts', import.meta.url);
