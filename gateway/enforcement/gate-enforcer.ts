import type { Logger } from 'pino';
import { authorizeAccount, type GateSuspension, type RefusalReason } from '../identity/gate.ts';
import type { GateState } from '../identity/gate-sync.ts';
import { suspensionReasonWords } from './streamer-words.ts';
import type { EndReason, LiveRegistry } from '../live/registry.ts';

export const END_REASON: Record<RefusalReason, EndReason> = {
  unknown_key: 'key_revoked',
  key_revoked: 'key_revoked',
  not_verified: 'not_verified',
  identity_revoked: 'identity_revoked',
  suspended: 'suspended',
  banned: 'banned',
  under_age: 'under_age',
  age_unverified: 'under_age',
  already_live: 'already_live',
};

/**
 * Applies gate changes to live streams: after any change to an account (suspension, revoked identity or
 * key) every live stream it no longer permits is cut, whichever process made the change.
 */
export class GateEnforcer {
  private timer: NodeJS.Timeout | null = null;
  private syncing = false;

  constructor(
    private readonly gate: GateState,
    private readonly registry: LiveRegistry,
    private readonly log: Logger,
  ) {}

  /** Pulls changes from the database and enforces them; `actor` is recorded on any resulting cut. */
  async sync(actor = 'gate-sync'): Promise<number> {
    const changed = await this.gate.refresh();
    return changed.length ? this.enforce(changed, actor) : 0;
  }

  /**
   * A suspension this node just decided: in force in the gate at once (before it is on record, which may
   * wait for the database) and enforced on every live stream of the person here.
   */
  gateHold(s: GateSuspension): void {
    this.gate.hold(s);
  }

  /** The suspension is on record: the gate's next reload of the account carries it. */
  gateRelease(suspensionId: string): void {
    this.gate.release(suspensionId);
  }

  /** Re-checks the live streams of these accounts and of every account of the same people. */
  async enforce(accountIds: readonly string[], actor: string): Promise<number> {
    const ids = new Set(accountIds);
    const subjects = new Set<string>();
    for (const id of ids) {
      const subject = this.gate.accounts.get(id)?.subject;
      if (subject) subjects.add(subject);
    }
    const now = Date.now();
    const cuts: Promise<unknown>[] = [];
    for (const stream of this.registry.list()) {
      if (!ids.has(stream.accountId) && !(stream.subject && subjects.has(stream.subject))) continue;
      const verdict = authorizeAccount(this.gate, stream.accountId, stream.keyId, now);
      if (verdict.ok) continue;
      cuts.push(
        this.registry
          .cut(stream.id, {
            reason: END_REASON[verdict.reason],
            message: verdict.message,
            // The streamer's words: the suspension's plain reason (the ingest adds its end and the appeal pointer).
            streamerMessage: verdict.suspension ? suspensionReasonWords(verdict.suspension) : verdict.message,
            ...(verdict.suspension ? { suspension: { endsAt: verdict.suspension.endsAt } } : {}),
            actor,
            detail: { gate: verdict.reason, ...(verdict.suspension?.decisionId ? { decisionId: verdict.suspension.decisionId } : {}) },
          })
          .catch((err) => this.log.error({ err, stream: stream.id }, 'recording an enforced cut failed (the feed was still cut)')),
      );
    }
    await Promise.all(cuts);
    return cuts.length;
  }

  private again = false;

  /**
   * Syncs now (a notification arrived, the database came back): a kick during a sync runs one more after
   * it, so a change committed while a read was under way is never left for the next period.
   */
  kick(): void {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    this.sync()
      .catch((err) => this.log.error({ err }, 'gate sync failed; will retry'))
      .finally(() => {
        this.syncing = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Periodic sync; `due` (when given) says whether this tick should read (push makes most ticks unnecessary). */
  start(intervalMs: number, due: () => boolean = () => true): void {
    this.timer = setInterval(() => {
      if (!this.syncing && due()) this.kick();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
