import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addEntries, createBank } from '../../gateway/banks/manage.ts';
import { receivePartnerOpinion } from '../../gateway/exchanges/opinions.ts';
import { addPartner } from '../../gateway/exchanges/partners.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import type { ExchangePartner } from '../../gateway/store/schema.ts';
import { testDatabases } from '../helpers/databases.ts';
import { seededHash } from '../helpers/hashes.ts';

/**
 * A partner's opinion that arrives twice at once with one Idempotency-Key (its retry overtook the first
 * attempt, or two of our nodes behind a balancer each got one) is recorded once: one receipt per key, taken
 * with INSERT … ON CONFLICT DO NOTHING, so the second waits on the first and answers `duplicate` instead of
 * recording it again or failing. On both backends (PostgreSQL is where the two really run at once).
 */

const { backends } = await testDatabases('opinion-receipt');
const hash = seededHash(71);

for (const backend of backends) {
  describe.skipIf(backend.skip)(`a partner's opinion delivered twice at once, on ${backend.name}`, () => {
    let stores: Store[];
    let partner: ExchangePartner;

    beforeEach(async () => {
      const url = await backend.url();
      // On PostgreSQL two handles, each with its own pool, like two gateway nodes; SQLite is one node's
      // database, one handle (a second better-sqlite3 handle in this process would block the first's transaction).
      const first = await openStore(url);
      stores = [first, backend.name === 'postgres' ? await openStore(url) : first];
      await createBank(stores[0]!.db, 'test', { name: 'tve', category: 'terrorist-violent-extremism' });
      await addEntries(stores[0]!.db, 'test', 'tve', [{ hash }]);
      partner = (await addPartner(stores[0]!.db, 'test', { name: 'acme', banks: ['tve'] })).partner;
    });
    afterEach(async () => {
      for (const s of new Set(stores)) await s.close();
    });

    it('records it once, quarantines once, and answers the other delivery as a duplicate', async () => {
      const body = { signal_type: 'pdq' as const, hash, category: 'negative_class' as const, tags: [] };
      const deliveries = Array.from({ length: 6 }, (_, i) => receivePartnerOpinion(stores[i % 2]!.db, partner, body, 'quarantine', 1_000 + i, 'key-1'));
      const answers = await Promise.all(deliveries);

      expect(answers.filter((a) => !a.duplicate)).toEqual([{ entries: 1, quarantined: 1, duplicate: false }]);
      expect(answers.filter((a) => a.duplicate)).toEqual(Array.from({ length: 5 }, () => ({ entries: 1, quarantined: 0, duplicate: true })));
      const db = stores[0]!.db;
      expect(await db.selectFrom('entry_opinions').select(['source', 'idempotency_key']).execute()).toEqual([
        { source: 'partner:acme', idempotency_key: 'key-1' },
      ]);
      expect(await db.selectFrom('entry_quarantines').select('status').execute()).toEqual([{ status: 'open' }]);
      const audit = await db.selectFrom('audit_log').select('action').where('action', '=', 'exchange.opinion.received').execute();
      expect(audit).toHaveLength(1);
    });

    it('still records each distinct key, and opinions sent with no key, every time', async () => {
      const body = { signal_type: 'pdq' as const, hash, category: 'positive_class' as const, tags: [] };
      const answers = await Promise.all([
        receivePartnerOpinion(stores[0]!.db, partner, body, 'quarantine', 1_000, 'key-a'),
        receivePartnerOpinion(stores[1]!.db, partner, body, 'quarantine', 1_001, 'key-b'),
        receivePartnerOpinion(stores[0]!.db, partner, body, 'quarantine', 1_002, null),
        receivePartnerOpinion(stores[1]!.db, partner, body, 'quarantine', 1_003, null),
      ]);
      expect(answers.map((a) => a.duplicate)).toEqual([false, false, false, false]);
      expect(await stores[0]!.db.selectFrom('entry_opinions').select('id').execute()).toHaveLength(4);
    });
  });
}
