import { describe, expect, it } from 'vitest';
import { formatPolicyError, loadPolicy, validatePolicy, type LoadResult } from '../../policy/load.ts';
import { formatDurationMs, parseDurationMs } from '../../policy/schema.ts';
import { policyOf } from './helpers.ts';

/** A minimal valid rule; each bad case below changes one thing. */
const rule = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'r1',
  description: 'test rule',
  severity: 'high',
  match: { source: 'violence', minScore: 0.9 },
  actions: { cut: true },
  ...over,
});
const policy = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ version: 1, name: 'p', rules: [rule()], ...over });
const withRule = (over: Record<string, unknown>) => policy({ rules: [rule(over)] });

function errorsOf(r: LoadResult): string[] {
  return r.ok ? [] : r.errors.map(formatPolicyError);
}

function pathsOf(r: LoadResult): string[] {
  return r.ok ? [] : r.errors.map((e) => e.path);
}

describe('policy schema rejects wrong files with the key path at fault', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['a score threshold above 1', withRule({ match: { source: 'violence', minScore: 1.5 } }), 'rules[0].match.minScore'],
    ['a threshold given as text', withRule({ match: { source: 'violence', minScore: 'high' } }), 'rules[0].match.minScore'],
    ['a PDQ distance beyond 256', withRule({ match: { source: 'hash_match', maxDistance: 300 } }), 'rules[0].match.maxDistance'],
    ['a source that is not an identifier', withRule({ match: { source: 'Violence!' } }), 'rules[0].match.source'],
    ['a misspelt match field', withRule({ match: { source: 'violence', minscore: 0.9 } }), 'rules[0].match.minscore'],
    ['an unknown severity', withRule({ severity: 'extreme' }), 'rules[0].severity'],
    ['a rule without an id', withRule({ id: undefined }), 'rules[0].id'],
    ['a rule id with spaces', withRule({ id: 'my rule' }), 'rules[0].id'],
    ['a rule without a description', withRule({ description: undefined }), 'rules[0].description'],
    ['a suspension without a cut', withRule({ actions: { suspend: '30d' } }), 'rules[0].actions.suspend'],
    ['a suspension that is not a duration', withRule({ actions: { cut: true, suspend: '30 days please' } }), 'rules[0].actions.suspend'],
    ['a negative suspension', withRule({ actions: { cut: true, suspend: -5 } }), 'rules[0].actions.suspend'],
    [
      'a strike expiry that is not a duration',
      withRule({ actions: { cut: true, strike: { category: 'x', expiresAfter: 'soon' } } }),
      'rules[0].actions.strike.expiresAfter',
    ],
    ['a strike without a category', withRule({ actions: { cut: true, strike: {} } }), 'rules[0].actions.strike.category'],
    ['an unknown review priority', withRule({ actions: { review: { priority: 'asap' } } }), 'rules[0].actions.review.priority'],
    ['a warning without a message', withRule({ actions: { warn: {} } }), 'rules[0].actions.warn.message'],
    ['a rule with no action at all', withRule({ actions: { cut: false } }), 'rules[0].actions'],
    ['an unknown action', withRule({ actions: { cut: true, ban: true } }), 'rules[0].actions.ban'],
    ['k larger than n', withRule({ smoothing: { k: 5, n: 4 } }), 'rules[0].smoothing.k'],
    ['k without n', withRule({ smoothing: { k: 2 } }), 'rules[0].smoothing.n'],
    ['both k/n and sustainedSeconds', withRule({ smoothing: { k: 1, n: 1, sustainedSeconds: 3 } }), 'rules[0].smoothing.sustainedSeconds'],
    ['an empty smoothing', withRule({ smoothing: {} }), 'rules[0].smoothing'],
    ['a fractional k', withRule({ smoothing: { k: 1.5, n: 4 } }), 'rules[0].smoothing.k'],
    [
      'an escalation rung with zero prior strikes',
      withRule({ escalation: [{ priorStrikes: 0, within: '90d', suspend: 'permanent' }] }),
      'rules[0].escalation[0].priorStrikes',
    ],
    ['an escalation rung without a window', withRule({ escalation: [{ priorStrikes: 1, suspend: 'permanent' }] }), 'rules[0].escalation[0].within'],
    ['an escalation rung that changes nothing', withRule({ escalation: [{ priorStrikes: 1, within: '90d' }] }), 'rules[0].escalation[0]'],
    [
      'ladder rungs out of order',
      withRule({
        escalation: [
          { priorStrikes: 2, within: '90d', suspend: 'permanent' },
          { priorStrikes: 1, within: '90d', suspend: '30d' },
        ],
      }),
      'rules[0].escalation[1].priorStrikes',
    ],
    [
      'an escalated suspension on a rule that never cuts',
      withRule({ actions: { review: {} }, escalation: [{ priorStrikes: 1, within: '90d', suspend: '30d' }] }),
      'rules[0].escalation[0].suspend',
    ],
    ['shadow that is not a boolean', withRule({ shadow: 'yes' }), 'rules[0].shadow'],
    ['two rules with the same id', policy({ rules: [rule(), rule()] }), 'rules[1].id'],
    ['a stall entry with an unknown mode', policy({ stall: [{ source: 'sampler', afterSeconds: 30, mode: 'fail_sideways' }] }), 'stall[0].mode'],
    ['a stall entry with no delay', policy({ stall: [{ source: 'sampler', afterSeconds: 0, mode: 'fail_open' }] }), 'stall[0].afterSeconds'],
    ['a stall entry whose id collides with a rule', policy({ stall: [{ id: 'r1', source: 'sampler', afterSeconds: 30, mode: 'fail_open' }] }), 'stall[0].id'],
    ['rules that are not a list', policy({ rules: { id: 'r1' } }), 'rules'],
    ['a policy without a name', policy({ name: undefined }), 'name'],
    ['a misspelt top-level key', policy({ rule: [] }), 'rule'],
    ['a default strike expiry that is not a duration', policy({ defaults: { strikeExpiry: 'forever' } }), 'defaults.strikeExpiry'],
  ];

  it.each(cases.map(([what, input, path]) => ({ what, input, path })))('$what → $path', ({ input, path }) => {
    const r = validatePolicy(JSON.parse(JSON.stringify(input)));
    expect(r.ok).toBe(false);
    expect(pathsOf(r)).toContain(path);
  });

  it('says what was expected, next to the path', () => {
    const r = validatePolicy(withRule({ match: { source: 'violence', minScore: 2 } }));
    expect(errorsOf(r)).toEqual(['rules[0].match.minScore: expected a number between 0 and 1']);
  });

  it('reports every problem at once, not only the first', () => {
    const r = validatePolicy(
      policy({
        rules: [rule({ severity: 'extreme', match: { source: 'violence', minScore: 7 } })],
        stall: [{ source: 'sampler', afterSeconds: -1, mode: 'x' }],
      }),
    );
    expect(pathsOf(r)).toEqual(expect.arrayContaining(['rules[0].severity', 'rules[0].match.minScore', 'stall[0].afterSeconds', 'stall[0].mode']));
  });

  it('a missing field is reported as required', () => {
    expect(errorsOf(validatePolicy(withRule({ severity: undefined })))).toEqual(['rules[0].severity: required']);
  });
});

describe('policy text', () => {
  it('reads YAML with the line of a syntax error', () => {
    const r = loadPolicy('version: 1\nname: p\nrules: [\n');
    expect(pathsOf(r)).toEqual(['(root)']);
    expect(errorsOf(r)[0]).toMatch(/^\(root\): invalid YAML at line 4, column 1: Flow sequence/);
  });

  it('refuses a YAML key given twice rather than keeping the last', () => {
    const r = loadPolicy('version: 1\nname: p\nname: q\nrules: []\n');
    expect(r.ok).toBe(false);
    expect(errorsOf(r)[0]).toMatch(/invalid YAML/);
  });

  it('reads JSON, and reports broken JSON at the root', () => {
    expect(loadPolicy(JSON.stringify(policy())).ok).toBe(true);
    expect(pathsOf(loadPolicy('{"version": 1,'))).toEqual(['(root)']);
  });

  it('YAML paths point into nested lists', () => {
    const yaml = `
version: 1
name: p
rules:
  - id: ok
    description: d
    severity: low
    match: { source: nsfw, minScore: 0.5 }
    actions: { review: {} }
  - id: bad
    description: d
    severity: low
    match: { source: nsfw }
    actions: { review: {} }
    escalation:
      - { priorStrikes: 1, within: 90d, suspend: permanent }
`;
    expect(errorsOf(loadPolicy(yaml))).toEqual(['rules[1].escalation[0].suspend: a suspension removes live rights, so the step (or rule) must also cut']);
  });
});

describe('normalised policy', () => {
  it('durations read as text or seconds', () => {
    expect(parseDurationMs('30d')).toBe(30 * 86_400_000);
    expect(parseDurationMs('12h')).toBe(12 * 3_600_000);
    expect(parseDurationMs('90m')).toBe(90 * 60_000);
    expect(parseDurationMs('45s')).toBe(45_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('2w')).toBe(14 * 86_400_000);
    expect(parseDurationMs(3600)).toBe(3_600_000);
    expect(parseDurationMs('0d')).toBeNull();
    expect(parseDurationMs('30 days')).toBeNull();
    expect(formatDurationMs(30 * 86_400_000)).toBe('30d');
  });

  it('fills defaults: no smoothing means 1 of 1, shadow off, strikes expire after 90 days', () => {
    const p = policyOf(policy());
    expect(p.defaults).toEqual({ strikeExpiry: 90 * 86_400_000, reviewPriority: 'normal' });
    expect(p.rules[0]).toMatchObject({ shadow: false, escalation: [] });
    expect(p.stall).toEqual([]);
    expect(p.version).toBe('1');
  });

  it('single label/category/bank values become lists', () => {
    const p = policyOf(withRule({ match: { source: 'hash_match', category: 'confirmed', bank: 'b', label: 'l' } }));
    expect(p.rules[0]?.match).toEqual({ source: 'hash_match', category: ['confirmed'], bank: ['b'], label: ['l'] });
  });

  it('smoothing is normalised to a window or a sustained duration', () => {
    expect(policyOf(withRule({ smoothing: { k: 3, n: 4 } })).rules[0]?.smoothing).toEqual({ kind: 'window', k: 3, n: 4 });
    expect(policyOf(withRule({ smoothing: { sustainedSeconds: 2.5 } })).rules[0]?.smoothing).toEqual({ kind: 'sustained', sustainedMs: 2500 });
  });

  it('a loaded policy is frozen, so a compiled copy can never go stale', () => {
    const p = policyOf(policy());
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.rules[0]?.match)).toBe(true);
  });
});
