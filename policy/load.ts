import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { PolicySchema, type Policy } from './schema.ts';

/**
 * Policy text (YAML or JSON) → a validated, normalised, deep-frozen Policy, or every problem found, each
 * with the key path it concerns: `rules[2].match.minScore: expected a number between 0 and 1`.
 */

export interface PolicyError {
  /** Key path such as `rules[0].actions.suspend`; `(root)` for the document itself. */
  path: string;
  message: string;
}

export type LoadResult = { ok: true; policy: Policy } | { ok: false; errors: PolicyError[] };

export type PolicyFormat = 'yaml' | 'json';

export function formatPolicyError(e: PolicyError): string {
  return `${e.path}: ${e.message}`;
}

/** Parses policy text. Format: JSON when the text starts with `{`, YAML otherwise, unless given. */
export function loadPolicy(text: string, format?: PolicyFormat): LoadResult {
  const parsed = (format ?? sniffFormat(text)) === 'json' ? parseJson(text) : parseYaml(text);
  if (!parsed.ok) return parsed;
  return validatePolicy(parsed.value);
}

/** Validates an already-parsed value (e.g. from an admin API body). */
export function validatePolicy(value: unknown): LoadResult {
  const result = PolicySchema.safeParse(value, { error: describeIssue });
  if (!result.success) return { ok: false, errors: result.error.issues.flatMap(toPolicyErrors) };
  return { ok: true, policy: deepFreeze(result.data) };
}

function sniffFormat(text: string): PolicyFormat {
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

type Parsed = { ok: true; value: unknown } | { ok: false; errors: PolicyError[] };

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, errors: [{ path: '(root)', message: `invalid JSON: ${(err as Error).message}` }] };
  }
}

function parseYaml(text: string): Parsed {
  // uniqueKeys (the default) turns a repeated key into an error instead of silently keeping the last one.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`;
        const what = (e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '');
        return { path: '(root)', message: `invalid YAML${where}: ${what}` };
      }),
    };
  }
  return { ok: true, value: doc.toJS() as unknown };
}

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** Plain-language messages for zod's generic issues; messages set in the schema take precedence. */
function describeIssue(iss: RawIssue): string | undefined {
  if (iss.code === 'invalid_type') {
    return iss.input === undefined ? 'required' : `expected ${article(iss.expected)}, got ${kindOf(iss.input)}`;
  }
  if (iss.code === 'invalid_value') return `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (iss.code === 'too_small' && iss.origin === 'array') return `expected at least ${String(iss.minimum)} item(s)`;
  if (iss.code === 'too_small' && iss.origin === 'string') return 'cannot be empty';
  return undefined;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function toPolicyErrors(iss: Issue): PolicyError[] {
  if (iss.code === 'unrecognized_keys') {
    return iss.keys.map((k) => ({ path: formatPath([...iss.path, k]), message: 'unknown field (check the spelling; see docs/policy.md)' }));
  }
  // A union's own message (set in the schema) says what was expected; the branches' details add noise.
  return [{ path: formatPath(iss.path), message: iss.message }];
}

/** `['rules', 2, 'match', 'minScore']` → `rules[2].match.minScore`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
