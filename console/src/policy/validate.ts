import { loadPolicy, type PolicyFormat } from '../../../policy/load.ts';
import { locateErrors, type LineError } from './lines.ts';

/**
 * Validates the editor's text in the browser with the gateway's own loader (policy/load.ts: the same YAML
 * parser, zod schema and messages as PUT /api/v1/policy), so errors show as the operator types. The gateway
 * validates again on publish; its answer is shown the same way.
 */
export function formatOf(text: string): PolicyFormat {
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

export function validatePolicyText(text: string): { ok: true; name: string; version: string; rules: number } | { ok: false; errors: LineError[] } {
  const r = loadPolicy(text, formatOf(text));
  if (r.ok) return { ok: true, name: r.policy.name, version: r.policy.version, rules: r.policy.rules.length };
  return { ok: false, errors: locateErrors(text, r.errors) };
}
