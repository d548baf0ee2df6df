import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { createPgCluster, pgClusterUnavailable, type PgCluster } from '../helpers/pg-cluster.ts';
import { runOutageScenario, type OutageRun } from './outage-scenario.ts';

/**
 * The whole PostgreSQL server stopped (`pg_ctl stop -m immediate`, a crash as far as its clients can
 * tell) while a gateway process's streams run, and started again: the stream that shows a banked image
 * during the outage is cut during it, suspended accounts stay refused throughout, and once the server is
 * back the node's journal is replayed into it exactly once. On a cluster of the test's own (initdb in a
 * temporary folder, free port): the shared server at 5432 is never stopped.
 */

const unavailable = pgClusterUnavailable();
if (unavailable) console.warn(`PostgreSQL stop/restart test skipped: ${unavailable}`);
const dir = mkdtempSync(path.join(tmpdir(), 'modgate-pgrestart-'));
let cluster: PgCluster | null = null;
let run: OutageRun | null = null;
afterAll(async () => {
  await run?.stop();
  await cluster?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unavailable !== null)('a gateway outlives a PostgreSQL stop and restart', () => {
  it('stop -m immediate while streams run, a banked image during the outage, restart: cut during it, refused throughout, journal replayed once', async () => {
    cluster = await createPgCluster();
    const c = cluster;
    await runOutageScenario(
      c.url,
      dir,
      {
        begin: () => c.stop('immediate'),
        end: () => c.start(),
      },
      (r) => (run = r),
    );
  }, 600_000);
});
