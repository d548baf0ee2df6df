import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { testDatabases, PG_ADMIN_URL } from '../helpers/databases.ts';
import { allowConnections, dbNameOf, terminateBackends } from '../helpers/gateway-process.ts';
import { runOutageScenario, type OutageRun } from './outage-scenario.ts';

/**
 * pg_terminate_backend on every connection of a gateway process while its streams run, and the database
 * refusing its reconnects until the test heals it: the process stays up, the stream that shows a banked
 * image during the fault is cut during the fault, and its decision, strike, suspension and audit records
 * reach the database exactly once from the node's journal.
 */

const { pgUnavailable, freshPgUrl } = await testDatabases('outage');
const dir = mkdtempSync(path.join(tmpdir(), 'modgate-outage-'));
let run: OutageRun | null = null;
afterAll(async () => {
  await run?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(pgUnavailable !== null)('a gateway whose PostgreSQL connections are terminated keeps deciding into its journal', () => {
  it('terminated backends that cannot reconnect: the violating stream is cut during the fault, and every record is in the database once afterwards', async () => {
    const url = await freshPgUrl();
    const name = dbNameOf(url);
    await runOutageScenario(
      url,
      dir,
      {
        async begin() {
          await allowConnections(PG_ADMIN_URL, name, false);
          await terminateBackends(PG_ADMIN_URL, name);
        },
        async end() {
          await allowConnections(PG_ADMIN_URL, name, true);
        },
      },
      (r) => (run = r),
    );
  }, 600_000);
});
