import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount } from '../../gateway/identity/accounts.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { frame, JournalFile } from '../../gateway/store/journal/file.ts';
import { APPLIED_UNIT_RETENTION_MS, applyUnit, markerMayBeGone, pruneAppliedUnits, writeUnit, type WriteUnit } from '../../gateway/store/journal/unit.ts';
import { DurableWriter } from '../../gateway/store/journal/writer.ts';
import type { Database } from '../../gateway/store/schema.ts';
import { testDatabases } from '../helpers/databases.ts';

/**
 * The local journal that keeps the enforcement write path's units (decision, strike, suspension, audit;
 * cut and audit) while the database is away: a torn last record is dropped, never parsed; the replay keeps
 * the order units were written in; a unit already on record is never written twice.
 */

const { backends } = await testDatabases('journal');
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'modgate-journal-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the journal file', () => {
  it('a torn last record (a crash mid-write) is dropped and the intact ones are kept; the next record is not glued to it', () => {
    const file = path.join(tempDir(), 'units.journal');
    const first = JournalFile.open(file);
    for (const n of [1, 2, 3]) first.file.append({ n });
    first.file.close();
    // Half of a fourth record made it to disk before the process died.
    appendFileSync(file, frame({ n: 4 }).slice(0, 20));

    const reopened = JournalFile.open(file);
    expect(reopened.tornTail).toBe(true);
    expect(reopened.records).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    reopened.file.append({ n: 5 });
    reopened.file.close();

    const again = JournalFile.open(file);
    expect(again.tornTail).toBe(false);
    expect(again.corrupt).toBe(0);
    expect(again.records).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 5 }]);
    again.file.close();
  });

  it('a last record whose newline reached the disk but not all its bytes fails its checksum and is dropped as torn', () => {
    const file = path.join(tempDir(), 'units.journal');
    const j = JournalFile.open(file);
    j.file.append({ n: 1 });
    j.file.close();
    const whole = frame({ n: 2, text: 'a longer record' });
    appendFileSync(file, `${whole.slice(0, whole.length - 8)}\n`);
    const reopened = JournalFile.open(file);
    expect(reopened.tornTail).toBe(true);
    expect(reopened.records).toEqual([{ n: 1 }]);
    reopened.file.close();
  });

  it('a damaged record before the last is set aside in the .rejected file, and the rest are kept', () => {
    const file = path.join(tempDir(), 'units.journal');
    const good = [frame({ n: 1 }), frame({ n: 2 }), frame({ n: 3 })];
    const damaged = good[1]!.replace('"n":2', '"n":7');
    writeFileSync(file, good[0]! + damaged + good[2]!);
    const reopened = JournalFile.open(file);
    expect(reopened.tornTail).toBe(false);
    expect(reopened.corrupt).toBe(1);
    expect(reopened.records).toEqual([{ n: 1 }, { n: 3 }]);
    expect(readFileSync(`${file}.rejected`, 'utf8')).toBe(damaged);
    reopened.file.close();
    expect(readFileSync(file, 'utf8')).toBe(good[0]! + good[2]!);
  });
});

for (const backend of backends) {
  describe.skipIf(backend.skip)(`the journal's replay (${backend.name})`, () => {
    let store: Store;
    let accountId: string;

    beforeAll(async () => {
      store = await openStore(await backend.url());
      accountId = (await addAccount(store.db, { id: 'test' }, { handle: 'alice', verified: true, subject: 'idp:alice' })).id;
    });
    afterAll(async () => {
      await store?.close();
    });

    /** What one enforced decision writes: decision, strike, suspension, audit, gate change. */
    const decisionUnit = (n: string, account = accountId): WriteUnit => {
      const at = 1_700_000_000_000 + Number(n.replace(/\D/g, '') || 0);
      return writeUnit({
        id: `decision:dec_${n}`,
        at,
        decisions: [
          {
            id: `dec_${n}`,
            stream_id: `str_${n}`,
            account_id: account,
            identity_subject: 'idp:alice',
            rule_id: 'known-tve',
            policy_version: 'default@1',
            shadow: 0,
            actions: '{"cut":true}',
            reason: 'banked image',
            evidence: '{}',
            decided_at: at,
            decided_by: 'policy:known-tve',
            review_status: 'pending',
            review_priority: 'high',
            reviewed_by: null,
            reviewed_at: null,
            review_reason: null,
          },
        ],
        strikes: [
          {
            id: `stk_${n}`,
            account_id: account,
            identity_subject: 'idp:alice',
            stream_id: `str_${n}`,
            decision_id: `dec_${n}`,
            category: 'terrorist-violent-extremism',
            severity: 'critical',
            rule_id: 'known-tve',
            at,
            expires_at: at + 1000,
            voided_at: null,
            voided_by: null,
            void_reason: null,
          },
        ],
        suspensions: [
          {
            id: `sus_${n}`,
            account_id: account,
            identity_subject: 'idp:alice',
            reason: 'one strike',
            starts_at: at,
            ends_at: null,
            created_by: 'policy:known-tve',
            decision_id: `dec_${n}`,
            lifted_at: null,
            lifted_by: null,
            lift_reason: null,
          },
        ],
        audits: [{ actor: 'policy:known-tve', action: 'decision.enforce', targetType: 'stream', targetId: `str_${n}`, detail: { decisionId: `dec_${n}` }, at }],
        gateTouches: [{ accountId: account, at }],
      });
    };
    const auditUnit = (i: number, tag: string): WriteUnit =>
      writeUnit({ id: `cut:${tag}_${i}`, at: i, audits: [{ actor: 'system', action: `test.${tag}`, targetType: 'stream', targetId: String(i), at: i }] });

    const count = async (table: 'decisions' | 'strikes' | 'suspensions', id: string) =>
      Number(
        (
          await store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const auditCount = async (decisionId: string) =>
      (await store.db.selectFrom('audit_log').select('detail').where('action', '=', 'decision.enforce').execute()).filter((r) =>
        r.detail?.includes(`"${decisionId}"`),
      ).length;

    it('a unit committed before a crash (or whose commit answer was lost) is not written twice by the replay', async () => {
      const file = path.join(tempDir(), 'units.journal');
      const unit = decisionUnit('dup1');
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      expect(await down.write(unit)).toBe('journaled');
      down.close();
      // The same unit reached the database anyway (its commit went through before the crash).
      await store.db.transaction().execute((trx) => applyUnit(trx, unit, 'direct', 'node_a'));
      const gateBefore = Number(
        (
          await store.db
            .selectFrom('gate_changes')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      expect(back.view().depth).toBe(1);
      await back.drain();
      expect(back.view()).toMatchObject({ depth: 0, since: null, replayed: 0, duplicates: 1, rejected: 0 });
      back.close();
      for (const [table, id] of [
        ['decisions', 'dec_dup1'],
        ['strikes', 'stk_dup1'],
        ['suspensions', 'sus_dup1'],
      ] as const)
        expect(await count(table, id), table).toBe(1);
      expect(await auditCount('dec_dup1')).toBe(1);
      const gateAfter = Number(
        (
          await store.db
            .selectFrom('gate_changes')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      expect(gateAfter).toBe(gateBefore);
      // The journal is empty on disk too: a restart replays nothing.
      expect(readFileSync(file, 'utf8')).toBe('');
    });

    it('a replay cut short (a crash half-way) and run again writes every unit exactly once', async () => {
      const file = path.join(tempDir(), 'units.journal');
      const units = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'].map((n) => decisionUnit(n));
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      for (const u of units) expect(await down.write(u)).toBe('journaled');
      down.close();
      // The first three were replayed before the crash; the file still holds all six.
      for (const u of units.slice(0, 3)) await store.db.transaction().execute((trx) => applyUnit(trx, u, 'journal', 'node_a'));
      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await back.drain();
      expect(back.view()).toMatchObject({ depth: 0, replayed: 3, duplicates: 3 });
      back.close();
      for (const n of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) {
        expect(await count('decisions', `dec_${n}`)).toBe(1);
        expect(await count('suspensions', `sus_${n}`)).toBe(1);
        expect(await auditCount(`dec_${n}`)).toBe(1);
      }
    });

    it('the replay keeps the order units were journaled in, and a write while the journal holds units queues behind them', async () => {
      const file = path.join(tempDir(), 'units.journal');
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      for (let i = 0; i < 30; i++) expect(await down.write(auditUnit(i, 'order'))).toBe('journaled');
      down.close();
      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      expect(back.view().depth).toBe(30);
      expect(back.view().since).not.toBeNull();
      // The database answers, but the journal is not replayed yet: this one must not overtake it.
      expect(await back.write(auditUnit(30, 'order'))).toBe('journaled');
      await back.drain();
      expect(back.view()).toMatchObject({ depth: 0, replayed: 31, duplicates: 0 });
      // Empty: a write goes straight to the database again.
      expect(await back.write(auditUnit(31, 'order'))).toBe('stored');
      back.close();
      const rows = await store.db.selectFrom('audit_log').select(['target_id']).where('action', '=', 'test.order').orderBy('id').execute();
      expect(rows.map((r) => Number(r.target_id))).toEqual([...Array(32).keys()]);
    });

    it('a unit the database refuses for good is set aside in the .rejected file; the units after it are replayed', async () => {
      const file = path.join(tempDir(), 'units.journal');
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      await down.write(auditUnit(0, 'refused'));
      // A suspension of an account that does not exist: the foreign key refuses it, every time.
      await down.write(decisionUnit('bad1', 'acc_missing'));
      await down.write(auditUnit(2, 'refused'));
      down.close();
      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await back.drain();
      expect(back.view()).toMatchObject({ depth: 0, replayed: 2, rejected: 1 });
      back.close();
      const rejected = readFileSync(`${file}.rejected`, 'utf8').trim().split('\n');
      expect(rejected).toHaveLength(1);
      expect((JSON.parse(rejected[0]!) as { record: { unit: { id: string } } }).record.unit.id).toBe('decision:dec_bad1');
      expect(await count('decisions', 'dec_bad1')).toBe(0);
      const rows = await store.db.selectFrom('audit_log').select(['target_id']).where('action', '=', 'test.refused').orderBy('id').execute();
      expect(rows.map((r) => r.target_id)).toEqual(['0', '2']);
    });

    it('applied-unit markers past their retention are pruned; a journaled unit that old is set aside, not written twice', async () => {
      const old = Date.now() - APPLIED_UNIT_RETENTION_MS - 1;
      // A cut's audit has no key of its own to refuse a second copy: only its marker stands between.
      const applied = auditUnit(0, 'pruned');
      const kept = decisionUnit('kept1');
      for (const u of [applied, kept]) await store.db.transaction().execute((trx) => applyUnit(trx, u, 'direct', 'node_a'));
      await store.db.updateTable('applied_units').set({ applied_at: old }).where('id', '=', applied.id).execute();
      expect(await pruneAppliedUnits(store.db, Date.now() - APPLIED_UNIT_RETENTION_MS)).toBe(1);
      const markers = await store.db.selectFrom('applied_units').select('id').where('id', 'in', [applied.id, kept.id]).execute();
      expect(markers.map((m) => m.id)).toEqual([kept.id]);

      // A node that kept its journal through a month-long absence: both units are still in it.
      const file = path.join(tempDir(), 'units.journal');
      writeFileSync(file, [applied, kept].map((unit) => frame({ v: 1, journaledAt: old, unit })).join(''));
      const back = new DurableWriter({ db: store.db, file, nodeId: 'node_a' });
      await back.drain();
      // The one whose marker is still there is a duplicate; the other cannot be told from a unit never applied.
      expect(back.view()).toMatchObject({ depth: 0, replayed: 0, duplicates: 1, rejected: 1 });
      back.close();
      const audits = await store.db.selectFrom('audit_log').select('id').where('action', '=', 'test.pruned').execute();
      expect(audits).toHaveLength(1);
      expect(await count('decisions', 'dec_kept1')).toBe(1);
      const rejected = readFileSync(`${file}.rejected`, 'utf8').trim().split('\n');
      expect(rejected.map((l) => (JSON.parse(l) as { record: { unit: { id: string } } }).record.unit.id)).toEqual([applied.id]);
      // A unit journaled well within the retention is replayed as before.
      expect(markerMayBeGone(Date.now() - APPLIED_UNIT_RETENTION_MS / 2, Date.now())).toBe(false);
    });

    it('a journaled unit is the history of its account while the database is away', async () => {
      const file = path.join(tempDir(), 'units.journal');
      const down = new DurableWriter({ db: store.db, file, nodeId: 'node_a', reachable: () => false });
      await down.write(decisionUnit('h1'));
      const h = down.pendingHistory('acc_other', 'idp:alice');
      expect(h.strikes.map((s) => s.id)).toEqual(['stk_h1']);
      expect(h.suspensions.map((s) => s.id)).toEqual(['sus_h1']);
      expect(down.pendingHistory('acc_other', 'idp:bob')).toEqual({ strikes: [], suspensions: [] });
      down.close();
    });
  });
}

describe.skipIf(backends[1]!.skip)('a write to a PostgreSQL server that refuses connections', () => {
  it('is kept in the journal (connection refused is a fault, not a bad write)', async () => {
    // Nothing listens on port 1: every connection attempt is refused at once.
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', max: 1 }) }),
    });
    const w = new DurableWriter({ db, file: path.join(tempDir(), 'units.journal'), nodeId: 'node_a' });
    try {
      const unit = writeUnit({
        id: 'cut:str_refused',
        at: 1,
        audits: [{ actor: 'system', action: 'stream.cut', targetType: 'stream', targetId: 'str_refused', at: 1 }],
      });
      expect(await w.write(unit)).toBe('journaled');
      expect(w.view().depth).toBe(1);
    } finally {
      w.close();
      await db.destroy();
    }
  });
});
