import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { GateState } from '../../gateway/identity/gate-sync.ts';
import { SqlBankStore } from '../../gateway/banks/store.ts';
import { touchGate } from '../../gateway/store/audit.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { sleep } from '../helpers/gateway.ts';
import { HashBankIndex } from '../../classifiers/bank-index.ts';
import { recordBankChange } from '../../gateway/banks/store.ts';

/**
 * The change feeds never skip a change, whatever order concurrent writers commit in. Two writers (two
 * nodes' connections) commit 500 gate changes concurrently, each transaction taking its sequence value
 * first and committing a random while later, so commits interleave out of sequence order; two readers (two
 * other nodes) read the feed throughout. Both end with the same gate state as a fresh full load.
 *
 * Before the feed was commit-ordered (seq > lastSeq), this test failed on PostgreSQL: readers missed
 * changes whose sequence value was lower than one already read.
 */

const { backends } = await testDatabases('feed');
const stores: Store[] = [];
afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
});

const CHANGES = 500;
const PER_WRITER_CONCURRENCY = 16;

function gateSnapshot(g: GateState): string[] {
  const out: string[] = [];
  for (const [account, list] of g.suspensionsByAccount)
    out.push(
      `${account}:${list
        .map((s) => s.id)
        .sort()
        .join(',')}`,
    );
  return out.sort();
}

async function runConcurrently(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        await job(i);
      }
    }),
  );
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`the change feeds on ${backend.name}`, () => {
    it(`2 writers x ${CHANGES / 2} interleaved gate changes committed concurrently: both readers end with identical gate state, none missed`, async () => {
      const url = await backend.url();
      const open = async () => {
        const s = await openStore(url);
        stores.push(s);
        return s;
      };
      const setup = await open();
      const now = Date.now();
      const ids = Array.from({ length: CHANGES }, (_, i) => `acc_feed_${i}_${randomBytes(3).toString('hex')}`);
      await setup.db
        .insertInto('accounts')
        .values(
          ids.map((id, i) => ({
            id,
            handle: `feed${i}`,
            identity_status: 'verified' as const,
            identity_subject: `idp:${id}`,
            identity_method: 'test',
            identity_changed_at: now,
            created_at: now,
            age_over: null,
            age_source: null,
            age_checked_at: null,
          })),
        )
        .execute();

      // SQLite: better-sqlite3 waits for a lock synchronously, so two connections in one process cannot take
      // turns; one connection serves both writers there (two processes would take turns on the file lock).
      const writers = backend.name === 'postgres' ? [await open(), await open()] : [setup, setup];
      const readerStores = [await open(), await open()];
      const readers = readerStores.map((s) => new GateState(s.db, s.dialect));
      for (const r of readers) await r.loadAll();

      let writing = true;
      const reading = readers.map(async (r) => {
        let reads = 0;
        while (writing) {
          await r.refresh();
          reads++;
          await sleep(1);
        }
        return reads;
      });

      // Each change: the sequence value is taken first (touchGate), the suspension written after a random
      // pause, then the commit. On SQLite the second writer waits for the first's lock instead.
      try {
        await Promise.all(
          writers.map((w, wi) =>
            runConcurrently(CHANGES / 2, backend.name === 'postgres' ? PER_WRITER_CONCURRENCY : 1, async (i) => {
              const accountId = ids[wi * (CHANGES / 2) + i]!;
              await w.db.transaction().execute(async (trx) => {
                const at = Date.now();
                await touchGate(trx, accountId, at);
                await sleep(Math.floor(Math.random() * 15));
                await trx
                  .insertInto('suspensions')
                  .values({
                    id: `sus_${accountId}`,
                    account_id: accountId,
                    identity_subject: `idp:${accountId}`,
                    reason: 'feed test',
                    starts_at: at,
                    ends_at: null,
                    created_by: 'test',
                    decision_id: null,
                    lifted_at: null,
                    lifted_by: null,
                    lift_reason: null,
                  })
                  .execute();
              });
            }),
          ),
        );
      } finally {
        writing = false;
      }
      const reads = await Promise.all(reading);
      expect(Math.min(...reads)).toBeGreaterThan(10);
      // Whatever the readers saw while the writers ran, one more read after the last commit must complete them.
      for (const r of readers) await r.refresh();

      const fresh = new GateState(setup.db, setup.dialect);
      await fresh.loadAll();
      const truth = gateSnapshot(fresh);
      expect(truth).toHaveLength(CHANGES);
      const [a, b] = readers.map(gateSnapshot);
      const missed = (s: string[]) => truth.filter((x) => !s.includes(x)).length;
      expect({ missedByA: missed(a!), missedByB: missed(b!) }).toEqual({ missedByA: 0, missedByB: 0 });
      expect(a).toEqual(truth);
      expect(b).toEqual(truth);
    });

    it('bank changes committed out of sequence order all reach a reading index', async () => {
      const url = await backend.url();
      const s = await openStore(url);
      stores.push(s);
      const w = backend.name === 'postgres' ? await openStore(url) : s;
      if (w !== s) stores.push(w);
      const now = Date.now();
      await s.db
        .insertInto('banks')
        .values({
          name: 'b',
          description: null,
          default_category: 'terror',
          default_severity: 'critical',
          radius: 31,
          enabled: 1,
          created_at: now,
          created_by: 'test',
        })
        .execute();
      const index = new HashBankIndex(new SqlBankStore(s.db, s.dialect));
      await index.loadAll();
      let writing = true;
      const reading = (async () => {
        while (writing) {
          await index.refresh();
          await sleep(1);
        }
      })();
      const N = 200;
      try {
        await runConcurrently(N, backend.name === 'postgres' ? 16 : 1, async (i) => {
          await w.db.transaction().execute(async (trx) => {
            const id = `ent_${i}`;
            await recordBankChange(trx, 'b', id, now);
            await sleep(Math.floor(Math.random() * 15));
            await trx
              .insertInto('bank_entries')
              .values({
                id,
                bank: 'b',
                hash: randomBytes(32).toString('hex'),
                category: 'terror',
                severity: 'critical',
                source: null,
                note: null,
                added_by: 'test',
                added_at: now,
                enabled: 1,
              })
              .execute();
          });
        });
      } finally {
        writing = false;
      }
      await reading;
      await index.refresh();
      expect(index.size).toBe(N);
    });
  });
}
