import type { DsaCategory, DsaKeyword, StatementSpec } from '../../../policy/dsa.ts';
import { automatedReason, DETECTION_INTERNALS } from '../../enforcement/streamer-words.ts';

/**
 * Statements of reasons (DSA Art. 17), as a pure mapping from what modgate decided to the fields of the
 * EU's Transparency Database. Field names and rules follow the database's own request validation
 * (digital-services-act/transparency-database, app/Http/Requests/StatementStoreRequest.php): dates are
 * `Y-m-d`, `automated_detection` is the value `Yes`/`No` while the other choices are keys
 * (`AUTOMATED_DECISION_FULLY`…), `decision_facts` ≤ 5000 characters, explanations ≤ 2000, `puid`
 * `[a-zA-Z0-9-_]` ≤ 500.
 */

export type SourceType = 'SOURCE_VOLUNTARY' | 'SOURCE_ARTICLE_16' | 'SOURCE_TRUSTED_FLAGGER' | 'SOURCE_TYPE_OTHER_NOTIFICATION';

/** The statement as the Transparency Database receives it (POST /api/v1/statement(s)). */
export interface DsaStatement {
  puid: string;
  decision_visibility?: string[];
  decision_account?: 'DECISION_ACCOUNT_SUSPENDED' | 'DECISION_ACCOUNT_TERMINATED';
  decision_provision?: 'DECISION_PROVISION_PARTIAL_SUSPENSION' | 'DECISION_PROVISION_PARTIAL_TERMINATION';
  end_date_account_restriction?: string | null;
  end_date_service_restriction?: string | null;
  end_date_visibility_restriction?: string | null;
  decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT' | 'DECISION_GROUND_INCOMPATIBLE_CONTENT';
  decision_ground_reference_url?: string;
  illegal_content_legal_ground?: string;
  illegal_content_explanation?: string;
  incompatible_content_ground?: string;
  incompatible_content_explanation?: string;
  incompatible_content_illegal?: 'Yes' | 'No';
  content_type: ['CONTENT_TYPE_VIDEO'];
  category: DsaCategory;
  category_specification: DsaKeyword[];
  territorial_scope: string[];
  content_language?: string;
  content_date: string;
  application_date: string;
  decision_facts: string;
  source_type: SourceType;
  source_identity?: string;
  automated_detection: 'Yes' | 'No';
  automated_decision: 'AUTOMATED_DECISION_FULLY' | 'AUTOMATED_DECISION_PARTIALLY' | 'AUTOMATED_DECISION_NOT_AUTOMATED';
}

/** What was decided, in modgate's terms: an enforced policy or moderator decision, or a suspension on its own. */
export interface Restriction {
  puid: string;
  /** When the live content started (the stream), else the decision time. */
  contentAt: number;
  decidedAt: number;
  /** The feed was ended. */
  cut: boolean;
  /** Live-streaming rights removed: until `endsAt`, or for good when null. */
  suspension: { endsAt: number | null } | null;
  reason: string;
  /** A classifier or bank match found it (`policy:<rule>`); false for a moderator's or an authority's finding. */
  automatedDetection: boolean;
  /** Decided by the policy engine without a human (true), or by a person (false). */
  automatedDecision: boolean;
  /** The rule's own declaration (policy `statement`). */
  ruleSpec?: StatementSpec;
  /** Bank or strike categories involved, tried in order against the configured and built-in specs. */
  categories: readonly string[];
  /** Facts of detection, one sentence each ("A sampled frame matched bank 'tve' at PDQ distance 4."). */
  facts: readonly string[];
  source: { type: SourceType; identity?: string };
  /**
   * What the streamer reads instead of `reason` and `facts`: the engine's reason and the detection facts carry
   * distances, scores and bank names, which teach an evader how close they came (enforcement/streamer-words.ts).
   * Absent (statements stored before these existed): derived, dropping whatever carries such internals.
   */
  plainReason?: string;
  plainFacts?: readonly string[];
  /** What restricted the account (absent: a decision); a ban or a suspension on its own is worded as such. */
  kind?: 'decision' | 'suspension' | 'ban';
  /** A court-ordered ban is contested before the courts, not by an appeal to the platform. */
  courtOrdered?: boolean;
  /** A person-wide suspension that came with a decision on another account of theirs: that decision is the one to appeal. */
  viaDecision?: string;
}

export interface StatementSettings {
  territorialScope: readonly string[];
  contentLanguage?: string;
  termsUrl?: string;
  suspensionAs: 'account' | 'provision';
  categories: Readonly<Record<string, StatementSpec>>;
}

const TCO = 'Regulation (EU) 2021/784 on addressing the dissemination of terrorist content online, Art. 2(7); Directive (EU) 2017/541, Art. 3-12';

/** Specs for the categories modgate's banks and default policy use, so a statement never lacks a ground. */
export const BUILTIN_SPECS: Readonly<Record<string, StatementSpec>> = {
  'terrorist-violent-extremism': {
    ground: 'illegal_content',
    category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
    specification: ['KEYWORD_TERRORIST_CONTENT'],
    legalGround: TCO,
    explanation: 'The live stream showed known terrorist or violent-extremist content.',
    alsoIllegal: false,
  },
  'violent-extremism': {
    ground: 'illegal_content',
    category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
    specification: ['KEYWORD_TERRORIST_CONTENT'],
    legalGround: TCO,
    explanation: 'The live stream showed terrorist or violent-extremist content.',
    alsoIllegal: false,
  },
  'child-sexual-abuse': {
    ground: 'illegal_content',
    category: 'STATEMENT_CATEGORY_PROTECTION_OF_MINORS',
    specification: ['KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL'],
    legalGround: 'Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children, Art. 5',
    explanation: 'The live stream showed known child sexual abuse material.',
    alsoIllegal: false,
  },
  'graphic-violence': {
    ground: 'incompatible_content',
    category: 'STATEMENT_CATEGORY_VIOLENCE',
    specification: [],
    termsGround: 'Community guidelines: graphic violence',
    explanation: 'The live stream showed graphic violence.',
    alsoIllegal: false,
  },
  nsfw: {
    ground: 'incompatible_content',
    category: 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC',
    specification: ['KEYWORD_ADULT_SEXUAL_MATERIAL'],
    termsGround: 'Community guidelines: nudity and sexual content',
    explanation: 'The live stream showed nudity or sexual content.',
    alsoIllegal: false,
  },
};

const FALLBACK: StatementSpec = {
  ground: 'incompatible_content',
  category: 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC',
  specification: [],
  termsGround: 'Terms of service',
  explanation: 'The live stream broke the terms of service.',
  alsoIllegal: false,
};

/** The spec a restriction's statement follows: the rule's, then the operator's per category, then the built-in ones. */
export function resolveSpec(r: Pick<Restriction, 'ruleSpec' | 'categories'>, settings: Pick<StatementSettings, 'categories'>): StatementSpec {
  if (r.ruleSpec) return r.ruleSpec;
  for (const c of r.categories) {
    const spec = settings.categories[c] ?? BUILTIN_SPECS[c];
    if (spec) return spec;
  }
  return FALLBACK;
}

/** `Y-m-d` in UTC, the database's date format. */
export function dsaDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function buildStatement(r: Restriction, settings: StatementSettings): DsaStatement {
  const spec = resolveSpec(r, settings);
  const s: DsaStatement = {
    puid: r.puid,
    decision_ground: spec.ground === 'illegal_content' ? 'DECISION_GROUND_ILLEGAL_CONTENT' : 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
    content_type: ['CONTENT_TYPE_VIDEO'],
    category: spec.category,
    category_specification: [...spec.specification],
    territorial_scope: [...settings.territorialScope],
    content_date: dsaDate(r.contentAt),
    application_date: dsaDate(r.decidedAt),
    // The Transparency Database is public: it gets the facts in the words the streamer reads, not the
    // bank, distance or score (which would tell an evader how close a copy came); those stay in the decision.
    decision_facts: clip([publicReason(r), ...publicFacts(r)].join(' '), 5000),
    source_type: r.source.type,
    automated_detection: r.automatedDetection ? 'Yes' : 'No',
    automated_decision: r.automatedDecision ? 'AUTOMATED_DECISION_FULLY' : 'AUTOMATED_DECISION_NOT_AUTOMATED',
  };
  // A cut live stream is content removed; the database wants at least one restriction type.
  if (r.cut || !r.suspension) s.decision_visibility = ['DECISION_VISIBILITY_CONTENT_REMOVED'];
  if (r.suspension) {
    const end = r.suspension.endsAt === null ? null : dsaDate(r.suspension.endsAt);
    if (settings.suspensionAs === 'account') {
      s.decision_account = r.suspension.endsAt === null ? 'DECISION_ACCOUNT_TERMINATED' : 'DECISION_ACCOUNT_SUSPENDED';
      s.end_date_account_restriction = end;
    } else {
      s.decision_provision = r.suspension.endsAt === null ? 'DECISION_PROVISION_PARTIAL_TERMINATION' : 'DECISION_PROVISION_PARTIAL_SUSPENSION';
      s.end_date_service_restriction = end;
    }
  }
  if (spec.ground === 'illegal_content') {
    s.illegal_content_legal_ground = clip(spec.legalGround ?? '', 500);
    s.illegal_content_explanation = clip(spec.explanation, 2000);
  } else {
    s.incompatible_content_ground = clip(spec.termsGround ?? 'Terms of service', 500);
    s.incompatible_content_explanation = clip(spec.explanation, 2000);
    s.incompatible_content_illegal = spec.alsoIllegal ? 'Yes' : 'No';
  }
  if (settings.termsUrl) s.decision_ground_reference_url = settings.termsUrl;
  if (settings.contentLanguage) s.content_language = settings.contentLanguage;
  if (r.source.type !== 'SOURCE_VOLUNTARY' && r.source.identity) s.source_identity = clip(r.source.identity, 500);
  return s;
}

function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Why, in words without detection internals (for the streamer and the public database alike). */
function publicReason(r: Restriction): string {
  return r.plainReason ?? (r.automatedDecision && DETECTION_INTERNALS.test(r.reason) ? automatedReason(r.categories[0] ?? null) : r.reason);
}

function publicFacts(r: Restriction): readonly string[] {
  return r.plainFacts ?? r.facts.filter((f) => !DETECTION_INTERNALS.test(f));
}

/** The statement in plain words for the streamer (/me, /broadcast): what was done, why, on what ground, how it was decided, how to contest it. */
export function plainWords(r: Restriction, s: DsaStatement, overturned: { at: number; reason: string } | null): string[] {
  const what: string[] = [];
  if (r.cut) what.push('your live stream was ended');
  if (r.suspension) {
    const term = r.suspension.endsAt === null ? '' : ` until ${when(r.suspension.endsAt)}`;
    if (r.kind === 'ban') what.push(`you are banned from live streaming${term || ' until the ban is lifted'}`);
    else what.push(r.suspension.endsAt === null ? 'you can no longer go live' : `you cannot go live${term}`);
  }
  if (what.length === 0) what.push('your content was restricted');
  const reason = publicReason(r);
  const facts = publicFacts(r);
  const ground =
    s.decision_ground === 'DECISION_GROUND_ILLEGAL_CONTENT'
      ? `We consider it illegal under ${s.illegal_content_legal_ground}. ${s.illegal_content_explanation}`
      : `It is not allowed by our ${s.incompatible_content_ground}. ${s.incompatible_content_explanation}`;
  const how = r.automatedDecision
    ? 'This was detected and decided automatically; a moderator may review it.'
    : r.automatedDetection
      ? 'This was detected automatically and decided by a moderator.'
      : r.courtOrdered
        ? 'This was ordered by a court, not decided automatically.'
        : 'This was decided by a moderator.';
  const lines = [`On ${when(r.decidedAt)} ${what.join(' and ')}: ${reason}`, ground, ...facts, how];
  if (r.source.type !== 'SOURCE_VOLUNTARY') lines.push(r.source.identity ? `It followed a notice from ${r.source.identity}.` : 'It followed a notice.');
  const restriction = r.kind === 'ban' ? 'ban' : r.kind === 'suspension' ? 'suspension' : 'decision';
  if (overturned) {
    const done = r.kind === 'decision' || r.kind === undefined ? 'overturned' : 'lifted';
    lines.push(`This ${restriction} was ${done} on ${when(overturned.at)}: ${overturned.reason}. It no longer counts against you.`);
  } else if (r.courtOrdered) lines.push('A court ordered it: it can be challenged before the courts, not by an appeal here.');
  else if (r.kind === 'decision' || r.kind === undefined) lines.push('You can appeal this decision (POST /api/v1/me/appeals).');
  else if (r.viaDecision) lines.push(`You can appeal decision ${r.viaDecision} from the account it was taken on (POST /api/v1/me/appeals).`);
  else if (r.source.type === 'SOURCE_TYPE_OTHER_NOTIFICATION')
    lines.push('It carries out an order of an authority: contest it with the authority that issued the order.');
  // A suspension or a platform ban with no decision behind it is appealed on its own (DSA Art. 20(1)(b)-(c)).
  else lines.push(`You can appeal this ${restriction} once, from your status page (/broadcast) or with POST /api/v1/me/appeals.`);
  return lines;
}
