import { readFile } from 'node:fs/promises';
import { loadPolicy, type LoadResult } from '../../policy/load.ts';

/**
 * Reads and parses a policy file; the format follows the extension (`.json`, else YAML). Here, not in
 * policy/, because policy/ does no I/O (npm run lint:layers).
 */
export async function loadPolicyFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: '(root)', message: `cannot read ${path}: ${(err as Error).message}` }] };
  }
  return loadPolicy(text, path.toLowerCase().endsWith('.json') ? 'json' : 'yaml');
}
