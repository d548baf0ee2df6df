/**
 * What a streamer is told about an automated decision. The engine's reason (policy/engine.ts) is written
 * for moderators: rule, bank, top score, closest match distance and the limits. Told to a streamer, it
 * teaches an evader how close they came ("closest distance 16", "score ≥ 0.9"). Streamers get the kind
 * of content and what happens, in plain words; moderators keep the full reason on the decision.
 */

const CATEGORY_WORDS: Record<string, string> = {
  'terrorist-violent-extremism': 'terrorist or violent extremist content',
  tve: 'terrorist or violent extremist content',
  violence: 'graphic violence',
  'graphic-violence': 'graphic violence',
  nsfw: 'sexual content',
  sexual: 'sexual content',
  'adult-nudity': 'sexual content',
  csam: 'child sexual abuse material',
  'child-sexual-abuse': 'child sexual abuse material',
  spam: 'spam',
  sampler: 'a feed the gateway could not check',
  stall: 'a feed the gateway could not check',
};

/** A strike/bank category in plain words (`terrorist-violent-extremism` → "terrorist or violent extremist content"). */
export function categoryWords(category: string | null | undefined): string {
  if (!category) return 'content that breaks the platform rules';
  return CATEGORY_WORDS[category] ?? `content in the category "${category.replace(/[-_]+/g, ' ')}"`;
}

interface DecisionLike {
  decided_by: string;
  reason: string;
  /** JSON of the actions (decisions.actions). */
  actions: string;
}

/** Whether the decision is the policy engine's (its reason then carries detection internals). */
export function isAutomated(decidedBy: string): boolean {
  return decidedBy.startsWith('policy:');
}

/** The category an automated decision acted on: its strike's, else none. */
function decisionCategory(actions: string): string | null {
  try {
    const a = JSON.parse(actions) as { strike?: { category?: string } };
    return a.strike?.category ?? null;
  } catch {
    return null;
  }
}

/** The reason of a decision as its streamer reads it: a moderator's own words, or plain words for the policy's. */
export function streamerReason(d: DecisionLike): string {
  if (!isAutomated(d.decided_by)) return d.reason;
  return automatedReason(decisionCategory(d.actions));
}

export function automatedReason(category: string | null): string {
  return `automated moderation found ${categoryWords(category)} in your stream`;
}

/** A sanity check for tests and the API: text a streamer sees must not carry these. */
export const DETECTION_INTERNALS = /distance|score|≥|≤|threshold|radius|bank\b|\blimit\b|\bpdq\b|\bhash/i;

/** Where a streamer reads their status and appeals (the broadcaster page, or the API with their token). */
export const APPEAL_PAGE = '/broadcast';

/** The appeal pointer a streamer is given with a cut or suspension: the decision to appeal, and where. */
export function appealPointer(decisionId: string | null): string {
  return decisionId
    ? `to appeal decision ${decisionId}, open ${APPEAL_PAGE} (your status) or POST /api/v1/me/appeals`
    : `see your status at ${APPEAL_PAGE} or GET /api/v1/me`;
}

/**
 * A suspension's reason as its streamer reads it. An automated one stored before reasons were written in
 * plain words still holds the engine's text (rule, distance, limit): it is replaced by the plain form.
 */
export function suspensionReasonWords(s: { reason: string; createdBy: string }): string {
  return isAutomated(s.createdBy) && DETECTION_INTERNALS.test(s.reason) ? automatedReason(null) : s.reason;
}

/** "live streaming is suspended until <ISO>" / "… permanently": the console's broadcaster page reads this shape. */
export function suspensionTerm(endsAt: number | null): string {
  return endsAt === null ? 'live streaming is suspended permanently' : `live streaming is suspended until ${new Date(endsAt).toISOString()}`;
}

/** The full streamer-facing text of a suspension: term, plain reason, appeal pointer. */
export function suspensionWords(s: { reason: string; createdBy: string; endsAt: number | null; decisionId: string | null }): string {
  return `${suspensionTerm(s.endsAt)}: ${suspensionReasonWords(s)}; ${appealPointer(s.decisionId)}`;
}
