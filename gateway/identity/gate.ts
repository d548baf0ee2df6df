/**
 * The publish gate, as a pure function over an in-memory snapshot. node-media-server's events are
 * synchronous, so the decision must be too; the snapshot is kept current from the database by gate-sync.
 */

export interface GateAccount {
  id: string;
  handle: string;
  status: 'unverified' | 'pending' | 'verified' | 'revoked';
  subject: string | null;
}

export interface GateKey {
  id: string;
  accountId: string;
  revoked: boolean;
}

export interface GateSuspension {
  id: string;
  accountId: string;
  subject: string | null;
  startsAt: number;
  endsAt: number | null;
  reason: string;
}

export interface GateSnapshot {
  keysByHash: ReadonlyMap<string, GateKey>;
  keysById: ReadonlyMap<string, GateKey>;
  accounts: ReadonlyMap<string, GateAccount>;
  /** Unlifted suspensions, indexed by the account they were issued on and by the person. */
  suspensionsByAccount: ReadonlyMap<string, readonly GateSuspension[]>;
  suspensionsBySubject: ReadonlyMap<string, readonly GateSuspension[]>;
}

export type RefusalReason = 'unknown_key' | 'key_revoked' | 'not_verified' | 'identity_revoked' | 'suspended';

export type GateVerdict =
  | { ok: true; account: GateAccount; keyId: string }
  | { ok: false; reason: RefusalReason; message: string; account?: GateAccount; suspension?: GateSuspension };

export function activeSuspension(snapshot: GateSnapshot, account: GateAccount, now: number): GateSuspension | undefined {
  const own = snapshot.suspensionsByAccount.get(account.id) ?? [];
  const person = account.subject ? (snapshot.suspensionsBySubject.get(account.subject) ?? []) : [];
  for (const s of [...own, ...person]) {
    if (s.startsAt <= now && (s.endsAt === null || s.endsAt > now)) return s;
  }
  return undefined;
}

function describeSuspension(s: GateSuspension): string {
  return s.endsAt === null
    ? `live streaming is suspended permanently: ${s.reason}`
    : `live streaming is suspended until ${new Date(s.endsAt).toISOString()}: ${s.reason}`;
}

/** Checks an account (and the key used) against identity and suspensions. */
export function authorizeAccount(snapshot: GateSnapshot, accountId: string, keyId: string | null, now: number): GateVerdict {
  const account = snapshot.accounts.get(accountId);
  if (!account) return { ok: false, reason: 'unknown_key', message: 'unknown stream key' };
  if (keyId !== null) {
    const key = snapshot.keysById.get(keyId);
    if (!key || key.revoked) return { ok: false, reason: 'key_revoked', message: 'this stream key has been revoked', account };
  }
  return checkAccount(snapshot, account, keyId ?? '', now);
}

function checkAccount(snapshot: GateSnapshot, account: GateAccount, keyId: string, now: number): GateVerdict {
  if (account.status === 'revoked') return { ok: false, reason: 'identity_revoked', message: 'identity verification was revoked', account };
  if (account.status !== 'verified') return { ok: false, reason: 'not_verified', message: 'live streaming needs a verified identity', account };
  const suspension = activeSuspension(snapshot, account, now);
  if (suspension) return { ok: false, reason: 'suspended', message: describeSuspension(suspension), account, suspension };
  return { ok: true, account, keyId };
}

/** The decision at publish time, from the hash of the presented stream key. */
export function authorizePublish(snapshot: GateSnapshot, keyHash: string, now: number): GateVerdict {
  const key = snapshot.keysByHash.get(keyHash);
  if (!key) return { ok: false, reason: 'unknown_key', message: 'unknown stream key' };
  const account = snapshot.accounts.get(key.accountId);
  if (!account) return { ok: false, reason: 'unknown_key', message: 'unknown stream key' };
  if (key.revoked) return { ok: false, reason: 'key_revoked', message: 'this stream key has been revoked', account };
  return checkAccount(snapshot, account, key.id, now);
}
