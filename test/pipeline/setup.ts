import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { addEntries, createBank } from '../../classifiers/hashbank.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import type { Database } from '../../gateway/store/schema.ts';

/** Renders the "known violating content" for a test: a synthetic, feature-rich picture (no shared data needed). */
export async function renderKnownImage(ffmpegPath: string, file: string, source = 'testsrc2=size=640x360'): Promise<string> {
  await promisify(execFile)(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', source, '-frames:v', '1', '-y', file]);
  return file;
}

/** Puts the image's PDQ hash into a terrorist-violent-extremism bank, as a curator would with `modgate hash` + `bank import`. */
export async function bankImage(db: Kysely<Database>, image: string, bank = 'tve'): Promise<string> {
  const [h] = await hashFile(image);
  await createBank(db, 'test', { name: bank, category: 'terrorist-violent-extremism' });
  await addEntries(db, 'test', bank, [{ hash: h!.hash }]);
  return h!.hash;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
