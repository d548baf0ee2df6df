import { describe, expect, it } from 'vitest';
import { buildStatement, plainWords, resolveSpec, type Restriction, type StatementSettings } from '../../gateway/accountability/statements/map.ts';
import { streamerText } from '../../gateway/accountability/statements/service.ts';
import { banRestriction } from '../../gateway/accountability/statements/person.ts';
import { DETECTION_INTERNALS } from '../../gateway/enforcement/streamer-words.ts';
import type { PersonBan } from '../../gateway/store/schema.ts';
import { validateStatement } from '../helpers/transparency-db.ts';

/** The pure mapping from a restriction to the Transparency Database's fields, checked against the stand-in's copy of its rules. */

const settings: StatementSettings = { territorialScope: ['FR'], suspensionAs: 'account', categories: {} };
const base: Restriction = {
  puid: 'modgate-sor_1',
  contentAt: Date.UTC(2026, 11, 1, 23, 50),
  decidedAt: Date.UTC(2026, 11, 2, 0, 10),
  cut: true,
  suspension: { endsAt: Date.UTC(2027, 0, 1) },
  reason: 'matched known content',
  automatedDetection: true,
  automatedDecision: true,
  categories: ['terrorist-violent-extremism'],
  facts: [],
  source: { type: 'SOURCE_VOLUNTARY' },
};

describe('statement mapping', () => {
  it('a bank category maps to its built-in ground; the dates are the content and decision days in UTC', () => {
    const s = buildStatement(base, settings);
    expect(s).toMatchObject({
      decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT',
      category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY',
      content_date: '2026-12-01',
      application_date: '2026-12-02',
      end_date_account_restriction: '2027-01-01',
    });
    expect(validateStatement(s as unknown as Record<string, unknown>)).toEqual({});
  });

  it("the operator's category spec wins over the built-in one, the rule's over both", () => {
    const op = {
      ...settings,
      categories: {
        'terrorist-violent-extremism': {
          ground: 'incompatible_content' as const,
          category: 'STATEMENT_CATEGORY_VIOLENCE' as const,
          specification: [],
          termsGround: 'ToS 4.2',
          explanation: 'x',
          alsoIllegal: true,
        },
      },
    };
    expect(resolveSpec(base, op).category).toBe('STATEMENT_CATEGORY_VIOLENCE');
    const rule = {
      ground: 'illegal_content' as const,
      category: 'STATEMENT_CATEGORY_PROTECTION_OF_MINORS' as const,
      specification: [],
      legalGround: 'law',
      explanation: 'y',
      alsoIllegal: false,
    };
    expect(resolveSpec({ ...base, ruleSpec: rule }, op).category).toBe('STATEMENT_CATEGORY_PROTECTION_OF_MINORS');
    const s = buildStatement(base, op);
    expect(s).toMatchObject({ incompatible_content_ground: 'ToS 4.2', incompatible_content_illegal: 'Yes' });
    expect(validateStatement(s as unknown as Record<string, unknown>)).toEqual({});
  });

  it('every shape it makes passes the database rules: cut only, permanent, as a service restriction, from a notice', () => {
    const variants: Array<[Restriction, StatementSettings]> = [
      [{ ...base, suspension: null }, settings],
      [{ ...base, suspension: { endsAt: null }, categories: [] }, settings],
      [
        { ...base, cut: false },
        { ...settings, suspensionAs: 'provision' },
      ],
      [
        {
          ...base,
          source: { type: 'SOURCE_TYPE_OTHER_NOTIFICATION', identity: 'Europol IRU' },
          automatedDetection: false,
          automatedDecision: false,
          reason: 'x'.repeat(6000),
        },
        settings,
      ],
    ];
    for (const [r, st] of variants) {
      const s = buildStatement(r, st);
      expect(validateStatement(s as unknown as Record<string, unknown>), JSON.stringify(s).slice(0, 200)).toEqual({});
    }
    expect(buildStatement(variants[1]![0], settings).decision_account).toBe('DECISION_ACCOUNT_TERMINATED');
    expect(buildStatement(variants[2]![0], variants[2]![1]).decision_provision).toBe('DECISION_PROVISION_PARTIAL_SUSPENSION');
    expect(buildStatement(variants[3]![0], settings).decision_facts.length).toBe(5000);
  });

  it('the stand-in refuses what the database refuses', () => {
    const s = buildStatement(base, settings) as unknown as Record<string, unknown>;
    expect(Object.keys(validateStatement({ ...s, puid: 'has space' }))).toEqual(['puid']);
    expect(Object.keys(validateStatement({ ...s, automated_detection: 'AUTOMATED_DETECTION_YES' }))).toEqual(['automated_detection']);
    expect(Object.keys(validateStatement({ ...s, application_date: '2019-12-31' }))).toEqual(['application_date']);
    expect(Object.keys(validateStatement({ ...s, illegal_content_legal_ground: undefined }))).toEqual(['illegal_content_legal_ground']);
    const noRestriction = { ...s, decision_visibility: undefined, decision_account: undefined };
    expect(Object.keys(validateStatement(noRestriction)).sort()).toEqual([
      'decision_account',
      'decision_monetary',
      'decision_provision',
      'decision_visibility',
    ]);
  });

  it('plain words say what happened, on what ground, how it was decided, and how to appeal', () => {
    const s = buildStatement(base, settings);
    const text = plainWords(base, s, null).join(' ');
    expect(text).toContain('On 2026-12-02 00:10 UTC your live stream was ended and you cannot go live until 2027-01-01 00:00 UTC: matched known content');
    expect(text).toContain('illegal under Regulation (EU) 2021/784');
    expect(text).toContain('appeal');
  });

  it('a ban maps to an account restriction by kind: a court order is its own legal ground, a platform ban follows its category or the terms', () => {
    const ban: PersonBan = {
      id: 'ban_1',
      identity_subject: 'idp:p',
      kind: 'court_order',
      legal_reference: 'TJ Paris, n° 26/01234',
      authority: 'Tribunal judiciaire de Paris',
      reason: 'bannissement',
      category: null,
      starts_at: Date.UTC(2026, 11, 2),
      ends_at: Date.UTC(2027, 5, 2),
      created_by: 'token:op',
      created_at: Date.UTC(2026, 11, 2),
      lifted_at: null,
      lifted_by: null,
      lift_reason: null,
    };
    const court = buildStatement({ ...banRestriction(ban, ban.starts_at, settings, true), puid: 'p1' }, settings);
    expect(court).toMatchObject({
      decision_account: 'DECISION_ACCOUNT_SUSPENDED',
      end_date_account_restriction: '2027-06-02',
      decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT',
      illegal_content_legal_ground: 'TJ Paris, n° 26/01234',
      // The order names no DSA category, and none was given.
      category: 'STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE',
      source_type: 'SOURCE_TYPE_OTHER_NOTIFICATION',
      source_identity: 'Tribunal judiciaire de Paris',
      automated_detection: 'No',
      automated_decision: 'AUTOMATED_DECISION_NOT_AUTOMATED',
    });
    const platform = { ...ban, kind: 'platform' as const, legal_reference: null, authority: null, ends_at: null };
    const plain = buildStatement({ ...banRestriction(platform, ban.starts_at, settings, true), puid: 'p2' }, settings);
    expect(plain).toMatchObject({
      decision_account: 'DECISION_ACCOUNT_TERMINATED',
      end_date_account_restriction: null,
      decision_ground: 'DECISION_GROUND_INCOMPATIBLE_CONTENT',
      category: 'STATEMENT_CATEGORY_OTHER_VIOLATION_TC',
      source_type: 'SOURCE_VOLUNTARY',
    });
    expect(plain).not.toHaveProperty('source_identity');
    const tve = buildStatement({ ...banRestriction({ ...platform, category: 'violent-extremism' }, ban.starts_at, settings, true), puid: 'p3' }, settings);
    expect(tve).toMatchObject({ decision_ground: 'DECISION_GROUND_ILLEGAL_CONTENT', category: 'STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY' });
    for (const s of [court, plain, tve]) expect(validateStatement(s as unknown as Record<string, unknown>)).toEqual({});
    const words = plainWords(banRestriction(platform, ban.starts_at, settings, true), plain, null).join(' ');
    expect(words).toContain('you are banned from live streaming until the ban is lifted');
    // A platform ban is appealed like a decision (DSA Art. 20); a court's ban before the courts.
    expect(words).toContain('You can appeal this ban once');
    const courtWords = plainWords(banRestriction(ban, ban.starts_at, settings, true), court, null).join(' ');
    expect(courtWords).toContain('challenged before the courts');
  });

  it('plain words never carry detection internals, also for a statement stored before they were worded apart', () => {
    const stored: Restriction = {
      ...base,
      reason: "rule tve-known-content: hash_match 'terrorist-violent-extremism' closest distance 4 ≤ 31",
      facts: ["At 00:10:02 UTC a sampled frame matched known content in bank 'tve' (category terrorist-violent-extremism) at PDQ distance 4."],
    };
    const text = plainWords(stored, buildStatement(stored, settings), null).join(' ');
    expect(text).not.toMatch(DETECTION_INTERNALS);
    expect(text).toContain('terrorist or violent extremist content');
  });

  it('a statement row stored with the old wording is served to the streamer re-worded, not as stored', () => {
    const stored: Restriction = {
      ...base,
      reason: "rule tve-known-content: hash_match 'terrorist-violent-extremism' closest distance 4 ≤ 31",
      facts: ["At 00:10:02 UTC a sampled frame matched known content in bank 'tve' (category terrorist-violent-extremism) at PDQ distance 4."],
    };
    const body = buildStatement(stored, settings);
    // What the statements table held for such a decision before f52fcac: the engine's words.
    const row = {
      restriction: JSON.stringify(stored),
      body: JSON.stringify(body),
      plain: JSON.stringify([`On 2 Dec your live stream was ended: ${stored.reason}`, ...stored.facts, 'You can appeal this decision.']),
      status: 'in_force' as const,
      overturned_at: null,
      overturn_reason: null,
    };
    const text = streamerText(row).join(' ');
    expect(text).not.toMatch(DETECTION_INTERNALS);
    expect(text).toContain('terrorist or violent extremist content');
    const overturned = streamerText({ ...row, status: 'overturned', overturned_at: Date.UTC(2026, 11, 3), overturn_reason: 'a moderator found no match' }).join(
      ' ',
    );
    expect(overturned).toContain('a moderator found no match');
    expect(overturned).not.toMatch(DETECTION_INTERNALS);
    // A row whose restriction no longer parses keeps its stored sentences, without the internals.
    const broken = streamerText({ ...row, restriction: '{' });
    expect(broken).toEqual(['You can appeal this decision.']);
  });
});
