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
