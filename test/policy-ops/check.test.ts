import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/gateway.ts';

/** `modgate policy check FILE`: every error with its key path and exit 1, or a summary of the rules and exit 0. */

const dir = mkdtempSync(path.join(tmpdir(), 'modgate-policy-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RULE = `
  - id: r1
    description: a rule
    severity: high
    match: { source: violence, minScore: 0.9 }
    actions: { cut: true }
`;

/** Broken files, each with the key paths its errors must name. */
const BROKEN: Array<{ name: string; text: string; paths: string[] }> = [
  {
    name: 'fields.yaml',
    text: `version: 1
name: bad fields
rules:
  - id: r1
    description: wrong values and a misspelt key
    severity: huge
    match: { source: violence, minScore: 2, minscore: 0.5 }
    smoothing: { k: 5, n: 3 }
    actions: { cut: yes-please }
`,
    paths: ['rules[0].severity', 'rules[0].match.minScore', 'rules[0].match.minscore', 'rules[0].smoothing.k', 'rules[0].actions.cut'],
  },
  {
    name: 'cross-field.yaml',
    text: `version: 1
name: cross-field
rules:
  - id: r1
    description: suspends without cutting, ladder out of order
    severity: high
    match: { source: violence, minScore: 0.9 }
    actions: { suspend: 30d }
    escalation:
      - { priorStrikes: 2, within: 90d, cut: true }
      - { priorStrikes: 1, within: 90d, cut: true }
  - id: r1
    description: duplicate id
    severity: low
    match: { source: nsfw }
    actions: {}
`,
    paths: ['rules[0].actions.suspend', 'rules[0].escalation[1].priorStrikes', 'rules[1].id', 'rules[1].actions'],
  },
  {
    name: 'stall.yaml',
    text: `version: 1
name: stall
rules:${RULE}
stall:
  - { source: sampler, afterSeconds: -5, mode: fail_sideways }
  - { source: Bad-Source, afterSeconds: 10, mode: fail_open }
`,
    paths: ['stall[0].afterSeconds', 'stall[0].mode', 'stall[1].source'],
  },
  {
    name: 'top.json',
    text: JSON.stringify({ version: 1, rules: 'none', extra: true, defaults: { strikeExpiry: 'forever' } }),
    paths: ['name', 'rules', 'extra', 'defaults.strikeExpiry'],
  },
  { name: 'syntax.yaml', text: 'version: 1\nname: [unclosed\nrules: []\n', paths: ['(root)'] },
];

const check = (...args: string[]) => runCli(['policy', 'check', ...args], { timeoutMs: 60_000 });

describe('modgate policy check', { timeout: 120_000 }, () => {
  it('prints every error of each broken file with its key path and exits 1', async () => {
    for (const b of BROKEN) writeFileSync(path.join(dir, b.name), b.text);
    const results = await Promise.all(BROKEN.map((b) => check(path.join(dir, b.name))));
    BROKEN.forEach((b, i) => {
      const r = results[i]!;
      expect(r.code, `${b.name}: ${r.stderr}`).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^modgate: .*${b.name.replace('.', '\\.')}: \\d+ error\\(s\\)$`));
      const printed = lines.slice(1).map((l) => l.trim().split(': ')[0]);
      for (const p of b.paths) expect(printed, `${b.name}\n${r.stderr}`).toContain(p);
      expect(Number(/: (\d+) error/.exec(lines[0]!)![1])).toBe(lines.length - 1);
    });
    expect(results[4]!.stderr).toMatch(/\(root\): invalid YAML at line \d+, column \d+/);
  });

  it('--json gives the errors as data, still exit 1; a missing file is an error too', async () => {
    const [json, missing] = await Promise.all([check(path.join(dir, 'cross-field.yaml'), '--json'), check(path.join(dir, 'nope.yaml'))]);
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout) as { valid: boolean; errors: Array<{ path: string; message: string }> };
    expect(body.valid).toBe(false);
    expect(body.errors).toContainEqual({
      path: 'rules[0].actions.suspend',
      message: 'a suspension removes live rights, so the rule must also cut (cut: true)',
    });
    expect(body.errors).toContainEqual({ path: 'rules[1].id', message: 'duplicate id "r1" (first used at rules[0])' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\(root\): cannot read .*nope\.yaml/);
  });

  it('passes policy/default.yaml (exit 0) with a summary of its rules', async () => {
    const file = path.join(REPO_ROOT, 'policy/default.yaml');
    const [human, json] = await Promise.all([check(file), check(file, '--json')]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('one-strike-live @ 2019-05-one-strike.4: 10 rule(s), 1 stall entry');
    expect(human.stdout).toContain(
      'reports-and-violence-medium [high]: viewer_report and ≥ 3 viewer_report within 30m and ≥ 1 violence, label violence, score ≥ 0.6 within 2m; 1 of 1 frames → cut, review urgent',
    );
    expect(human.stdout).toMatch(/graphic-violence-high \[high\]: violence, label violence, score ≥ 0\.9; 3 of 4 frames → cut, suspend 30d/);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as { valid: boolean; rules: Array<{ id: string }>; stall: Array<{ id: string }> };
    expect(body.valid).toBe(true);
    expect(body.rules.map((r) => r.id)).toEqual([
      'tve-known-content',
      'graphic-violence-high',
      'graphic-violence-medium',
      'nsfw-review',
      'tve-known-content-retro',
      'tve-known-video',
      'reports-and-violence-medium',
      'reports-and-nsfw-medium',
      'viewer-reports-review',
      'copy-known-content',
    ]);
    expect(body.stall.map((s) => s.id)).toEqual(['sampler-stall']);
  });
});
