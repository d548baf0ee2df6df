import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { addEntries, createBank } from '../../gateway/banks/manage.ts';
import { hashFile } from '../../gateway/media/hash-file.ts';
import type { Database } from '../../gateway/store/schema.ts';
import { ConfigSchema, type ConfigInput } from '../../gateway/config.ts';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { issueKey } from '../../gateway/identity/keys.ts';
import { createLogger } from '../../gateway/log.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { DEADLINE_MS, sleep, waitFor as wait } from '../helpers/wait.ts';

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

export { sleep };

/** Polls `fn` until it returns a truthy value; deadlines under DEADLINE_MS (30 s) are raised to it (test/helpers/wait.ts). */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  return (await wait(fn, { timeoutMs: Math.max(timeoutMs, DEADLINE_MS), describe: what, intervalMs: 100 })) as T;
}

/**
 * A real gateway for pipeline tests: a temp data dir, ports chosen by the OS, quiet logs, fast sync.
 * `overrides` are merged over that (e.g. `{ classifiers: { models: [] } }` or `{ sampling: { mode: 'adaptive' } }`).
 */
export async function startPipelineGateway(dataDir: string, overrides: Partial<ConfigInput> = {}): Promise<Gateway> {
  const config = ConfigSchema.parse({
    dataDir,
    rtmp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0, checkResponses: true },
    log: { level: 'silent' },
    demo: false,
    syncIntervalMs: 200,
    ...overrides,
  });
  return startGateway(config, { log: createLogger('silent') });
}

/** A verified account with one stream key, visible to the gate at once. */
export async function verifiedAccount(gw: Gateway, handle: string, subject = `person-${handle}`): Promise<string> {
  await addAccount(gw.store.db, { id: 'test' }, { handle, verified: true, subject });
  const { key } = await issueKey(gw.store.db, { id: 'test' }, handle);
  await gw.gate.refresh();
  return key;
}
