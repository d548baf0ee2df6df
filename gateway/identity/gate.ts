/**
 * The publish gate, as a pure function over an in-memory snapshot. node-media-server's events are
 * synchronous, so the decision must be too; the snapshot is kept current from the database by gate-sync.
 */

import { suspensionWords } from '../enforcement/streamer-words.ts';

export interface GateAccount {
  id: string;
  handle: string;
  status: 'unverified' | 'pending' | 'verified' | 'revoked';
  subject: string | null;
  /** Age assurance claim: at least this old (null: no claim on record). */
  ageOver: number | null;
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
  /** Who suspended (`policy:<rule>`, a moderator, `order:<id>`): an automated reason is shown in plain words. */
  createdBy: string;
  /** The decision it came with, to appeal; null for a suspension without one. */
  decisionId: string | null;
}

/** A ban of a person (identity subject): every account of theirs, including ones verified later. */
export interface GateBan {
  id: string;
  subject: string;
  kind: 'court_order' | 'platform';
  legalReference: string | null;
  startsAt: number;
  endsAt: number | null;
  reason: string;
}

/** Who may host a live stream beyond identity: the minimum age (config `eligibility`). */
export interface GateEligibility {
  minimumAge: number;
  /** Refuse verified accounts with no age claim at all (off: operator-verified accounts carry none). */
  requireAgeAssurance: boolean;
}

export const DEFAULT_ELIGIBILITY: GateEligibility = { minimumAge: 18, requireAgeAssurance: false };

export interface GateSnapshot {
  keysByHash: ReadonlyMap<string, GateKey>;
  keysById: ReadonlyMap<string, GateKey>;
  accounts: ReadonlyMap<string, GateAccount>;
  /** Unlifted suspensions, indexed by the account they were issued on and by the person. */
  suspensionsByAccount: ReadonlyMap<string, readonly GateSuspension[]>;
  suspensionsBySubject: ReadonlyMap<string, readonly GateSuspension[]>;
  /** Unlifted bans of people, by identity subject. */
  bansBySubject: ReadonlyMap<string, readonly GateBan[]>;
  eligibility: GateEligibility;
  /**
   * Live streams per account at once (config maxLiveStreamsPerAccount) and how many this node carries for
   * an account now; absent: no limit. Checked at publish time only. Across nodes the database claim in
   * live/registry.ts decides a race.
   */
  liveLimit?: { max: number; liveOn: (accountId: string) => number };
}

export type RefusalReason =
  'unknown_key' | 'key_revoked' | 'not_verified' | 'identity_revoked' | 'suspended' | 'banned' | 'under_age' | 'age_unverified' | 'already_live';

export type GateVerdict =
  | { ok: true; account: GateAccount; keyId: string }
  | { ok: false; reason: RefusalReason; message: string; account?: GateAccount; suspension?: GateSuspension; ban?: GateBan };

export function activeBan(snapshot: GateSnapshot, account: GateAccount, now: number): GateBan | undefined {
  if (!account.subject) return undefined;
  return (snapshot.bansBySubject.get(account.subject) ?? []).find((b) => b.startsAt <= now && (b.endsAt === null || b.endsAt > now));
}

function describeBan(b: GateBan): string {
  const until = b.endsAt === null ? 'until lifted' : `until ${new Date(b.endsAt).toISOString()}`;
  const basis = b.kind === 'court_order' ? `by court order${b.legalReference ? ` (${b.legalReference})` : ''}` : 'by the platform';
  return `this person is banned from live streaming ${basis} ${until}: ${b.reason}`;
}

/** Host eligibility by age: a claim below the minimum refuses; no claim refuses only where assurance is required. */
function ageRefusal(eligibility: GateEligibility, account: GateAccount): { reason: 'under_age' | 'age_unverified'; message: string } | null {
  if (account.ageOver === null) {
    return eligibility.requireAgeAssurance
      ? { reason: 'age_unverified', message: `live streaming needs age assurance (at least ${eligibility.minimumAge})` }
      : null;
  }
  if (account.ageOver < eligibility.minimumAge) return { reason: 'under_age', message: `live streaming needs an age of at least ${eligibility.minimumAge}` };
  return null;
}

export function activeSuspension(snapshot: GateSnapshot, account: GateAccount, now: number): GateSuspension | undefined {
  const own = snapshot.suspensionsByAccount.get(account.id) ?? [];
  const person = account.subject ? (snapshot.suspensionsBySubject.get(account.subject) ?? []) : [];
  for (const s of [...own, ...person]) {
    if (s.startsAt <= now && (s.endsAt === null || s.endsAt > now)) return s;
  }
  return undefined;
}

/** The refusal a suspended streamer reads (ffmpeg/OBS onStatus, WebSocket close): plain words, end, appeal pointer. */
function describeSuspension(s: GateSuspension): string {
  return suspensionWords(s);
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
  const ban = activeBan(snapshot, account, now);
  if (ban) return { ok: false, reason: 'banned', message: describeBan(ban), account, ban };
  const age = ageRefusal(snapshot.eligibility, account);
  if (age) return { ok: false, ...age, account };
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
  const verdict = checkAccount(snapshot, account, key.id, now);
  // After the identity checks: a suspended account is told it is suspended, not that it is live.
  if (verdict.ok && snapshot.liveLimit && snapshot.liveLimit.liveOn(account.id) >= snapshot.liveLimit.max) {
    return { ok: false, reason: 'already_live', message: alreadyLiveMessage(snapshot.liveLimit.max), account };
  }
  return verdict;
}

export function alreadyLiveMessage(max: number): string {
  return max === 1 ? 'this account is already live: end the other stream first' : `this account already has ${max} live streams: end one first`;
}
