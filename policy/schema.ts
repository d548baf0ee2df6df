import { z } from 'zod';
import { SignalSourceSchema } from '../classifiers/signal.ts';
import { StatementSpecSchema } from './dsa.ts';
import { DURATION_HINT, parseDuration, parseDurationMs, PERMANENT } from './duration.ts';

/**
 * The policy file: which signals count as a violation, how much smoothing a rule needs before it acts,
 * what it does (cut, suspend, strike, review, warn), how repeat offences escalate, and what to do when a
 * stream's analysis stalls. Parsed output is normalised (durations in ms, single values as lists) so the
 * engine never re-interprets text. Types come from the schema: `Policy = z.output<typeof PolicySchema>`.
 */

/**
 * A schema-level error message that still says `required` when the field is missing: schema-level messages
 * take precedence over the loader's generic ones, so each must handle absence itself.
 */
function expected(message: string): (issue: { input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? 'required' : message);
}

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export const SeveritySchema = z.enum(SEVERITIES, { error: expected('expected one of low, medium, high, critical') });
export type Severity = z.infer<typeof SeveritySchema>;

/** Numeric rank so "severity ≥ X" is a comparison. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export const REVIEW_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export const ReviewPrioritySchema = z.enum(REVIEW_PRIORITIES, { error: expected('expected one of low, normal, high, urgent') });
export type ReviewPriority = z.infer<typeof ReviewPrioritySchema>;

// Durations have one parser (policy/duration.ts); re-exported for the schema's readers.
export { formatDurationMs, parseDurationMs } from './duration.ts';

const DURATION_EXPECTED = `expected ${DURATION_HINT}`;
const SUSPEND_EXPECTED = `expected permanent or ${DURATION_HINT}`;

/** A positive duration; output is milliseconds. */
export const DurationSchema = z.union([z.string(), z.number()], { error: expected(DURATION_EXPECTED) }).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED });
    return z.NEVER;
  }
  return ms;
});

/** A suspension length, or `permanent`. Output: `{ durationMs: null }` means permanent. */
export const SuspendSpecSchema = z
  .union([z.string(), z.number()], { error: expected(SUSPEND_EXPECTED) })
  .transform((value, ctx): { durationMs: number | null } => {
    const d = parseDuration(value);
    if (d === null) {
      ctx.addIssue({ code: 'custom', message: SUSPEND_EXPECTED });
      return z.NEVER;
    }
    return { durationMs: d === PERMANENT ? null : d };
  });
export type SuspendSpec = z.output<typeof SuspendSpecSchema>;

const ScoreSchema = z
  .number({ error: expected('expected a number between 0 and 1') })
  .min(0)
  .max(1);

/** A rule id: stable, because strikes, audit records and "already decided" sets refer to it. */
export const RuleIdSchema = z
  .string({ error: expected('expected a rule id (letters, digits, . _ : -)') })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$/, 'expected a rule id: a letter or digit, then letters, digits, . _ : - (at most 80)');

/** One value or a list of them; output is always a non-empty list. */
function oneOrMany(what: string) {
  const item = z.string({ error: expected(`expected a ${what} or a list of them`) }).min(1, `a ${what} cannot be empty`);
  return z
    .union([item, z.array(item).min(1, `a list of ${what}s needs at least one`)], { error: expected(`expected a ${what} or a list of them`) })
    .transform((v) => (typeof v === 'string' ? [v] : v));
}

export const MatchSchema = z.strictObject({
  /** Signal source: `hash_match`, `violence`, `nsfw`, `sampler`, or any future classifier. */
  source: SignalSourceSchema,
  /** Signal label(s) (e.g. `violence`, `unsafe`, `stall`); any label when omitted. */
  label: oneOrMany('label').optional(),
  /** Bank category(ies) of a bank match (`signal.match.category`, or a copy match's `signal.detail.category`). */
  category: oneOrMany('category').optional(),
  /** Bank name(s) of a bank match (`signal.match.bank`, or a copy match's `signal.detail.bank`). */
  bank: oneOrMany('bank').optional(),
  /** Inclusive lower bound on `signal.score`; a signal without a score never passes it. */
  minScore: ScoreSchema.optional(),
  /** Inclusive upper bound on `signal.match.distance` (PDQ Hamming distance, 0–256). */
  maxDistance: z
    .number({ error: expected('expected a whole number between 0 and 256') })
    .int()
    .min(0)
    .max(256)
    .optional(),
});
export type Match = z.output<typeof MatchSchema>;

/**
 * A further condition a rule needs before it acts, on the stream's recent signals of any source: at least
 * `minCount` distinct matching signals within `within` before the decision. Distinct means distinct
 * `detail.reporter` where the signal names one (a viewer report's hashed source: three reports from one
 * viewer count once), else distinct frames. So `{ source: viewer_report, minCount: 3, within: 30m }` is
 * "three independent viewers reported it in the last 30 minutes", and `{ source: violence, minScore: 0.6,
 * within: 2m }` is "the violence model scored a frame ≥ 0.6 in the last two minutes". A rule with
 * requirements is checked on signals of its own source and of each required source, so it acts when the
 * last condition comes true, whichever arrives last.
 */
export const RequirementSchema = MatchSchema.extend({
  within: DurationSchema,
  minCount: z
    .number({ error: expected('expected a whole number ≥ 1') })
    .int()
    .min(1)
    .max(1000, 'at most 1000')
    .default(1),
});
export type Requirement = z.output<typeof RequirementSchema>;

/**
 * Temporal smoothing, so one noisy frame does not cut a stream: either `k` hits among the last `n`
 * sampled frames of the rule's source, or hits on every frame for at least `sustainedSeconds`.
 */
export const SmoothingSchema = z
  .strictObject({
    k: z
      .number({ error: expected('expected a whole number ≥ 1') })
      .int()
      .min(1)
      .optional(),
    n: z
      .number({ error: expected('expected a whole number ≥ 1') })
      .int()
      .min(1)
      .max(1000, 'at most 1000 frames')
      .optional(),
    sustainedSeconds: z
      .number({ error: expected('expected a number of seconds ≥ 0') })
      .min(0)
      .max(3600, 'at most 3600 seconds')
      .optional(),
  })
  .superRefine((s, ctx) => {
    const windowed = s.k !== undefined || s.n !== undefined;
    if (windowed && s.sustainedSeconds !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['sustainedSeconds'], message: 'use either k/n or sustainedSeconds, not both' });
    } else if (!windowed && s.sustainedSeconds === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'expected k and n, or sustainedSeconds' });
    } else if (windowed && (s.k === undefined || s.n === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.k === undefined ? 'k' : 'n'], message: 'k and n go together' });
    } else if (s.k !== undefined && s.n !== undefined && s.k > s.n) {
      ctx.addIssue({ code: 'custom', path: ['k'], message: `k (${s.k}) cannot exceed n (${s.n})` });
    }
  })
  .transform((s): Smoothing =>
    s.sustainedSeconds !== undefined ? { kind: 'sustained', sustainedMs: Math.round(s.sustainedSeconds * 1000) } : { kind: 'window', k: s.k ?? 1, n: s.n ?? 1 },
  );
export type Smoothing = { kind: 'window'; k: number; n: number } | { kind: 'sustained'; sustainedMs: number };

export const StrikeSpecSchema = z.strictObject({
  /** Strike category recorded against the account (e.g. `violent-extremism`). */
  category: z.string({ error: expected('expected a strike category') }).min(1),
  /** Defaults to the rule's severity. */
  severity: SeveritySchema.optional(),
  /** How long the strike stays active; defaults to `defaults.strikeExpiry`. */
  expiresAfter: DurationSchema.optional(),
});

export const ReviewSpecSchema = z.strictObject({
  priority: ReviewPrioritySchema.optional(),
});

export const WarnSpecSchema = z.strictObject({
  message: z
    .string({ error: expected('expected the message shown to the streamer') })
    .min(1)
    .max(500),
});

export const ActionsSchema = z.strictObject({
  /** End the feed now. */
  cut: z.boolean({ error: expected('expected true or false') }).default(false),
  /** Remove live-streaming rights for a duration, or `permanent`. */
  suspend: SuspendSpecSchema.optional(),
  strike: StrikeSpecSchema.optional(),
  /** Queue for a moderator; `review: {}` uses the default priority. */
  review: ReviewSpecSchema.optional(),
  warn: WarnSpecSchema.optional(),
});
export type ActionsSpec = z.output<typeof ActionsSchema>;

/**
 * One rung of an escalation ladder: when the account/person already holds at least `priorStrikes`
 * active strikes (not voided, not expired) of severity ≥ `minSeverity`, issued within `within` before
 * the decision (and in `categories`, if given), the listed actions replace the rule's own.
 */
export const EscalationStepSchema = z.strictObject({
  priorStrikes: z
    .number({ error: expected('expected a whole number ≥ 1') })
    .int()
    .min(1),
  within: DurationSchema,
  minSeverity: SeveritySchema.default('low'),
  categories: z.array(z.string().min(1)).min(1).optional(),
  cut: z.boolean({ error: expected('expected true or false') }).optional(),
  suspend: SuspendSpecSchema.optional(),
  review: ReviewSpecSchema.optional(),
  warn: WarnSpecSchema.optional(),
});
export type EscalationStep = z.output<typeof EscalationStepSchema>;

export const RuleSchema = z.strictObject({
  id: RuleIdSchema,
  description: z.string({ error: expected('expected a description') }).min(1),
  severity: SeveritySchema,
  match: MatchSchema,
  /** Defaults to `defaults.smoothing`, then 1 of 1. */
  smoothing: SmoothingSchema.optional(),
  /** Further conditions on recent signals (all must hold), e.g. independent viewer reports plus a classifier score. */
  requires: z
    .array(RequirementSchema, { error: expected('expected a list of conditions') })
    .max(8, 'at most 8 conditions')
    .default([]),
  actions: ActionsSchema,
  escalation: z.array(EscalationStepSchema).default([]),
  /** Evaluated and recorded as "would have", never enforced. */
  shadow: z.boolean({ error: expected('expected true or false') }).default(false),
  /** The DSA statement of reasons its enforced decisions produce (ground, category, legal ground); the engine ignores it. */
  statement: StatementSpecSchema.optional(),
});
export type Rule = z.output<typeof RuleSchema>;

export const StallModeSchema = z.enum(['fail_open', 'fail_closed'], { error: expected('expected fail_open or fail_closed') });
export type StallMode = z.infer<typeof StallModeSchema>;

/**
 * What to do when a source goes quiet. `sampler` watches the stream as a whole (any non-stall signal
 * proves frames are flowing); any other source watches that classifier's own signals.
 */
export const StallRuleSchema = z.strictObject({
  /** Defaults to `stall-<source>-<afterSeconds>s`. */
  id: RuleIdSchema.optional(),
  source: SignalSourceSchema,
  afterSeconds: z.number({ error: expected('expected a number of seconds > 0') }).positive(),
  /** fail_open: the stream continues and is queued for review; fail_closed: the feed is cut (and reviewed). */
  mode: StallModeSchema,
  reviewPriority: ReviewPrioritySchema.optional(),
  shadow: z.boolean({ error: expected('expected true or false') }).default(false),
});
export type StallRule = z.output<typeof StallRuleSchema>;

export const DefaultsSchema = z.strictObject({
  smoothing: SmoothingSchema.optional(),
  strikeExpiry: DurationSchema.default(90 * 86_400_000),
  reviewPriority: ReviewPrioritySchema.default('normal'),
});

const PolicyShape = z.strictObject({
  /** The policy's own revision; copied into every decision so it can be traced and replayed. */
  version: z.union([z.string().min(1), z.number()], { error: expected('expected a version string or number') }).transform((v) => String(v)),
  name: z.string({ error: expected('expected a policy name') }).min(1),
  description: z.string().optional(),
  defaults: DefaultsSchema.default({ strikeExpiry: 90 * 86_400_000, reviewPriority: 'normal' }),
  rules: z.array(RuleSchema, { error: expected('expected a list of rules') }),
  stall: z.array(StallRuleSchema, { error: expected('expected a list of stall entries') }).default([]),
});

export const PolicySchema = PolicyShape.superRefine((p, ctx) => checkPolicyConsistency(p, ctx));
export type Policy = z.output<typeof PolicySchema>;
/** What a policy file may contain before normalisation (durations as text, optional defaults). */
export type PolicyInput = z.input<typeof PolicySchema>;

type Unrefined = z.output<typeof PolicyShape>;
interface IssueSink {
  addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void;
}

/** Cross-field checks that a per-field schema cannot express. */
function checkPolicyConsistency(p: Unrefined, ctx: IssueSink): void {
  const seen = new Map<string, string>();
  const claim = (id: string, where: string, path: (string | number)[]) => {
    const first = seen.get(id);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path, message: `duplicate id "${id}" (first used at ${first})` });
    else seen.set(id, where);
  };
  p.rules.forEach((rule, i) => {
    claim(rule.id, `rules[${i}]`, ['rules', i, 'id']);
    checkRuleActions(rule, i, ctx);
  });
  p.stall.forEach((s, i) => claim(stallRuleId(s), `stall[${i}]`, ['stall', i, s.id === undefined ? 'source' : 'id']));
}

function checkRuleActions(rule: Rule, i: number, ctx: IssueSink): void {
  const a = rule.actions;
  if (!a.cut && a.suspend === undefined && a.strike === undefined && a.review === undefined && a.warn === undefined) {
    ctx.addIssue({ code: 'custom', path: ['rules', i, 'actions'], message: 'a rule needs at least one action: cut, suspend, strike, review or warn' });
  }
  // A suspended account may not stream, so a suspension that leaves the current feed running is a contradiction.
  if (a.suspend !== undefined && !a.cut) {
    ctx.addIssue({
      code: 'custom',
      path: ['rules', i, 'actions', 'suspend'],
      message: 'a suspension removes live rights, so the rule must also cut (cut: true)',
    });
  }
  let previous = 0;
  rule.escalation.forEach((step, j) => {
    const at = ['rules', i, 'escalation', j];
    if (step.priorStrikes <= previous) {
      ctx.addIssue({ code: 'custom', path: [...at, 'priorStrikes'], message: 'ladder steps must be in increasing order of priorStrikes' });
    }
    previous = step.priorStrikes;
    if (step.cut === undefined && step.suspend === undefined && step.review === undefined && step.warn === undefined) {
      ctx.addIssue({ code: 'custom', path: at, message: 'an escalation step needs at least one of cut, suspend, review, warn' });
    }
    if (step.suspend !== undefined && !(step.cut ?? a.cut)) {
      ctx.addIssue({ code: 'custom', path: [...at, 'suspend'], message: 'a suspension removes live rights, so the step (or rule) must also cut' });
    }
  });
}

/** The stable id of a stall entry: its own `id`, else derived from source and threshold. */
export function stallRuleId(s: Pick<StallRule, 'id' | 'source' | 'afterSeconds'>): string {
  return s.id ?? `stall-${s.source}-${s.afterSeconds}s`;
}
