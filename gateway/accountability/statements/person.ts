import type { StatementSpec } from '../../../policy/dsa.ts';
import { DETECTION_INTERNALS } from '../../enforcement/streamer-words.ts';
import type { PersonBan } from '../../store/schema.ts';
import { resolveSpec, type Restriction, type StatementSettings } from './map.ts';

/**
 * Restrictions that bind a person rather than one account: a ban (court order or platform) and a
 * suspension that binds every account of the verified person. Each bound account gets its own statement
 * of reasons (DSA Art. 17(1): the affected recipient), applying from the moment it was bound: the ban's
 * start, or later for an account verified as that person afterwards. Pure: the service reads the rows.
 */

/** When a restriction started to bind an account: its start, or when the account took on the person's identity. */
export function boundAt(startsAt: number, account: { created_at: number; identity_changed_at: number | null }): number {
  return Math.max(startsAt, account.identity_changed_at ?? account.created_at);
}

const ON_ANOTHER_ACCOUNT = 'It was issued on another account of yours and binds every account verified as the same person, this one included.';

function until(endsAt: number | null): string {
  return endsAt === null ? 'until lifted' : `until ${new Date(endsAt).toISOString().slice(0, 10)}`;
}

/**
 * The ground of a ban's statement. A court order is the legal ground itself (its reference goes into
 * `illegal_content_legal_ground`), with the category of what it was for when the operator said so; the
 * order itself names no DSA category, hence NOT_SPECIFIED_NOTICE otherwise. A platform ban follows the
 * category's spec, else the terms of service.
 */
export function banSpec(b: PersonBan, settings: Pick<StatementSettings, 'categories'>): StatementSpec {
  const forCategory = b.category ? resolveSpec({ categories: [b.category] }, settings) : null;
  if (b.kind === 'court_order') {
    return {
      ground: 'illegal_content',
      category: forCategory?.category ?? 'STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE',
      specification: forCategory?.specification ?? [],
      legalGround: b.legal_reference ?? 'court order',
      explanation: `${b.authority ?? 'A court'} ordered that this person be banned from live streaming ${until(b.ends_at)}: ${b.reason}`,
      alsoIllegal: false,
    };
  }
  const explanation = `The platform banned this person from live streaming on every account ${until(b.ends_at)}: ${b.reason}`;
  if (forCategory) return { ...forCategory, explanation: `${explanation}. ${forCategory.explanation}` };
  return {
    ground: 'incompatible_content',
    category: 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC',
    specification: [],
    termsGround: 'Terms of service: a person banned from live streaming',
    explanation,
    alsoIllegal: false,
  };
}

/** A ban's statement for one bound account. */
export function banRestriction(b: PersonBan, at: number, settings: Pick<StatementSettings, 'categories'>, issuedOnThis: boolean): Restriction {
  const order = b.kind === 'court_order';
  const facts = [
    order
      ? `Court order ${b.legal_reference ?? '(no reference)'}${b.authority ? ` of ${b.authority}` : ''}: the person is banned from live streaming ${until(b.ends_at)}.`
      : `The platform banned the person from live streaming ${until(b.ends_at)}.`,
    issuedOnThis
      ? 'The ban binds the person: every account verified as the same person, present or future.'
      : 'The ban binds the person: this account was verified as the same person, so it applies to it too.',
  ];
  return {
    puid: '',
    contentAt: at,
    decidedAt: at,
    cut: false,
    suspension: { endsAt: b.ends_at },
    reason: b.reason,
    automatedDetection: false,
    automatedDecision: false,
    ruleSpec: banSpec(b, settings),
    categories: b.category ? [b.category] : [],
    facts,
    plainFacts: facts,
    source: order
      ? { type: 'SOURCE_TYPE_OTHER_NOTIFICATION', identity: b.authority ?? `court order ${b.legal_reference ?? ''}`.trim() }
      : { type: 'SOURCE_VOLUNTARY' },
    kind: 'ban',
    courtOrdered: order,
  };
}

/**
 * A person-wide suspension's statement for an account other than the one it was issued on: the issuing
 * account's restriction (its ground, category, automation and source), as a suspension from when it bound
 * this account, pointing at the decision to appeal when it came with one.
 */
export function onAnotherAccount(issued: Restriction, s: { ends_at: number | null; decision_id: string | null }, at: number): Restriction {
  const plainFacts = issued.plainFacts ?? issued.facts.filter((f) => !DETECTION_INTERNALS.test(f));
  return {
    ...issued,
    puid: '',
    decidedAt: at,
    cut: false,
    suspension: { endsAt: s.ends_at },
    facts: [...issued.facts, ON_ANOTHER_ACCOUNT],
    plainFacts: [...plainFacts, ON_ANOTHER_ACCOUNT],
    kind: 'suspension',
    ...(s.decision_id ? { viaDecision: s.decision_id } : {}),
  };
}
