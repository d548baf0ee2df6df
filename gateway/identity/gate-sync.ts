import type { Kysely } from 'kysely';
import { ChangeFeed } from '../store/change-feed.ts';
import type { Database, Dialect } from '../store/schema.ts';
import { loadBans } from './bans.ts';
import { DEFAULT_ELIGIBILITY, type GateAccount, type GateBan, type GateEligibility, type GateKey, type GateSnapshot, type GateSuspension } from './gate.ts';

/**
 * Keeps the gate's in-memory snapshot current with the database. Every write that can change who may
 * publish appends to `gate_changes` in the same transaction; each gateway reads that feed (gap-free in
 * commit order, see store/change-feed.ts) when notified, periodically, and at once after its own writes, so
 * the CLI or another node's changes apply without a restart.
 */
export class GateState implements GateSnapshot {
  readonly keysByHash = new Map<string, GateKey>();
  readonly keysById = new Map<string, GateKey>();
  /** Key hashes per account, so reloading one account never scans every key. */
  private readonly keyHashesByAccount = new Map<string, string[]>();
  readonly accounts = new Map<string, GateAccount>();
  readonly suspensionsByAccount = new Map<string, GateSuspension[]>();
  readonly suspensionsBySubject = new Map<string, GateSuspension[]>();
  /** Bans of the people behind loaded accounts; reloaded with any of their accounts (a ban touches them all). */
  readonly bansBySubject = new Map<string, GateBan[]>();
  /** Set from config `eligibility` at start. */
  eligibility: GateEligibility = DEFAULT_ELIGIBILITY;
  /** Set at start from config maxLiveStreamsPerAccount and the node's live registry. */
  liveLimit?: GateSnapshot['liveLimit'];
  private readonly feed: ChangeFeed<{ seq: number; account_id: string }>;
  private refreshing: Promise<string[]> | null = null;
  /**
   * Suspensions this node decided that are not in the database yet (kept in the local journal while it is
   * away): applied over every reload of their accounts until the journal's replay puts them on record, so
   * a reload from a database that does not have them yet never lets the account back in.
   */
  private readonly held = new Map<string, GateSuspension>();
  private pending = false;

  constructor(
    private readonly db: Kysely<Database>,
    dialect: Dialect,
  ) {
    this.feed = new ChangeFeed(db, dialect, 'gate_changes', ['account_id']);
  }

  /** Full load at start (the feed is positioned first: a change committed during the load is read again). */
  async loadAll(): Promise<void> {
    await this.feed.start();
    const accounts = await this.db.selectFrom('accounts').select('id').execute();
    await this.reloadAccounts(accounts.map((a) => a.id));
  }

  /**
   * Applies changes recorded since the last call; returns the ids of accounts that changed. Concurrent
   * callers share one database round-trip, and a call during a refresh schedules one more afterwards.
   */
  async refresh(): Promise<string[]> {
    if (this.refreshing) {
      this.pending = true;
      const first = await this.refreshing;
      if (this.pending) {
        this.pending = false;
        return [...first, ...(await this.refresh())];
      }
      return first;
    }
    this.refreshing = this.applyChanges();
    try {
      return await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  private async applyChanges(): Promise<string[]> {
    const changed = new Set<string>();
    // The feed only moves past rows once their accounts are reloaded: a failed reload (database gone
    // mid-way) is read again next time, never lost.
    for (;;) {
      const read = await this.feed.read(1000);
      const batch = new Set(read.rows.map((r) => r.account_id));
      if (batch.size > 0) await this.reloadAccounts([...batch]);
      read.ack();
      for (const id of batch) changed.add(id);
      if (!read.more) break;
    }
    return [...changed];
  }

  private async reloadAccounts(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const [accounts, keys, suspensions] = await Promise.all([
        this.db.selectFrom('accounts').select(['id', 'handle', 'identity_status', 'identity_subject', 'age_over']).where('id', 'in', batch).execute(),
        this.db.selectFrom('stream_keys').select(['id', 'account_id', 'key_hash', 'revoked_at']).where('account_id', 'in', batch).execute(),
        this.db
          .selectFrom('suspensions')
          .select(['id', 'account_id', 'identity_subject', 'starts_at', 'ends_at', 'reason', 'created_by', 'decision_id'])
          .where('account_id', 'in', batch)
          .where('lifted_at', 'is', null)
          .execute(),
      ]);
      for (const id of batch) this.forget(id);
      for (const a of accounts) {
        this.accounts.set(a.id, { id: a.id, handle: a.handle, status: a.identity_status, subject: a.identity_subject, ageOver: a.age_over });
      }
      const subjects = [...new Set(accounts.flatMap((a) => (a.identity_subject ? [a.identity_subject] : [])))];
      const bans = await loadBans(this.db, subjects);
      for (const subject of subjects) this.bansBySubject.delete(subject);
      for (const b of bans) push(this.bansBySubject, b.subject, b);
      for (const k of keys) {
        const key: GateKey = { id: k.id, accountId: k.account_id, revoked: k.revoked_at !== null };
        this.keysByHash.set(k.key_hash, key);
        this.keysById.set(k.id, key);
        push(this.keyHashesByAccount, k.account_id, k.key_hash);
      }
      for (const s of suspensions) {
        const g: GateSuspension = {
          id: s.id,
          accountId: s.account_id,
          subject: s.identity_subject,
          startsAt: s.starts_at,
          endsAt: s.ends_at,
          reason: s.reason,
          createdBy: s.created_by,
          decisionId: s.decision_id,
        };
        push(this.suspensionsByAccount, s.account_id, g);
        if (g.subject) push(this.suspensionsBySubject, g.subject, g);
      }
      this.applyHeld(batch);
    }
  }

  /** Enforces a suspension at once from memory (see `held`); `release` once the database has it. */
  hold(s: GateSuspension): void {
    this.held.set(s.id, s);
    this.applyHeld([s.accountId]);
  }

  release(suspensionId: string): void {
    this.held.delete(suspensionId);
  }

  private applyHeld(accountIds: readonly string[]): void {
    const ids = new Set(accountIds);
    for (const s of this.held.values()) {
      if (!ids.has(s.accountId)) continue;
      if (!(this.suspensionsByAccount.get(s.accountId) ?? []).some((x) => x.id === s.id)) push(this.suspensionsByAccount, s.accountId, s);
      if (s.subject && !(this.suspensionsBySubject.get(s.subject) ?? []).some((x) => x.id === s.id)) push(this.suspensionsBySubject, s.subject, s);
    }
  }

  private forget(accountId: string): void {
    this.accounts.delete(accountId);
    for (const hash of this.keyHashesByAccount.get(accountId) ?? []) {
      const key = this.keysByHash.get(hash);
      if (key) this.keysById.delete(key.id);
      this.keysByHash.delete(hash);
    }
    this.keyHashesByAccount.delete(accountId);
    const own = this.suspensionsByAccount.get(accountId) ?? [];
    this.suspensionsByAccount.delete(accountId);
    for (const s of own) {
      if (!s.subject) continue;
      const list = (this.suspensionsBySubject.get(s.subject) ?? []).filter((x) => x.accountId !== accountId);
      if (list.length === 0) this.suspensionsBySubject.delete(s.subject);
      else this.suspensionsBySubject.set(s.subject, list);
    }
  }
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
