import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { StatementService } from '../../gateway/accountability/statements/service.ts';
import { addBan, liftBan } from '../../gateway/identity/bans.ts';
import { activeSuspensionsFor, suspendAccount, unsuspendAccount } from '../../gateway/enforcement/suspensions.ts';
import { DomainError } from '../../gateway/errors.ts';
import { addAccount, listAccounts, setIdentity } from '../../gateway/identity/accounts.ts';
import { authorizePublish } from '../../gateway/identity/gate.ts';
import { GateState } from '../../gateway/identity/gate-sync.ts';
import { issueKey, revokeKeys } from '../../gateway/identity/keys.ts';
import { sha256Hex } from '../../gateway/security/secrets.ts';
import { appendAudit, queryAudit } from '../../gateway/store/audit.ts';
import { openStore, type Store } from '../../gateway/store/db.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTestGateway, waitFor } from '../helpers/gateway.ts';
import { rawPublish } from '../helpers/rtmp-client.ts';

/**
 * Storage-level behaviour, run against both SQLite and PostgreSQL: a fresh database per run, skipped with a
 * printed reason when no PostgreSQL server answers (test/helpers/databases.ts).
 */

const { pgUnavailable, freshPgUrl, backends } = await testDatabases('store');

const actor = { id: 'test' };

for (const backend of backends) {
  describe.skipIf(backend.skip)(`storage on ${backend.name}`, () => {
    let store: Store;
    /** A second connection to the same database: another process (the CLI, another node). */
    let other: Store;
    beforeAll(async () => {
      const url = await backend.url();
      store = await openStore(url);
      other = await openStore(url);
    });
    afterAll(async () => {
      await other?.close();
      await store?.close();
    });

    it('migrations are idempotent: opening the database again changes nothing', async () => {
      expect(store.dialect).toBe(backend.name);
      const again = await openStore(store.url);
      await again.close();
    });

    it('accounts: create, refuse a duplicate handle, verify with a subject, list', async () => {
      const a = await addAccount(store.db, actor, { handle: 'st-ann' });
      expect(a.identity_status).toBe('unverified');
      await expect(addAccount(other.db, actor, { handle: 'st-ann' })).rejects.toThrow(DomainError);
      await expect(addAccount(store.db, actor, { handle: 'NOT VALID' })).rejects.toThrow();
      const { after } = await setIdentity(other.db, actor, 'st-ann', { status: 'verified', subject: 'idp:ann' });
      expect(after).toMatchObject({ identity_status: 'verified', identity_subject: 'idp:ann' });
      const rows = await listAccounts(store.db);
      expect(rows.find((r) => r.handle === 'st-ann')).toMatchObject({ identity_status: 'verified', identity_subject: 'idp:ann', identity_method: 'operator' });
      // Revocation keeps the subject on record, so suspensions of the person still bind.
      const { after: revoked } = await setIdentity(store.db, actor, 'st-ann', { status: 'revoked', reason: 'fraud' });
      expect(revoked.identity_subject).toBe('idp:ann');
    });

    // better-sqlite3 is synchronous: two SQLite connections in one thread cannot interleave transactions at
    // all, so SQLite's cross-process case is covered by concurrent CLI processes in cli.test.ts.
    it.skipIf(backend.name === 'sqlite')('concurrent transactions from two connections all commit', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => addAccount(i % 2 ? store.db : other.db, actor, { handle: `st-conc-${i}`, verified: true })),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    });

    it('keys: only the hash is stored; a revoked key no longer passes the gate', async () => {
      await addAccount(store.db, actor, { handle: 'st-key', verified: true });
      const { key, record } = await issueKey(store.db, actor, 'st-key');
      expect(record.key_hash).toBe(sha256Hex(key));
      const stored = await store.db.selectFrom('stream_keys').selectAll().where('id', '=', record.id).executeTakeFirstOrThrow();
      expect(Object.values(stored)).not.toContain(key);
      expect(stored.key_prefix).toBe(key.slice(0, 8));

      const gate = new GateState(store.db, store.dialect);
      await gate.loadAll();
      expect(authorizePublish(gate, sha256Hex(key), Date.now())).toMatchObject({ ok: true, keyId: record.id });
      // Revoked through the other connection: the gate's change feed picks it up.
      await revokeKeys(other.db, actor, 'st-key', { reason: 'leaked' });
      const changed = await gate.refresh();
      expect(changed.length).toBeGreaterThan(0);
      expect(authorizePublish(gate, sha256Hex(key), Date.now())).toMatchObject({ ok: false, reason: 'key_revoked' });
      await expect(revokeKeys(store.db, actor, 'st-key', { keyId: 'key_nope' })).rejects.toThrow(/not found/);
    });

    it("suspensions bind the person: another account with the same subject is refused until it's lifted", async () => {
      await addAccount(store.db, actor, { handle: 'st-p1', verified: true, subject: 'idp:person-x' });
      await addAccount(store.db, actor, { handle: 'st-p2', verified: true, subject: 'idp:person-x' });
      await addAccount(store.db, actor, { handle: 'st-other', verified: true, subject: 'idp:someone-else' });
      const k2 = await issueKey(store.db, actor, 'st-p2');
      const kOther = await issueKey(store.db, actor, 'st-other');
      const gate = new GateState(store.db, store.dialect);
      await gate.loadAll();
      expect(authorizePublish(gate, sha256Hex(k2.key), Date.now()).ok).toBe(true);

      const s = await suspendAccount(other.db, actor, 'st-p1', { reason: 'strike', durationSeconds: 3600 });
      expect(s.identity_subject).toBe('idp:person-x');
      await gate.refresh();
      const verdict = authorizePublish(gate, sha256Hex(k2.key), Date.now());
      expect(verdict).toMatchObject({ ok: false, reason: 'suspended' });
      expect(authorizePublish(gate, sha256Hex(kOther.key), Date.now()).ok).toBe(true);
      const p2 = await store.db.selectFrom('accounts').selectAll().where('handle', '=', 'st-p2').executeTakeFirstOrThrow();
      expect(await activeSuspensionsFor(store.db, p2.id, p2.identity_subject, Date.now())).toHaveLength(1);
      // It expires on its own...
      expect(authorizePublish(gate, sha256Hex(k2.key), Date.now() + 3601_000).ok).toBe(true);
      // ...or is lifted, from the second account too (it binds the same person).
      const lifted = await unsuspendAccount(store.db, actor, 'st-p2', 'appeal');
      expect(lifted.map((x) => x.id)).toEqual([s.id]);
      await gate.refresh();
      expect(authorizePublish(gate, sha256Hex(k2.key), Date.now()).ok).toBe(true);
      await expect(unsuspendAccount(store.db, actor, 'st-p1', 'again')).rejects.toThrow(/no active suspension/);
    });

    it('statements of reasons: a person-wide suspension and a ban give every bound account one statement, with two nodes syncing at once', async () => {
      const settings = { territorialScope: ['FR'], suspensionAs: 'account' as const, categories: {} };
      const nodeA = new StatementService(store.db, settings, () => null);
      const nodeB = new StatementService(other.db, settings, () => null);
      await addAccount(store.db, actor, { handle: 'st-sor-1', verified: true, subject: 'idp:sor-person' });
      await addAccount(store.db, actor, { handle: 'st-sor-2', verified: true, subject: 'idp:sor-person' });
      const sus = await suspendAccount(store.db, actor, 'st-sor-1', { reason: 'r', durationSeconds: 3600, category: 'graphic-violence' });
      const { ban } = await addBan(store.db, actor, { handle: 'st-sor-1', kind: 'court_order', legalReference: 'TJ Paris n° 1', reason: 'r' });
      await Promise.all([nodeA.sync(), nodeB.sync()]);
      // Verified as the same person afterwards: bound by both, found by the next sync.
      await addAccount(store.db, actor, { handle: 'st-sor-3', verified: true, subject: 'idp:sor-person' });
      await Promise.all([nodeA.sync(), nodeB.sync()]);
      const rows = await store.db
        .selectFrom('statements')
        .innerJoin('accounts', 'accounts.id', 'statements.account_id')
        .select(['statements.source_kind', 'statements.source_id', 'accounts.handle', 'statements.body', 'statements.status'])
        .where('statements.source_id', 'in', [sus.id, ban.id])
        .orderBy('accounts.handle')
        .execute();
      const pairs = rows.map((r) => `${r.source_kind}:${r.handle}`).sort();
      expect(pairs).toEqual(['ban:st-sor-1', 'ban:st-sor-2', 'ban:st-sor-3', 'suspension:st-sor-1', 'suspension:st-sor-2', 'suspension:st-sor-3']);
      for (const r of rows) {
        const body = JSON.parse(r.body) as { category: string; decision_account: string };
        expect(body.category).toBe(r.source_kind === 'ban' ? 'STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE' : 'STATEMENT_CATEGORY_VIOLENCE');
        expect(body.decision_account).toBe(r.source_kind === 'ban' ? 'DECISION_ACCOUNT_TERMINATED' : 'DECISION_ACCOUNT_SUSPENDED');
      }
      await liftBan(store.db, actor, ban.id, 'set aside');
      await unsuspendAccount(store.db, actor, 'st-sor-3', 'lifted');
      await nodeB.sync();
      const after = await store.db.selectFrom('statements').select('status').where('source_id', 'in', [sus.id, ban.id]).execute();
      expect(after.map((r) => r.status)).toEqual(Array(6).fill('overturned'));
    });

    it('the audit log is append-only: UPDATE and DELETE on audit_log fail', async () => {
      await appendAudit(store.db, { actor: 'test', action: 'test.append', targetType: 'test', targetId: 'x', reason: 'original', detail: { n: 1 } });
      const [rec] = await queryAudit(store.db, { action: 'test.append' });
      expect(rec).toMatchObject({ actor: 'test', reason: 'original', detail: { n: 1 } });
      await expect(store.db.updateTable('audit_log').set({ reason: 'rewritten' }).where('id', '=', rec!.id).execute()).rejects.toThrow(/append-only/);
      await expect(sql`UPDATE audit_log SET actor = 'mallory'`.execute(store.db)).rejects.toThrow(/append-only/);
      await expect(store.db.deleteFrom('audit_log').where('id', '=', rec!.id).execute()).rejects.toThrow(/append-only/);
      const [still] = await queryAudit(other.db, { action: 'test.append' });
      expect(still?.reason).toBe('original');
    });

    it('every change that affects the gate is audited in the same transaction', async () => {
      await addAccount(store.db, actor, { handle: 'st-audit', verified: true });
      await issueKey(store.db, actor, 'st-audit');
      await suspendAccount(store.db, actor, 'st-audit', { reason: 'r' });
      await unsuspendAccount(store.db, actor, 'st-audit', 'lift');
      await revokeKeys(store.db, actor, 'st-audit');
      await setIdentity(store.db, actor, 'st-audit', { status: 'revoked' });
      await issueToken(store.db, 'test', 'st-token', 'moderator');
      const actions = (await queryAudit(store.db, { targetId: 'st-audit' })).map((r) => r.action).reverse();
      expect(actions).toEqual(['account.create', 'key.issue', 'account.suspend', 'account.unsuspend', 'key.revoke', 'account.identity.revoked']);
      // A failed change (unknown account) leaves no audit record behind.
      const before = (await queryAudit(store.db, { limit: 1000 })).length;
      await expect(suspendAccount(store.db, actor, 'st-nobody', { reason: 'r' })).rejects.toThrow(/not found/);
      expect((await queryAudit(store.db, { limit: 1000 })).length).toBe(before);
    });
  });
}

describe.skipIf(pgUnavailable !== null)('gateway on PostgreSQL (end to end)', () => {
  it('started with a postgres:// database, it accepts a verified publish and refuses a suspended one', async () => {
    const url = await freshPgUrl();
    const t = await startTestGateway({ db: url });
    try {
      expect(t.gw.store.dialect).toBe('postgres');
      const ok = await t.account('pg-ok');
      const bad = await t.account('pg-suspended');
      expect((await t.mod.post('/api/v1/accounts/pg-suspended/suspend', { reason: 'strike' })).status).toBe(200);

      const accepted = await rawPublish(t.rtmpPort, ok.streamKey);
      const live = await t.waitForStream('pg-ok');
      expect(accepted.client.isClosed()).toBe(false);

      const refused = await rawPublish(t.rtmpPort, bad.streamKey);
      await refused.client.closedAt;
      // The refusal is recorded after the connection was closed (the gate never waits for I/O).
      await waitFor(
        async () => (await t.gw.store.db.selectFrom('publish_refusals').select('reason').where('reason', '=', 'suspended').execute()).length === 1,
        5_000,
        'the refusal record',
      );
      expect((await t.streams()).some((s) => s.account === 'pg-suspended')).toBe(false);

      expect((await t.mod.post(`/api/v1/streams/${live.id}/cut`, { reason: 'test' })).status).toBe(200);
      await accepted.client.closedAt;
      const row = await t.gw.store.db.selectFrom('streams').selectAll().where('id', '=', live.id).executeTakeFirstOrThrow();
      expect(row.end_reason).toBe('cut');
      expect(typeof row.started_at).toBe('number');
    } finally {
      await t.stop();
    }
  });
});
