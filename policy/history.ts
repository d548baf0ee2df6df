import { z } from 'zod';
import { SeveritySchema, severityRank, type Severity } from './schema.ts';

/**
 * What the engine needs to know about an account's (and its verified person's) past: strikes, for
 * escalation, and suspensions, for admission. The caller loads every record of the account and, when the
 * identity subject is known, of the person, so a banned person cannot reset the ladder with a new account.
 * Duplicates (one record reached through both) are harmless: the engine counts strikes by id.
 */

export const StrikeRecordSchema = z.object({
  id: z.string().min(1),
  accountId: z.string().min(1).nullable().optional(),
  /** Identity subject of the person the strike binds, when known. */
  personId: z.string().min(1).nullable().optional(),
  /** Stream that earned the strike; strikes from the stream being evaluated never escalate it (one incident). */
  streamId: z.string().min(1).nullable().optional(),
  category: z.string().min(1),
  severity: SeveritySchema,
  ruleId: z.string().min(1),
  /** Epoch ms the strike was issued. */
  at: z.number().int().min(0),
  /** Epoch ms after which the strike no longer counts. */
  expiresAt: z.number().int().min(0),
  /** Overturned on appeal or review: never counts. */
  voided: z.boolean(),
});
export type StrikeRecord = z.infer<typeof StrikeRecordSchema>;

export const SuspensionRecordSchema = z.object({
  id: z.string().min(1),
  accountId: z.string().min(1).nullable().optional(),
  personId: z.string().min(1).nullable().optional(),
  ruleId: z.string().min(1).nullable().optional(),
  startsAt: z.number().int().min(0),
  /** Epoch ms the suspension ends; null for permanent. */
  endsAt: z.number().int().min(0).nullable(),
  /** Epoch ms it was lifted early; null while in force. */
  liftedAt: z.number().int().min(0).nullable(),
});
export type SuspensionRecord = z.infer<typeof SuspensionRecordSchema>;

export const AccountHistorySchema = z.object({
  strikes: z.array(StrikeRecordSchema),
  suspensions: z.array(SuspensionRecordSchema),
});
export type AccountHistory = z.infer<typeof AccountHistorySchema>;

export const EMPTY_HISTORY: AccountHistory = Object.freeze({ strikes: [], suspensions: [] }) as AccountHistory;

/** A strike counts at `at` when it was issued by then, has not expired, and was not voided. */
export function isStrikeActive(strike: StrikeRecord, at: number): boolean {
  return !strike.voided && strike.at <= at && strike.expiresAt > at;
}

export interface PriorStrikeQuery {
  /** Decision time (epoch ms). */
  at: number;
  /** Only strikes issued at or after `at - withinMs`. */
  withinMs: number;
  minSeverity: Severity;
  /** Only these strike categories, when given. */
  categories?: readonly string[] | undefined;
  /** The stream being decided: its own strikes are excluded. */
  streamId: string;
}

/** Active prior strikes matching an escalation step, distinct by id, oldest first. */
export function priorStrikes(history: AccountHistory, q: PriorStrikeQuery): StrikeRecord[] {
  const min = severityRank(q.minSeverity);
  const byId = new Map<string, StrikeRecord>();
  for (const s of history.strikes) {
    if (byId.has(s.id)) continue;
    if (!isStrikeActive(s, q.at)) continue;
    if (s.at < q.at - q.withinMs) continue;
    if (severityRank(s.severity) < min) continue;
    if (q.categories !== undefined && !q.categories.includes(s.category)) continue;
    if (s.streamId != null && s.streamId === q.streamId) continue;
    byId.set(s.id, s);
  }
  return [...byId.values()].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The suspension in force at `now` that ends last (permanent wins), or null: for admission at publish time. */
export function activeSuspension(history: AccountHistory, now: number): SuspensionRecord | null {
  let best: SuspensionRecord | null = null;
  for (const s of history.suspensions) {
    const inForce = s.liftedAt === null && s.startsAt <= now && (s.endsAt === null || s.endsAt > now);
    if (inForce && (best === null || endsLater(s, best))) best = s;
  }
  return best;
}

function endsLater(a: SuspensionRecord, b: SuspensionRecord): boolean {
  if (a.endsAt === null) return b.endsAt !== null;
  return b.endsAt !== null && a.endsAt > b.endsAt;
}
